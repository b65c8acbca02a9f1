"""GLiNER label-encoding engine.

* Labels come from the schema (``label`` strings); predictions map back to type
  names, per-type thresholds apply to every candidate span first, and then the
  schema's overlap policy (:mod:`zeroshot.core.overlap`), so both engines share
  one policy.
* The project's models (uni-encoder ``markerV0``) run on the project's own
  runtime (:mod:`zeroshot.engines.gliner_runtime`), checked against gliner's
  scores at load; other checkpoints, or a runtime that fails that check, run
  through gliner's own ``inference`` (:mod:`zeroshot.engines.gliner_native`).
  Both see exactly our tokens, so spans fall on token boundaries.
* Windows are counted in subwords, the label prompt included: a text longer than
  the encoder (or the model's ``max_len`` words) is cut into overlapping windows
  (:mod:`zeroshot.core.chunking`) and merged back; nothing is truncated silently,
  and each document reports how many windows it needed. More labels than the
  model was trained with are read in label groups, each its own prompt.
* Models load offline from a local directory. A hub id is tried only when asked,
  and a failure says so plainly.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import numbers
import os
import time
from collections.abc import Sequence
from importlib import resources
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from zeroshot.core.chunking import chunk_tokenized, merge_windows, token_windows, window_chunk
from zeroshot.core.engine import ENGINE_ERROR, LABEL_GROUPS, WORD_CUT, extract_arguments
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.gcpause import collector_paused
from zeroshot.core.schema import DEFAULT_THRESHOLD, Schema, check_threshold
from zeroshot.core.spans import DocumentResult, Issue, Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines import gliner_int8
from zeroshot.engines import gliner_runtime as rt
from zeroshot.engines.gliner_native import NativeScorer
from zeroshot.engines.gliner_spans import resolve_indices

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ENV = "ZEROSHOT_GLINER_MODEL"
# Models shipped in the package (``zeroshot.models``, the repository's models/ folder).
DEFAULT_MODEL = "gliner-mpnet-general"
MODEL_META = "zeroshot_model.json"


class ModelLoadError(ZeroshotError):
    """A GLiNER model could not be loaded; the message says why and what to do."""


def bundled_models() -> dict[str, Path]:
    """The GLiNER models installed with the package, by name."""
    try:
        base = resources.files("zeroshot.models")
    except ModuleNotFoundError:  # a copy of the source tree without the data package
        return {}
    return {p.name: Path(str(p)) for p in base.iterdir()
            if p.is_dir() and p.joinpath("gliner_config.json").is_file()}


def default_model_path() -> Path:
    """``$ZEROSHOT_GLINER_MODEL`` (a directory or a bundled name), else the bundled default."""
    return resolve_model(os.environ.get(DEFAULT_MODEL_ENV) or DEFAULT_MODEL)


def resolve_model(model: str | Path) -> Path:
    """A bundled model's name -> its directory; anything else as a path."""
    bundled = bundled_models()
    if isinstance(model, str) and model in bundled:
        return bundled[model]
    return Path(model)


def model_metadata(model_dir: str | Path | None) -> dict[str, Any]:
    """The model folder's ``zeroshot_model.json`` (its calibrated threshold, scores,
    provenance), or {} when there is none or it is not a folder."""
    if model_dir is None:
        return {}
    path = Path(model_dir) / MODEL_META
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable model metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise ModelLoadError(f"{path}: model metadata must be a JSON object")
    return meta


def default_batch_size(device: str) -> int:
    """The engine's windows per forward pass on ``device`` when none is given: 1024 on
    CUDA; 128 on CPU, where gliner's LSTM (one small step per word) costs a third of
    what it costs per row at 32."""
    return 1024 if str(device).startswith("cuda") else 128


def _check_counts(**counts: int | None) -> None:
    """Each count that is given is a positive integer (None: the default)."""
    for name, value in counts.items():
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, numbers.Integral) or value < 1):
            raise ValueError(f"{name} must be a positive integer, not {value!r}")


