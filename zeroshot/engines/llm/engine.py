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
from zeroshot.core.engine import ENGINE_ERROR, TRUNCATED, extract_arguments
from zeroshot.core.grounding import candidate_spans
from zeroshot.core.schema import Schema
from zeroshot.core.spans import DocumentResult, Issue, Mention, Span
from zeroshot.core.text import TokenizedText
from zeroshot.core.validate import ValidationResult, repair_truncated, validate_output
from zeroshot.engines.llm.backends import Backend, Generation, Request
from zeroshot.engines.llm.prompts import PromptBuilder

logger = logging.getLogger(__name__)

MODES = ("constrained", "grounded", "unconstrained")


def entity_bucket(n_tokens: int) -> int:
    """How many entities one answer may hold for a window of ``n_tokens``: a power
    of two at or above half its tokens (entities are mostly separated by a token),
    at least 4, so a model that starts listing everything stops on the grammar, not
    on the token budget (measured: 7 of 500 Few-NERD sentences ran out at 384
    tokens under the schema's own bound of 64 entities), and few distinct grammars
    are compiled."""
    half = (n_tokens + 1) // 2
    return 1 << max(2, (half - 1).bit_length())


def request_json_schema(schema: Schema, local: TokenizedText, *, label_key: str = "label",
                        grounded: bool = False, grounded_max_width: int = 8
                        ) -> dict[str, Any]:
    """The JSON Schema of the request the engine sends for one window (before the
    backend adds its layout key; ``zeroshot schema --json-schema`` prints it with
    the layout). Grounded: ``text`` is an enum of the window's n-grams (no word in
    the window: an empty enum, and the schema allows only ``[]``)."""
    text_enum = (candidate_spans(local, grounded_max_width,
                                 max_chars=schema.options.max_span_chars)
                 if grounded else None)
    return schema.json_schema(label_key=label_key, text_enum=text_enum,
                              max_items=entity_bucket(len(local)))


def new_usage() -> dict[str, int]:
    return {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}


def add_usage(usage: dict[str, int], gen: Generation) -> None:
    usage["requests"] += 1
    usage["prompt_tokens"] += gen.prompt_tokens or 0
    usage["completion_tokens"] += gen.completion_tokens or 0


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
        if self.mode == "unconstrained":
            return None
        return request_json_schema(schema, local, label_key=self.prompts.label_key,
                                   grounded=self.mode == "grounded",
                                   grounded_max_width=self.grounded_max_width)

    def run_requests(self, requests: Sequence[Request]) -> list[Generation]:
        """One generation per request, ``batch_size`` per backend call; a call that
        raises turns into per-request errors and the other batches go on."""
        generations: list[Generation] = []
        for lo in range(0, len(requests), self.batch_size):
            batch = list(requests[lo:lo + self.batch_size])
            try:
                got = self.backend.generate(batch)
            except Exception as exc:  # keep what earlier batches produced
                logger.error("backend %s failed on a batch: %s", self.backend.name, exc)
                got = [Generation(error=f"{type(exc).__name__}: {exc}") for _ in batch]
            generations.extend(got)
        return generations

    def read_generation(self, gen: Generation, request: Request, local: TokenizedText,
                        schema: Schema, *, where: str = "", engine: str | None = None
                        ) -> tuple[ValidationResult | None, list[Issue]]:
        """Validate and align one answer: its result (None after a backend error)
        and the engine-level issues (error, truncation) that go with it."""
        if gen.error is not None:
            return None, [Issue(ENGINE_ERROR, gen.error + where)]
        issues = []
        text = gen.text
        if gen.finish_reason == "length":
            repaired = repair_truncated(text)
            kept = "; kept the complete entities before the cut" if repaired else ""
            issues.append(Issue(TRUNCATED, f"answer cut at {request.max_tokens} "
                                           f"tokens{where}{kept}", repair=bool(repaired)))
            text = repaired or text
        scores = (entity_confidences(gen.text, gen.token_logprobs)
                  if gen.token_logprobs and self.mode != "unconstrained" else None)
        result = validate_output(
            text, local.text, schema, tokens=local,
            lenient=self.mode == "unconstrained", label_key=self.prompts.label_key,
            json_schema=request.json_schema, engine=engine or self.name, scores=scores)
        return result, issues

    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        texts, schema = extract_arguments(texts, schema, ids)
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

        generations = self.run_requests([w[3] for w in work])
        per_doc: list[list[list[Span]]] = [[] for _ in docs]
        unaligned: list[list[Mention]] = [[] for _ in docs]
        issues: list[list[Issue]] = [[] for _ in docs]
        usage = [new_usage() for _ in docs]
        for (d, chunk, local, request), gen in zip(work, generations, strict=True):
            add_usage(usage[d], gen)
            where = f" (window {chunk.index})" if len(chunks_of[d]) > 1 else ""
            result, engine_issues = self.read_generation(gen, request, local, schema,
                                                         where=where)
            issues[d].extend(engine_issues)
            if result is None:
                per_doc[d].append([])
                continue
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
