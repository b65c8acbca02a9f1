"""The LLM engine: prompt -> (constrained) generation -> validate -> align -> spans.

Modes:

* ``constrained``: the model writes JSON under a grammar built from the schema
  (``Schema.json_schema``): always parseable and schema-valid; strings may still
  be made up, and the aligner says so (status ``unaligned``).
* ``grounded``: as constrained, but ``text`` is an enum of the input's token
  n-grams (:mod:`zeroshot.core.grounding`), so every string aligns exactly.
* ``unconstrained``: the same prompt without a grammar, parsed leniently; what
  the grammar buys is measured against this.

Long texts are cut into windows by :mod:`zeroshot.core.chunking`. Every failure
is an issue on its document (invalid JSON, schema violations, unknown labels,
unaligned strings, truncation, backend errors); a batch never stops for one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from zeroshot.core.chunking import TextChunk, chunk_tokenized, document_windows, merge_windows
from zeroshot.core.confidence import entity_confidences
from zeroshot.core.engine import ENGINE_ERROR, TRUNCATED
from zeroshot.core.grounding import candidate_spans
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Issue, Mention, Span
from zeroshot.core.text import TokenizedText
from zeroshot.core.validate import repair_truncated, validate_output
from zeroshot.engines.llm.backends import Backend, Generation, Request
from zeroshot.engines.llm.prompts import PromptBuilder

logger = logging.getLogger(__name__)

MODES = ("constrained", "grounded", "unconstrained")


class LLMEngine:
    """Extract spans with an instruction model behind any :class:`Backend`.

    Args:
        backend: a :class:`~zeroshot.engines.llm.backends.Backend` (vLLM server,
            vLLM offline, outlines).
        mode: ``constrained`` (default), ``grounded`` or ``unconstrained``.
        prompts: the :class:`PromptBuilder` (zero- or few-shot, descriptions).
        max_tokens: generation budget per window; an answer cut there is
            reported as ``truncated``.
        window: window size in words; longer texts are read in windows.
        window_overlap: words shared by consecutive windows.
        grounded_max_width: longest n-gram (in words) grounded mode offers.
        batch_size: windows per backend call (vLLM batches them; large is fast).
    """

    def __init__(self, backend: Backend, *, mode: str = "constrained",
                 prompts: PromptBuilder | None = None, max_tokens: int = 512,
                 window: int = 200, window_overlap: int = 20, grounded_max_width: int = 8,
                 batch_size: int = 512) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        if window_overlap >= window:
            raise ValueError("window_overlap must be smaller than window")
        self.backend = backend
        self.mode = mode
        self.prompts = prompts or PromptBuilder()
        self.max_tokens = max_tokens
        self.window = window
        self.window_overlap = window_overlap
        self.grounded_max_width = grounded_max_width
        self.batch_size = max(1, batch_size)
        self.name = self.name_for(mode)

    @staticmethod
    def name_for(mode: str) -> str:
        """The engine name results carry for a decoding mode (``llm-grounded``)."""
        return f"llm-{mode}"

    # -- requests ---------------------------------------------------------------
    def _json_schema(self, schema: Schema, local: TokenizedText) -> dict[str, Any] | None:
        """The request's grammar. Bounds follow the window: no more entities than a
        power of two at or above its token count, no string longer than the window;
        so a model that starts listing everything stops on the grammar, not on
        the token budget (measured: 7 of 500 Few-NERD sentences ran out at 384
        tokens under the schema's own bound of 64 entities)."""
        if self.mode == "unconstrained":
            return None
        half = (len(local) + 1) // 2  # entities are mostly separated by a token
        bucket = 1 << max(2, (half - 1).bit_length())  # 4, 8, 16, ... (few grammars)
        text_enum = None
        if self.mode == "grounded":
            # no word in the window: an empty enum, and the schema allows only []
            text_enum = candidate_spans(local, self.grounded_max_width,
                                        max_chars=schema.options.max_span_chars)
        return schema.json_schema(label_key=self.prompts.label_key, text_enum=text_enum,
                                  max_items=bucket)

    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        docs = [TokenizedText.coerce(t) for t in texts]
        system = self.prompts.system(schema)
        # (doc index, chunk, local tokens, request)
        work: list[tuple[int, TextChunk, TokenizedText, Request]] = []
        chunks_of: list[list[TextChunk]] = []
        for d, doc in enumerate(docs):
            chunks = document_windows(doc, self.window, self.window_overlap)
            chunks_of.append(chunks)
            for c in chunks:
                local = chunk_tokenized(doc, c)
                js = self._json_schema(schema, local)
                request = Request(tuple(self.prompts.messages(c.text, schema, system=system)),
                                  js, self.max_tokens)
                work.append((d, c, local, request))

        generations: list[Generation] = []
        for lo in range(0, len(work), self.batch_size):
            batch = [w[3] for w in work[lo:lo + self.batch_size]]
            try:
                got = self.backend.generate(batch)
            except Exception as exc:  # keep what earlier batches produced
                logger.error("backend %s failed on a batch: %s", self.backend.name, exc)
                got = [Generation(error=f"{type(exc).__name__}: {exc}") for _ in batch]
            generations.extend(got)

        per_doc: list[list[list[Span]]] = [[] for _ in docs]
        unaligned: list[list[Mention]] = [[] for _ in docs]
        issues: list[list[Issue]] = [[] for _ in docs]
        usage = [{"requests": 0, "prompt_tokens": 0, "completion_tokens": 0} for _ in docs]
        for (d, chunk, local, request), gen in zip(work, generations, strict=True):
            u = usage[d]
            u["requests"] += 1
            u["prompt_tokens"] += gen.prompt_tokens or 0
            u["completion_tokens"] += gen.completion_tokens or 0
            where = f" (window {chunk.index})" if len(chunks_of[d]) > 1 else ""
            if gen.error is not None:
                issues[d].append(Issue(ENGINE_ERROR, gen.error + where))
                per_doc[d].append([])
                continue
            text = gen.text
            if gen.finish_reason == "length":
                repaired = repair_truncated(text)
                kept = "; kept the complete entities before the cut" if repaired else ""
                issues[d].append(Issue(TRUNCATED, f"answer cut at {request.max_tokens} "
                                                  f"tokens{where}{kept}", repair=bool(repaired)))
                text = repaired or text
            scores = (entity_confidences(gen.text, gen.token_logprobs)
                      if gen.token_logprobs and self.mode != "unconstrained" else None)
            result = validate_output(
                text, local.text, schema, tokens=local,
                lenient=self.mode == "unconstrained", label_key=self.prompts.label_key,
                json_schema=request.json_schema, engine=self.name, scores=scores)
            per_doc[d].append(list(result.spans))
            unaligned[d].extend(result.unaligned)
            issues[d].extend(result.issues)

        results = []
        for d, doc in enumerate(docs):
            spans, windowed = merge_windows(doc, chunks_of[d], per_doc[d], schema.options.overlap,
                                            self.window)
            issues[d].extend(windowed)
            results.append(DocumentResult.from_tokenized(
                doc, spans=tuple(spans), id=ids[d] if ids else None, engine=self.name,
                unaligned=tuple(unaligned[d]), issues=tuple(issues[d]), usage=usage[d]))
        return results

    def identity(self) -> dict[str, Any]:
        """What decides this engine's output besides the schema: backend, model,
        mode, prompt settings, window."""
        return {"engine": self.name, "backend": self.backend.name,
                "model": str(getattr(self.backend, "model", "")),
                "prompts": repr(self.prompts), "window": [self.window, self.window_overlap],
                "max_tokens": self.max_tokens}

    def close(self) -> None:
        self.backend.close()