def load_gliner(model: str | Path, *, allow_hub: bool = True, map_location: str = "cpu"):
    """Load a GLiNER checkpoint from a directory, or from the hub where allowed."""
    try:
        from gliner import GLiNER
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        raise ModelLoadError(
            "the GLiNER engine needs the 'gliner' extra: pip install torch==2.13.0 "
            "'zeroshot[gliner]'") from exc
    path = resolve_model(model)
    if path.exists():
        if not (path / "gliner_config.json").is_file():
            raise ModelLoadError(f"{path} is not a GLiNER model directory (no gliner_config.json)")
        if gliner_int8.is_int8_dir(path):  # int8 weight-only storage, dequantised here
            return gliner_int8.load_int8_gliner(path, map_location=map_location)
        return GLiNER.from_pretrained(str(path), local_files_only=True, load_tokenizer=True,
                                      map_location=map_location)
    looks_local = str(model).startswith((".", "/", "~")) or str(model).count("/") != 1
    if looks_local or not allow_hub:
        raise ModelLoadError(f"model directory {model} not found" + (
            "" if looks_local else " (hub ids are disabled here)")
            + f"; bundled models: {', '.join(sorted(bundled_models()))}")
    try:
        return GLiNER.from_pretrained(str(model), map_location=map_location)
    except Exception as exc:  # network errors come in many types
        raise ModelLoadError(
            f"could not load {model!r} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Without a network, pass a local model directory.") from None


@dataclasses.dataclass(frozen=True)
class _LabelPlan:
    """How a schema's labels are read: label groups (each one prompt), and per
    class (over all groups, in schema order) its type name and threshold."""

    groups: tuple[tuple[int, tuple[str, ...]], ...]  # (first class, labels)
    names: tuple[str, ...]
    thresholds: tuple[float, ...]
    prompt_subwords: int  # the longest group prompt


