"""Hybrid engine: an encoder proposes spans, the LLM decides which are entities and
of which type.

The encoder (any :class:`~zeroshot.core.engine.Engine`; the API builds GLiNER)
runs at a low threshold, so it finds most entities' exact boundaries (what the
LLM does badly); the LLM reads the sentence with the list of candidates and
answers, under a grammar whose ``text`` field is an enum of exactly those
candidates, which of them are entities and of which type (what the encoder does
badly on unseen types). So every output span is a proposed span, grounded by
construction, and an answer is short: a few candidates, not a sentence.

* Candidates are the proposer's distinct spans at ``candidate_threshold`` (per
  type thresholds of the schema are ignored; all labels of a span are read and
  its best-scoring one is "the encoder's type"), at most ``max_candidates`` per
  sentence by score (more are dropped and counted: issue
  ``candidates_dropped``), listed to the LLM in text order.
* The LLM answers with candidate strings. A string occurring several times in a
  sentence maps to the proposed span(s) with that string, never to another
  occurrence that was not proposed; if several occurrences were proposed, the
  answer types all of them.
* A sentence (window) with no candidate makes no LLM request: its result is
  empty.
* With ``accept_threshold``, candidates the encoder scores at or above it are
  kept with the encoder's type without asking; the LLM decides only the
  uncertain band below it (a window whose candidates are all accepted makes no
  request). ``usage`` counts them as ``accepted``. Replayed demonstrations still
  show every candidate the proposer finds in them.
* A span's ``score`` is the encoder's confidence in the span (its best label
  score); its label is the LLM's. ``usage`` counts ``candidates``, ``kept`` and
  ``retyped`` (kept with another type than the encoder's).
* Demonstrations (``shots``) are replayed with the candidates the proposer finds
  in them plus their own entities it missed (``demo_gold``); the answer types the
  demonstration's entities and leaves the other candidates out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from zeroshot.core.chunking import TextChunk, chunk_tokenized, document_windows, merge_windows
from zeroshot.core.engine import ENGINE_ERROR, Engine, extract_arguments
from zeroshot.core.schema import Demonstration, OverlapPolicy, Schema
from zeroshot.core.spans import DocumentResult, Issue, Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines.llm.backends import Request
from zeroshot.engines.llm.engine import LLMEngine, add_usage, new_usage
from zeroshot.engines.llm.prompts import PromptCandidate

logger = logging.getLogger(__name__)

CANDIDATES_DROPPED = "candidates_dropped"  # more proposals than max_candidates
NOT_A_CANDIDATE = "not_a_candidate"  # an answer string that was not offered (no grammar)

DEFAULT_CANDIDATE_THRESHOLD = 0.1
DEFAULT_MAX_CANDIDATES = 24


@dataclasses.dataclass(frozen=True)
class Candidate:
    """A proposed span with the encoder's best type for it."""

    start: int
    end: int
    text: str
    label: str
    score: float
    token_start: int | None = None
    token_end: int | None = None

    def shifted(self, chunk: TextChunk) -> Candidate:
        """The candidate in the window's local offsets."""
        ts = te = None
        if self.token_start is not None and self.token_end is not None:
            ts, te = self.token_start - chunk.start_token, self.token_end - chunk.start_token
        return dataclasses.replace(self, start=self.start - chunk.start_char,
                                   end=self.end - chunk.start_char, token_start=ts, token_end=te)

    def inside(self, chunk: TextChunk) -> bool:
        return chunk.start_char <= self.start and self.end <= chunk.end_char

    def span(self, label: str, engine: str) -> Span:
        """The candidate as an output span of type ``label`` (its score: the encoder's)."""
        return Span(self.start, self.end, label, self.text, score=self.score,
                    token_start=self.token_start, token_end=self.token_end, engine=engine)


def proposal_schema(schema: Schema, threshold: float) -> Schema:
    """The schema the proposer runs under: one threshold for every type and every
    label of a span kept (``multi-label``), so no candidate is lost to overlap
    resolution before the LLM sees it."""
    types = tuple(dataclasses.replace(t, threshold=None) for t in schema.entity_types)
    return dataclasses.replace(schema, entity_types=types).with_options(
        threshold=threshold, overlap=OverlapPolicy.MULTI_LABEL)


def candidates_from_spans(spans: Sequence[Span], max_candidates: int
                          ) -> tuple[list[Candidate], int]:
    """Distinct proposed spans (the best-scoring label of each), the
    ``max_candidates`` best in text order, and how many were dropped."""
    best: dict[tuple[int, int], Span] = {}
    for s in spans:
        old = best.get((s.start, s.end))
        if old is None or (s.score or 0.0) > (old.score or 0.0):
            best[(s.start, s.end)] = s
    ranked = sorted(best.values(), key=lambda s: (-(s.score or 0.0), s.start, -s.end))
    kept = sorted(ranked[:max_candidates], key=lambda s: (s.start, -s.end))
    return [Candidate(s.start, s.end, s.text, s.label, float(s.score or 0.0),
                      s.token_start, s.token_end) for s in kept], len(ranked) - len(kept)


