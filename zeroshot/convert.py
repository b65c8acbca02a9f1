"""Results in other shapes: plain dicts/JSON, token tags for CoNLL, spaCy ``Doc.ents``."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from zeroshot.core.codecs import Scheme, encode
from zeroshot.core.overlap import resolve_overlaps
from zeroshot.core.schema import OverlapPolicy
from zeroshot.core.spans import DocumentResult
from zeroshot.core.text import TokenizedText

logger = logging.getLogger(__name__)


def to_json(docs: Iterable[DocumentResult]) -> str:
    """JSON Lines, one document result per line."""
    return "".join(json.dumps(d.to_dict(), ensure_ascii=False) + "\n" for d in docs)


def _tokenized(doc: DocumentResult) -> TokenizedText:
    kept = doc.tokenized()
    if kept is not None:
        return kept
    if doc.tokens is not None and " ".join(doc.tokens) == doc.text:
        return TokenizedText.from_tokens(list(doc.tokens))
    tok = TokenizedText.from_text(doc.text)
    if doc.tokens is not None and tuple(tok.tokens) != tuple(doc.tokens):
        logger.warning("document %s: stored tokens do not match the text; retokenised",
                       doc.id)
    return tok


def to_tags(doc: DocumentResult, scheme: Scheme | str = Scheme.BIO
            ) -> list[tuple[str, str]]:
    """``(token, tag)`` pairs for CoNLL export.

    A tag sequence is flat: overlapping spans (nested or multi-label results) are
    reduced to the flat policy first (longer and higher-scoring spans win), and
    the number dropped is logged.
    """
    tok = _tokenized(doc)
    flat = resolve_overlaps(doc.spans, OverlapPolicy.FLAT)
    if len(flat) < len(doc.spans):
        logger.info("document %s: %d overlapping spans left out of the flat tags",
                    doc.id, len(doc.spans) - len(flat))
    token_spans = []
    for s in flat:
        hit = tok.char_span_to_token(s.start, s.end)
        if hit is None:
            logger.warning("document %s: span %r covers no token; left out", doc.id, s.text)
            continue
        token_spans.append((hit[0], hit[1], s.label))
    tags = encode(token_spans, len(tok), scheme)
    return list(zip(tok.tokens, tags, strict=True))


def to_conll(docs: Iterable[DocumentResult], scheme: Scheme | str = Scheme.BIO) -> str:
    """CoNLL text: ``token<TAB>tag`` lines, a blank line after each document."""
    out = []
    for doc in docs:
        out.extend(f"{t}\t{tag}\n" for t, tag in to_tags(doc, scheme))
        out.append("\n")
    return "".join(out)


def to_spacy(doc: DocumentResult, nlp_or_vocab: Any, *, labels: Sequence[str] | None = None):
    """A spaCy ``Doc`` of the text with the spans as ``doc.ents``.

    ``nlp_or_vocab`` is a ``Language`` (its tokenizer is used) or a ``Vocab``
    (the document's own tokens are used). Spans that do not fall on spaCy token
    boundaries are snapped outward (``alignment_mode="expand"``); overlapping
    spans are reduced to flat ones, since ``doc.ents`` cannot overlap.
    """
    try:
        from spacy.tokens import Doc
    except ImportError as exc:
        raise ImportError("to_spacy needs spaCy: pip install 'zeroshot[spacy]'") from exc
    if hasattr(nlp_or_vocab, "make_doc"):
        sdoc = nlp_or_vocab.make_doc(doc.text)
    else:
        tok = _tokenized(doc)
        spaces = [tok.ends[i] < (tok.starts[i + 1] if i + 1 < len(tok) else len(doc.text))
                  for i in range(len(tok))]
        sdoc = Doc(nlp_or_vocab, words=list(tok.tokens), spaces=spaces)
        if sdoc.text != doc.text:  # leading or repeated whitespace: use the vocab's tokenizer
            from spacy.tokenizer import Tokenizer

            sdoc = Tokenizer(nlp_or_vocab)(doc.text)
    ents = []
    for s in resolve_overlaps(doc.spans, OverlapPolicy.FLAT):
        if labels is not None and s.label not in labels:
            continue
        span = sdoc.char_span(s.start, s.end, label=s.label, alignment_mode="expand")
        if span is not None:
            ents.append(span)
    from spacy.util import filter_spans

    sdoc.ents = filter_spans(ents)
    return sdoc