class GlinerEngine:
    """Extract spans with a GLiNER model under a schema.

    Args:
        model: a bundled model's name (:func:`bundled_models`), a model directory,
            a loaded ``gliner.GLiNER``, or a hub id (network needed). Default:
            ``$ZEROSHOT_GLINER_MODEL``, else the bundled default model.
        batch_size: windows per forward pass (default 128 on CPU, 1024 on CUDA; the
            runtime also keeps a batch under ``batch_size * 128`` subwords).
        window: window size in words (default: the model's ``max_len``); a window
            also fits the encoder, label prompt included.
        window_overlap: words shared by consecutive windows.
        threads: torch CPU threads (None leaves torch's setting).
        device: ``"cpu"`` or ``"cuda"``.
        fast: score spans with the factored scorer (same scores, less work): the
            project's runtime where the model allows it, else gliner's path with
            :mod:`zeroshot.engines.gliner_fast`. False: gliner's own scorer.
        threshold: the score threshold for types whose schema sets none. Default:
            the threshold the model's dev sets chose (its ``zeroshot_model.json``),
            else 0.5.
        runtime: use the project's runtime where the model allows it (False:
            gliner's own ``inference`` path).
        dtype: the runtime's weights (default float16 on CUDA; on CPU bfloat16 where
            it has native bf16 arithmetic (AVX512-BF16 / AMX), else float32; a model
            passed in as an object keeps its dtype unless this says otherwise).
        encoder: the runtime's encoder: ``"torch"`` (MPNet through fused attention,
            :mod:`zeroshot.engines.gliner_mpnet`), ``"transformers"`` (transformers'
            own forward), or ``"onnx"`` (CPU, through ONNX Runtime; the ``onnx`` extra).
        kernels: ``"auto"``: on CUDA in fp16 / bf16, when ``triton`` imports, the
            runtime's fused kernels (span scorer and the MPNet encoder's residual add +
            LayerNorm in Triton, :mod:`zeroshot.engines.gliner_triton`; its
            feed-forward bias + GELU as cuBLASLt's tanh-GELU epilogue), torch
            elsewhere (and where they fail at start, with a warning); ``"torch"``:
            never (exact GELU); ``"triton"``: always (an error where they cannot run).
        pause_gc: pause Python's cyclic garbage collector during each ``extract``
            call (:mod:`zeroshot.core.gcpause`: full collections took a third of the
            engine's time on a GPU machine); False leaves it running.

    An unknown ``dtype`` / ``encoder`` / ``kernels``, or one that cannot run here
    (``kernels="triton"`` off CUDA, ``encoder="onnx"`` without its extra), raises
    :class:`~zeroshot.engines.gliner_runtime.RuntimeOptionError` (unknown names before
    the model loads). Only a runtime that fails its self-check against gliner's
    scores falls back to gliner's own path, with a warning.

    Windows are batched in order of length, so a batch pads little; results come
    back in input order.
    """

    name = "gliner"

    def __init__(self, model: Any = None, *, batch_size: int | None = None,
                 window: int | None = None, window_overlap: int = 32,
                 threads: int | None = None, device: str = "cpu", allow_hub: bool = True,
                 fast: bool = True, threshold: float | None = None, runtime: bool = True,
                 dtype: str | None = None, encoder: str = "torch", kernels: str = "auto",
                 pause_gc: bool = True):
        import torch

        rt.check_options(dtype=dtype, encoder=encoder, kernels=kernels)
        rt.check_device(device)
        _check_counts(batch_size=batch_size, window=window, threads=threads)
        if window_overlap < 0:
            raise ValueError(f"window_overlap must be at least 0, not {window_overlap}")
        if threads is not None:
            torch.set_num_threads(threads)
        self.source: str | None = None
        owned = model is None or isinstance(model, (str, Path))
        if not owned and dtype is None:  # a caller's model keeps its weights' dtype
            dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        if owned:
            path = resolve_model(model) if model is not None else default_model_path()
            self.source = str(path) if path.exists() else str(model)
            model = load_gliner(path if path.exists() else str(model), allow_hub=allow_hub)
        meta = model_metadata(self.source) if self.source and Path(self.source).is_dir() else {}
        self.default_threshold = check_threshold(
            threshold if threshold is not None else meta.get("threshold", DEFAULT_THRESHOLD))
        cfg = model.config
        self.device = device
        self.batch_size = batch_size or default_batch_size(device)
        max_len = int(getattr(cfg, "max_len", 384))
        self.window = window or max_len
        if self.window > max_len:
            raise ValueError(f"window {self.window} exceeds the model's max_len {max_len}")
        self.window_overlap = min(window_overlap, self.window // 2)
        self.max_types = int(getattr(cfg, "max_types", 0) or 0) or None
        self.max_subwords = rt.encoder_limit(model)
        model.eval()  # a model handed over mid-training is in train mode: dropout would
        # make the self-check's reference scores (and every prediction) random
        self.runtime = (self._start_runtime(model, device, dtype, encoder, kernels)
                        if runtime and fast else None)
        self.native = None if self.runtime else NativeScorer(
            model, device=device, fast=fast, batch_size=self.batch_size)
        self.fast = self.runtime is not None or bool(self.native and self.native.fast)
        self.pieces = (self.runtime.pieces if self.runtime
                       else rt.WordPieces(model.data_processor.transformer_tokenizer))
        self.model = model
        self.bi = rt.is_bi_encoder(model)
        self.pause_gc = pause_gc
        self._plans: dict[tuple[Any, ...], _LabelPlan] = {}
        self._warned: set[tuple[str, ...]] = set()  # label sets already warned about

    def _start_runtime(self, model: Any, device: str, dtype: str | None, encoder: str,
                       kernels: str) -> rt.GlinerRuntime | None:
        """The project's runtime, if it serves this model and matches gliner's scores
        on a check sentence; else None (gliner's own path), said once."""
        reason = rt.unsupported_reason(model)
        if reason:
            logger.info("GLiNER runtime not used for this model (%s): gliner's own path", reason)
            return None
        try:
            reference = rt.gliner_reference(model)
            # kernels=auto on CUDA: a GPU or toolchain the Triton kernels do not build
            # for gets the runtime with its kernels in torch
            fallback = kernels == "auto" and str(device).startswith("cuda")
            for choice in (kernels, "torch") if fallback else (kernels,):
                try:
                    runtime = rt.GlinerRuntime(model, device=device, dtype=dtype,
                                               batch_size=self.batch_size, encoder=encoder,
                                               kernels=choice)
                    diff = rt.self_check(runtime, reference)
                    break
                except rt.RuntimeOptionError:
                    raise
                except Exception as exc:
                    if choice == "torch" or not fallback:
                        raise
                    logger.warning("the GLiNER runtime's fused kernels failed (%s: %s); "
                                   "running them in torch", type(exc).__name__, exc)
        except rt.RuntimeOptionError:
            raise  # asked for and not possible here: an error, not a silent slow path
        except Exception as exc:
            import torch

            logger.warning("the GLiNER runtime failed its self-check against gliner (%s: %s); "
                           "using gliner's own path", type(exc).__name__, exc)
            model.to(dtype=torch.float32)
            return None
        logger.debug("GLiNER runtime on %s (%s): %.2g from gliner's scores on the check "
                     "sentence", device, runtime.dtype, diff)
        return runtime

    def identity(self) -> dict[str, Any]:
        """What decides this engine's output besides the schema: the model (its
        weights' SHA-256 when it is a local directory), the window and the runtime."""
        ident: dict[str, Any] = {"engine": self.name, "model": self.source,
                                 "window": [self.window, self.window_overlap],
                                 "default_threshold": self.default_threshold,
                                 "runtime": self.runtime_name()}
        if self.source and Path(self.source).is_dir():
            import hashlib

            for f in sorted(Path(self.source).glob("*.safetensors")) + sorted(
                    Path(self.source).glob("*.bin")):
                h = hashlib.sha256()
                with f.open("rb") as fh:
                    for block in iter(lambda: fh.read(1 << 22), b""):
                        h.update(block)
                ident[f.name] = h.hexdigest()
        return ident

    def runtime_name(self) -> str:
        """``zeroshot-<dtype>[-<encoder>][-triton]`` on the project's runtime, else
        ``gliner``."""
        if self.runtime is None:
            return "gliner"
        other = "" if self.runtime.encoder == "torch" else f"-{self.runtime.encoder}"
        fused = "-triton" if self.runtime.fused else ""
        return f"zeroshot-{str(self.runtime.dtype).removeprefix('torch.')}{other}{fused}"

    # -- labels ----------------------------------------------------------------------
    def label_plan(self, schema: Schema) -> _LabelPlan:
        """The schema's label groups (cached): one group when the labels fit what the
        model was trained with (``max_types``) and the prompt takes at most half
        the encoder; else as few even groups as keep both, with a warning."""
        labels = tuple(schema.labels())
        thresholds = schema.thresholds(self.default_threshold)
        key = (labels, tuple(sorted(thresholds.items())))
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        name_of = {t.label: t.name for t in schema}
        n = len(labels)
        # a bi-encoder scores each label on its own: any number in one group
        groups_n = math.ceil(n / self.max_types) if self.max_types and not self.bi else 1
        while True:
            size = math.ceil(n / groups_n)
            groups = tuple((i, labels[i:i + size]) for i in range(0, n, size))
            longest = max(self._prompt_subwords(g) for _, g in groups)
            if longest <= self.max_subwords // 2:
                break
            if size == 1:
                raise ValueError(f"a label takes {longest} subwords: more than half the "
                                 f"encoder's {self.max_subwords}")
            groups_n += 1
        if len(groups) > 1 and labels not in self._warned:  # once per label set, not per
            self._warned.add(labels)                          # threshold or call
            logger.warning("schema %r has %d labels; the model was trained with up to %s and its "
                           "encoder holds %d subwords: reading them in %d label groups",
                           schema.name, n, self.max_types, self.max_subwords, len(groups))
        plan = _LabelPlan(groups, tuple(name_of[lab] for lab in labels),
                          tuple(thresholds[name_of[lab]] for lab in labels), longest)
        self._plans[key] = plan
        return plan

    def _prompt_subwords(self, labels: Sequence[str]) -> int:
        if self.bi:  # a bi-encoder's labels are not in the rows
            return 0
        words = [w for lab in labels for w in (self.model.data_processor.ent_token, lab) if w]
        words.append(self.model.data_processor.sep_token)
        return int(self.pieces.counts(words).sum())

    # -- extraction ------------------------------------------------------------------
    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        texts, schema = extract_arguments(texts, schema, ids)
        with collector_paused(self.pause_gc):
            return self._extract(texts, schema, ids)

    def _extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema,
                 ids: Sequence[str] | None) -> list[DocumentResult]:
        profile = self.runtime.profile if self.runtime is not None else None
        t0 = time.perf_counter()
        docs = _Inputs(texts)
        words = docs.words
        plan = self.label_plan(schema)
        t1 = time.perf_counter()
        rows = _Rows.plan(docs, words, self.pieces, self.window, self.window_overlap,
                          self.max_subwords - len(self.pieces.prefix) - len(self.pieces.suffix)
                          - plan.prompt_subwords)
        if profile is not None:
            profile["inputs"] += t1 - t0
            profile["tokenise"] += time.perf_counter() - t1
        out = _Assembler(self.name, docs, rows, plan, schema, self.window, ids, profile)
        for first, labels in plan.groups:
            thresholds = plan.thresholds[first:first + len(labels)]
            if self.runtime is not None:
                batches = self.runtime.stream(rows.wids, rows.start, rows.count,
                                              self.runtime.prompt(labels), thresholds,
                                              max_pieces=rows.budget)
            else:
                got, errs = self.native.run(rows.texts(docs), labels, thresholds)
                batches = iter([(np.arange(len(rows.doc)), got, errs)])
            for done, got, errs in batches:  # one group: documents are built as rows come back
                got.cls += first
                out.add(done, got, errs, final=len(plan.groups) == 1)
        return out.finish()

    def close(self) -> None:
        """Drop the model (the engine is unusable afterwards)."""
        if self.runtime is not None:
            self.runtime.close()
        self.runtime = self.native = None
        self.model = None