class HybridEngine:
    """The encoder proposes, the LLM decides (see the module docstring).

    Args:
        proposer: the engine that proposes spans (GLiNER).
        llm: the LLM engine whose backend, prompts (shots, descriptions, label
            words), token budget and window the hybrid uses.
        candidate_threshold: the proposer's score threshold.
        max_candidates: most candidates offered per sentence.
        hints: show the encoder's type next to each candidate (default on: chosen on
            the dev ablation, eval/results/llm_dev.md: 20.9 -> 65.2 strict F1).
        demo_gold: replayed demonstrations also offer their own entities the
            proposer missed (False: only what it proposes).
        accept_threshold: candidates scored at or above it are kept with the
            encoder's type, unasked (None: the LLM decides every candidate).
    """

    name = "llm-hybrid"

    def __init__(self, proposer: Engine, llm: LLMEngine, *,
                 candidate_threshold: float = DEFAULT_CANDIDATE_THRESHOLD,
                 max_candidates: int = DEFAULT_MAX_CANDIDATES, hints: bool = True,
                 demo_gold: bool = True, accept_threshold: float | None = None) -> None:
        if not 0.0 < candidate_threshold < 1.0:
            raise ValueError("candidate_threshold must be in (0, 1)")
        if accept_threshold is not None and not candidate_threshold < accept_threshold <= 1.0:
            raise ValueError("accept_threshold must be in (candidate_threshold, 1]")
        if max_candidates < 1:
            raise ValueError("max_candidates must be at least 1")
        self.proposer = proposer
        self.llm = llm
        self.candidate_threshold = candidate_threshold
        self.max_candidates = max_candidates
        self.hints = hints
        self.demo_gold = demo_gold
        self.accept_threshold = accept_threshold

    def _accepted(self, c: Candidate) -> bool:
        return self.accept_threshold is not None and c.score >= self.accept_threshold

    def _split(self, local: Sequence[Candidate]) -> tuple[list[Span], list[Candidate]]:
        """The candidates kept unasked (as spans of the encoder's type) and those the
        LLM is asked about."""
        kept: list[Span] = []
        ask: list[Candidate] = []
        for c in local:
            if self._accepted(c):
                kept.append(c.span(c.label, self.name))
            else:
                ask.append(c)
        return kept, ask

    def propose(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema
                ) -> list[tuple[list[Candidate], list[Issue]]]:
        """The candidates of each text, with the proposer's errors and the count
        of dropped candidates as issues."""
        docs = [TokenizedText.coerce(t) for t in texts]
        if not docs:
            return []
        proposed = self.proposer.extract(docs, proposal_schema(schema, self.candidate_threshold))
        out = []
        for doc in proposed:
            candidates, dropped = candidates_from_spans(doc.spans, self.max_candidates)
            issues = [Issue(i.kind, f"proposer: {i.message}") for i in doc.issues
                      if i.kind == ENGINE_ERROR]
            if dropped:
                issues.append(Issue(CANDIDATES_DROPPED, f"{dropped} proposed spans beyond the "
                                    f"{self.max_candidates} best were not offered"))
            out.append((candidates, issues))
        return out

    def _offer(self, candidates: Sequence[Candidate]) -> list[PromptCandidate]:
        """Distinct candidate strings in text order (hint: the first one's type)."""
        seen: dict[str, str | None] = {}
        for c in candidates:
            seen.setdefault(c.text, c.label if self.hints else None)
        return list(seen.items())

    def _demo_offers(self, demos: Sequence[Demonstration], schema: Schema
                     ) -> list[list[PromptCandidate]]:
        """The candidates each replayed demonstration shows: what the proposer finds in
        it and, with ``demo_gold`` (default), the demonstration's own entities it
        missed (shown without a hint), in text order; so the answer, the
        demonstration's entities among its candidates, types every one of them."""
        out = []
        for demo, (cands, _) in zip(demos, self.propose([d.text for d in demos], schema),
                                    strict=True):
            where = {c.text: (c.start, c.label if self.hints else None) for c in cands}
            if self.demo_gold:
                for text, _ in demo.entities:
                    where.setdefault(text, (demo.text.find(text), None))
            out.append([(t, h) for t, (_, h) in sorted(where.items(), key=lambda i: i[1][0])])
        return out

    def _request(self, text: str, local: Sequence[Candidate], schema: Schema,
                 demos: Sequence[Sequence[PromptCandidate]], system: str) -> Request:
        offer = self._offer(local)
        prompts = self.llm.prompts
        messages = prompts.candidate_messages(text, offer, schema, demo_candidates=demos,
                                              system=system)
        js = schema.json_schema(label_key=prompts.label_key, text_enum=[t for t, _ in offer],
                                max_items=len(offer))
        return Request(tuple(messages), js, self.llm.max_tokens)

    def _spans(self, answer: Sequence[Span], local: Sequence[Candidate], where: str
               ) -> tuple[list[Span], list[Issue]]:
        """Answer strings -> the proposed spans they name (every occurrence proposed)."""
        by_text: dict[str, list[Candidate]] = {}
        for c in local:
            by_text.setdefault(c.text, []).append(c)
        spans, issues = [], []
        for s in answer:
            named = by_text.get(s.text)
            if not named:
                issues.append(Issue(NOT_A_CANDIDATE, f"{s.text!r} was not a candidate{where}"))
                continue
            spans.extend(c.span(s.label, self.name) for c in named)
        return spans, issues

    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        texts, schema = extract_arguments(texts, schema, ids)
        docs = [TokenizedText.coerce(t) for t in texts]
        proposals = self.propose(docs, schema)
        shots = schema.demonstrations[:self.llm.prompts.shots]
        demos = self._demo_offers(shots, schema)
        system = self.llm.prompts.system(schema, hybrid=True)
        window, overlap = self.llm.window, self.llm.window_overlap
        work: list[tuple[int, int, list[Candidate], TokenizedText, Request]] = []
        chunks_of: list[list[TextChunk]] = []
        per_chunk: list[list[list[Span]]] = []
        for d, doc in enumerate(docs):
            chunks = document_windows(doc, window, overlap) if proposals[d][0] else []
            chunks_of.append(chunks)
            per_chunk.append([])
            for k, chunk in enumerate(chunks):
                local = [c.shifted(chunk) for c in proposals[d][0] if c.inside(chunk)]
                kept, ask = self._split(local)
                per_chunk[d].append(kept)
                if ask:  # nothing left to decide: no request
                    work.append((d, k, ask, chunk_tokenized(doc, chunk),
                                 self._request(chunk.text, ask, schema, demos, system)))
        generations = self.llm.run_requests([w[4] for w in work])

        issues: list[list[Issue]] = [list(p[1]) for p in proposals]
        usage = [new_usage() for _ in docs]
        for (d, k, ask, tokens, request), gen in zip(work, generations, strict=True):
            add_usage(usage[d], gen)
            where = f" (window {k})" if len(chunks_of[d]) > 1 else ""
            result, engine_issues = self.llm.read_generation(gen, request, tokens, schema,
                                                             where=where, engine=self.name)
            issues[d].extend(engine_issues)
            if result is None:
                continue
            spans, mapped = self._spans(result.spans, ask, where)
            per_chunk[d][k].extend(spans)
            issues[d].extend(result.issues)
            issues[d].extend(mapped)
        return [self._result(doc, chunks_of[d], per_chunk[d], proposals[d][0], issues[d],
                             usage[d], schema, ids[d] if ids else None)
                for d, doc in enumerate(docs)]

    def _result(self, doc: TokenizedText, chunks: list[TextChunk], per_chunk: list[list[Span]],
                candidates: list[Candidate], issues: list[Issue], usage: dict[str, int],
                schema: Schema, doc_id: str | None) -> DocumentResult:
        spans, windowed = merge_windows(doc, chunks, per_chunk, schema.options.overlap,
                                        self.llm.window)
        encoder_type = {(c.start, c.end): c.label for c in candidates}
        usage.update(candidates=len(candidates), kept=len(spans),
                     accepted=sum(1 for c in candidates if self._accepted(c)),
                     retyped=sum(1 for s in spans if encoder_type.get((s.start, s.end))
                                 != s.label))
        return DocumentResult(text=doc.text, spans=tuple(spans), id=doc_id, engine=self.name,
                              issues=tuple(issues + windowed), tokens=tuple(doc.tokens),
                              usage=usage)

    def identity(self) -> dict[str, Any]:
        """What decides this engine's output besides the schema."""
        proposer_identity = getattr(self.proposer, "identity", None)
        return {"engine": self.name,
                "proposer": proposer_identity() if callable(proposer_identity)
                else getattr(self.proposer, "name", repr(self.proposer)),
                "llm": self.llm.identity(), "candidate_threshold": self.candidate_threshold,
                "max_candidates": self.max_candidates, "hints": self.hints,
                "demo_gold": self.demo_gold, "accept_threshold": self.accept_threshold}

    def close(self) -> None:
        self.llm.close()
        close = getattr(self.proposer, "close", None)
        if callable(close):
            close()