class _Inputs(Sequence[TokenizedText]):
    """A call's inputs: their words now, each one's :class:`TokenizedText` when first
    read. Pre-tokenised inputs are checked here (an empty token fails the call
    before any work) but joined into texts only as their results are built, batch
    by batch while the device works on: that is most of a GPU call's serial start
    (~6 µs per sentence)."""

    def __init__(self, texts: Sequence[str | Sequence[str] | TokenizedText]):
        self.docs: list[TokenizedText | None] = []
        self.words: list[tuple[str, ...]] = []
        for t in texts:
            if isinstance(t, (str, TokenizedText)):
                doc = TokenizedText.coerce(t)
                self.docs.append(doc)
                self.words.append(doc.token_tuple())
                continue
            words = tuple(t)
            if not all(words):
                TokenizedText.from_tokens(words)  # raises, naming the empty token
            self.docs.append(None)
            self.words.append(words)
        kinds = set(map(type, chain.from_iterable(self.words)))
        if not kinds <= {str}:
            bad = next(k for k in kinds if k is not str)
            raise TypeError(f"a token is a {bad.__name__}, not a str")

    def __len__(self) -> int:
        return len(self.words)

    def __getitem__(self, d: Any) -> Any:
        if isinstance(d, slice):
            return [self[i] for i in range(*d.indices(len(self)))]
        doc = self.docs[d]
        if doc is None:
            doc = self.docs[d] = TokenizedText.from_tokens(self.words[d], checked=True)
        return doc


@dataclasses.dataclass
class _Rows:
    """The windows of a call: row ``r`` reads words ``wids[start[r]:start[r] + count[r]]``,
    tokens ``[tok0[r], tok0[r] + count[r])`` of document ``doc[r]``; rows are in
    document order. ``cut[d]`` counts document ``d``'s words longer than a window."""

    wids: np.ndarray
    doc: np.ndarray
    tok0: np.ndarray
    start: np.ndarray
    count: np.ndarray
    doc_rows: np.ndarray  # rows of document d: doc_rows[d]:doc_rows[d + 1]
    budget: int
    cut: dict[int, int]

    @classmethod
    def plan(cls, docs: Sequence[TokenizedText], words: Sequence[Sequence[str]],
             pieces: rt.WordPieces, window: int, overlap: int, budget: int) -> _Rows:
        n = np.fromiter(map(len, words), np.int64, count=len(docs))  # words: docs' tokens
        wids = pieces.ids(list(chain.from_iterable(words)))
        costs = pieces.lengths[wids]
        first = np.zeros(len(docs), np.int64)
        np.cumsum(n[:-1], out=first[1:])
        csum = np.concatenate([[0], np.cumsum(costs)])
        sub = csum[first + n] - csum[first]
        single = (n > 0) & (n <= window) & (sub <= budget)
        doc, tok0, count = [np.nonzero(single)[0]], [np.zeros(int(single.sum()), np.int64)], \
            [n[single]]
        cut: dict[int, int] = {}
        for d in np.nonzero((n > 0) & ~single)[0].tolist():
            c = costs[first[d]:first[d] + n[d]]
            ranges = token_windows(int(n[d]), window, overlap, c.tolist(), budget)
            doc.append(np.full(len(ranges), d, np.int64))
            tok0.append(np.array([a for a, _ in ranges], np.int64))
            count.append(np.array([b - a for a, b in ranges], np.int64))
            if (c > budget).any():
                cut[d] = int((c > budget).sum())
        doc_a, tok0_a, count_a = (np.concatenate(x) for x in (doc, tok0, count))
        order = np.lexsort((tok0_a, doc_a))
        doc_a, tok0_a, count_a = doc_a[order], tok0_a[order], count_a[order]
        doc_rows = np.searchsorted(doc_a, np.arange(len(docs) + 1))
        return cls(wids, doc_a, tok0_a, first[doc_a] + tok0_a, count_a, doc_rows, budget, cut)

    def texts(self, docs: Sequence[TokenizedText]) -> list[TokenizedText]:
        """Each row as a text of its own (gliner's path reads texts)."""
        out = []
        for d, a, c in zip(self.doc.tolist(), self.tok0.tolist(), self.count.tolist(),
                           strict=True):
            doc = docs[d]
            out.append(doc if a == 0 and c == len(doc) else
                       chunk_tokenized(doc, window_chunk(doc, 0, a, a + c)))
        return out


class _Assembler:
    """Document results from candidates, as rows come back: a one-window document
    is built as soon as its row is in (while the device works on), the others at
    the end, through the core's window merge."""

    def __init__(self, engine: str, docs: Sequence[TokenizedText], rows: _Rows,
                 plan: _LabelPlan, schema: Schema, window: int, ids: Sequence[str] | None,
                 profile: dict[str, float] | None):
        self.engine, self.docs, self.rows, self.plan = engine, docs, rows, plan
        self.policy, self.window, self.ids, self.profile = schema.options.overlap, window, ids, \
            profile
        self.results: list[DocumentResult | None] = [None] * len(docs)
        self.kept: list[rt.Candidates] = []
        self.errors: dict[int, Exception] = {}
        self.single = np.diff(rows.doc_rows) == 1  # documents read in one row
        self.groups = (Issue(LABEL_GROUPS, f"{len(plan.names)} labels read in "
                                           f"{len(plan.groups)} label groups", repair=True),) \
            if len(plan.groups) > 1 else ()

    def add(self, done: np.ndarray, got: rt.Candidates, errors: dict[int, Exception],
            final: bool) -> None:
        """Candidates and errors of rows ``done``; ``final``: no other label group
        will add to these rows, so one-window documents can be built now."""
        t0 = time.perf_counter()
        self.errors.update(errors)
        if not final:
            self.kept.append(got)
            return
        docs_done = self.rows.doc[done]
        now = self.single[docs_done]
        if (~now).any():
            self.kept.append(got.select(~self.single[self.rows.doc[got.row]]))
        got = got.select(self.single[self.rows.doc[got.row]])
        order = np.argsort(got.row, kind="stable")
        rows_now = done[now]
        start, end = got.start[order].tolist(), got.end[order].tolist()
        cls, score = got.cls[order].tolist(), got.score[order].tolist()
        rows_sorted = np.sort(rows_now)
        bounds = [*np.searchsorted(got.row[order], rows_sorted).tolist(), len(order)]
        for i, (r, d) in enumerate(zip(rows_sorted.tolist(),
                                       self.rows.doc[rows_sorted].tolist(), strict=True)):
            c0, c1 = bounds[i], bounds[i + 1]
            self._one_row(d, r, start[c0:c1], end[c0:c1], cls[c0:c1], score[c0:c1])
        if self.profile is not None:
            self.profile["results"] += time.perf_counter() - t0

    def _spans(self, doc: TokenizedText, start: list[int], end: list[int], cls: list[int],
               score: list[float]) -> tuple[Span, ...]:
        """A one-window document's spans from its candidates (token bounds of ``doc``,
        so valid offsets by construction), after the schema's overlap policy."""
        names, text, engine = self.plan.names, doc.text, self.engine
        if len(start) == 1:  # nothing to resolve
            a, b = doc.starts[start[0]], doc.ends[end[0] - 1]
            return (Span.unchecked(a, b, names[cls[0]], text[a:b], score[0], start[0], end[0],
                                   engine),)
        starts, ends, span = doc.starts, doc.ends, Span.unchecked
        cs = [starts[i] for i in start]
        ce = [ends[i - 1] for i in end]
        labels = [names[c] for c in cls]
        keep = resolve_indices(cs, ce, labels, score, self.policy)
        return tuple(span(cs[i], ce[i], labels[i], text[cs[i]:ce[i]], score[i], start[i],
                          end[i], engine) for i in keep)

    def finish(self) -> list[DocumentResult]:
        """The documents not built yet (several windows, label groups, no rows)."""
        t0 = time.perf_counter()
        found = rt.Candidates.concat(self.kept)
        order = np.argsort(found.row, kind="stable")
        n_rows = len(self.rows.doc)
        bounds = np.searchsorted(found.row[order], np.arange(n_rows + 1)).tolist()
        start, end = found.start[order].tolist(), found.end[order].tolist()
        cls, score = found.cls[order].tolist(), found.score[order].tolist()
        doc_rows = self.rows.doc_rows.tolist()
        for d in range(len(self.docs)):
            if self.results[d] is not None:
                continue
            r0, r1 = doc_rows[d], doc_rows[d + 1]
            if r1 - r0 == 1:
                c0, c1 = bounds[r0], bounds[r1]
                self._one_row(d, r0, start[c0:c1], end[c0:c1], cls[c0:c1], score[c0:c1])
            else:
                per_row = [(start[bounds[r]:bounds[r + 1]], end[bounds[r]:bounds[r + 1]],
                            cls[bounds[r]:bounds[r + 1]], score[bounds[r]:bounds[r + 1]])
                           for r in range(r0, r1)]
                self._windows(d, r0, per_row)
        if self.profile is not None:
            self.profile["results"] += time.perf_counter() - t0
        return [r for r in self.results if r is not None]

    def _one_row(self, d: int, r: int, start: list[int], end: list[int], cls: list[int],
                 score: list[float]) -> None:
        issues: list[Issue] = []
        spans: tuple[Span, ...] = ()
        doc = self.docs[d]
        if r in self.errors:
            exc = self.errors[r]
            issues.append(Issue(ENGINE_ERROR, f"{type(exc).__name__}: {exc}"))
        elif start:
            spans = self._spans(doc, start, end, cls, score)
        self._emit(d, spans, issues, doc)

    def _windows(self, d: int, r0: int, per_row: list[tuple[list, list, list, list]]) -> None:
        doc, names = self.docs[d], self.plan.names
        issues: list[Issue] = []
        chunks, per_window = [], []
        for i, (start, end, cls, score) in enumerate(per_row):
            a = int(self.rows.tok0[r0 + i])
            chunk = window_chunk(doc, i, a, a + int(self.rows.count[r0 + i]))
            chunks.append(chunk)
            if r0 + i in self.errors:
                exc = self.errors[r0 + i]
                issues.append(Issue(ENGINE_ERROR, f"{type(exc).__name__}: {exc}"))
                per_window.append([])
                continue
            base = chunk.start_char
            per_window.append([
                Span(doc.starts[a + s] - base, doc.ends[a + e - 1] - base, names[c], score=p,
                     token_start=s, token_end=e, engine=self.engine)
                for s, e, c, p in zip(start, end, cls, score, strict=True)])
        spans: list[Span] = []
        if chunks:
            spans, windowed = merge_windows(doc, chunks, per_window, self.policy, self.window)
            issues.extend(windowed)
        self._emit(d, spans, issues, doc)

    def _emit(self, d: int, spans: Sequence[Span], issues: list[Issue],
              doc: TokenizedText) -> None:
        if d in self.rows.cut:
            issues.append(Issue(WORD_CUT, f"{self.rows.cut[d]} word(s) longer than a window "
                                          f"({self.rows.budget} subwords): their first "
                                          "subwords read", repair=True))
        if self.groups and self.rows.doc_rows[d + 1] > self.rows.doc_rows[d]:
            issues.extend(self.groups)
        # spans are token bounds of the document (or merged from its windows' token
        # bounds): inside its text by construction
        self.results[d] = DocumentResult.unchecked_tokenized(
            doc, tuple(spans),
            self.ids[d] if self.ids else None, self.engine, tuple(issues))
