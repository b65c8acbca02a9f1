"""GLiNER label-encoding engine: a thin adapter over the ``gliner`` package.

* Labels come from the schema (``label`` strings); predictions map back to type
  names, per-type thresholds apply, and the schema's overlap policy is applied by
  the core (:mod:`zeroshot.core.overlap`), so both engines share one policy.
* gliner sees exactly our tokens (a words-splitter that serves our tokenisation),
  so spans always fall on token boundaries, also for pre-tokenised input.
* Long texts are cut into overlapping windows by :mod:`zeroshot.core.chunking`
  and merged back; nothing is truncated silently, and each document reports how
  many windows it needed.
* Models load offline from a local directory. A hub id is tried only when asked,
  and a failure says so plainly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from zeroshot.core.chunking import chunk_tokenized, document_windows, merge_windows
from zeroshot.core.engine import ENGINE_ERROR, run_or_split
from zeroshot.core.errors import ZeroshotError
from zeroshot.core.schema import DEFAULT_THRESHOLD, Schema, check_threshold
from zeroshot.core.spans import DocumentResult, Issue, Span
from zeroshot.core.text import TokenizedText
from zeroshot.engines import gliner_fast, gliner_int8

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ENV = "ZEROSHOT_GLINER_MODEL"
# Models shipped in the package (``zeroshot.models``, the repository's models/ folder).
DEFAULT_MODEL = "gliner-minilm-fewnerd"
MODEL_META = "zeroshot_model.json"


class ModelLoadError(ZeroshotError):
    """A GLiNER model could not be loaded; the message says why and what to do."""


def bundled_models() -> dict[str, Path]:
    """The GLiNER models installed with the package, by name."""
    base = resources.files("zeroshot.models")
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


class _OurWords:
    """gliner words-splitter that yields the tokens we decided on, with offsets."""

    def __init__(self) -> None:
        self.current: dict[str, TokenizedText] = {}

    def __call__(self, text: str):
        tok = self.current.get(text) or TokenizedText.from_text(text)
        for s, e in zip(tok.starts, tok.ends, strict=True):
            yield text[s:e], s, e


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


class GlinerEngine:
    """Extract spans with a GLiNER model under a schema.

    Args:
        model: a bundled model's name (:func:`bundled_models`), a model directory,
            a loaded ``gliner.GLiNER``, or a hub id (network needed). Default:
            ``$ZEROSHOT_GLINER_MODEL``, else the bundled default model.
        batch_size: windows per forward pass.
        window: window size in words (default: the model's ``max_len``).
        window_overlap: words shared by consecutive windows.
        threads: torch CPU threads (None leaves torch's setting).
        device: ``"cpu"`` or ``"cuda"``.
        fast: score spans through :mod:`zeroshot.engines.gliner_fast` (same scores,
            less work) where the model's span mode allows it.
        threshold: the score threshold for types whose schema sets none. Default:
            the threshold the model's dev sets chose (its ``zeroshot_model.json``),
            else 0.5.

    Windows are batched in order of length, so a batch pads little; results come
    back in input order.
    """

    name = "gliner"

    def __init__(self, model: Any = None, *, batch_size: int = 16, window: int | None = None,
                 window_overlap: int = 32, threads: int | None = None, device: str = "cpu",
                 allow_hub: bool = True, fast: bool = True, threshold: float | None = None):
        import torch

        if threads is not None:
            torch.set_num_threads(threads)
        self.source: str | None = None
        if model is None or isinstance(model, (str, Path)):
            path = resolve_model(model) if model is not None else default_model_path()
            self.source = str(path) if path.exists() else str(model)
            model = load_gliner(path if path.exists() else str(model), allow_hub=allow_hub)
        meta = model_metadata(self.source) if self.source and Path(self.source).is_dir() else {}
        self.default_threshold = check_threshold(
            threshold if threshold is not None else meta.get("threshold", DEFAULT_THRESHOLD))
        self.model = model.to(device)
        self.model.eval()
        self.fast = fast and gliner_fast.install(self.model)
        self.batch_size = batch_size
        max_len = int(getattr(self.model.config, "max_len", 384))
        self.window = window or max_len
        if self.window > max_len:
            raise ValueError(f"window {self.window} exceeds the model's max_len {max_len}")
        self.window_overlap = min(window_overlap, self.window // 2)
        self._words = _OurWords()
        self.model.data_processor.words_splitter = self._words

    def identity(self) -> dict[str, Any]:
        """What decides this engine's output besides the schema: the model (its
        weights' SHA-256 when it is a local directory) and the window."""
        ident: dict[str, Any] = {"engine": self.name, "model": self.source,
                                 "window": [self.window, self.window_overlap],
                                 "default_threshold": self.default_threshold}
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

    def extract(self, texts: Sequence[str | Sequence[str] | TokenizedText], schema: Schema, *,
                ids: Sequence[str] | None = None) -> list[DocumentResult]:
        """One result per input; str inputs are tokenised, lists are pre-tokenised."""
        import torch

        docs = [TokenizedText.coerce(t) for t in texts]
        labels = schema.labels()
        thresholds = schema.thresholds(self.default_threshold)
        name_of = {t.label: t.name for t in schema}  # labels are unique per schema
        floor = min(thresholds.values())
        windows: list[tuple[int, Any, TokenizedText]] = []  # (doc index, chunk, local tokens)
        chunks_of: list[list[Any]] = []
        for d, doc in enumerate(docs):
            chunks = document_windows(doc, self.window, self.window_overlap)
            chunks_of.append(chunks)
            windows.extend((d, c, chunk_tokenized(doc, c)) for c in chunks)
        predicted: list[list[dict[str, Any]] | Exception] = [[] for _ in windows]
        by_length = sorted(range(len(windows)), key=lambda i: len(windows[i][2]))
        for lo in range(0, len(by_length), self.batch_size):
            order = by_length[lo:lo + self.batch_size]
            batch = [windows[i] for i in order]
            for out_i, result in zip(order, self._predict(batch, labels, floor, torch),
                                     strict=True):
                predicted[out_i] = result
        per_doc: list[list[list[Span]]] = [[] for _ in docs]
        errors: list[list[Issue]] = [[] for _ in docs]
        for (d, _chunk, local), ents in zip(windows, predicted, strict=True):
            if isinstance(ents, Exception):
                errors[d].append(Issue(ENGINE_ERROR, f"{type(ents).__name__}: {ents}"))
                per_doc[d].append([])
                continue
            spans = []
            for ent in ents:
                name = name_of[ent["label"]]
                if ent["score"] < thresholds[name]:
                    continue
                hit = local.char_span_to_token(ent["start"], ent["end"])
                ts, te = (hit[0], hit[1]) if hit else (None, None)
                spans.append(Span(ent["start"], ent["end"], name,
                                  local.text[ent["start"]:ent["end"]], score=float(ent["score"]),
                                  token_start=ts, token_end=te, engine=self.name))
            per_doc[d].append(spans)
        results = []
        for d, doc in enumerate(docs):
            spans, windowed = merge_windows(doc, chunks_of[d], per_doc[d], schema.options.overlap,
                                            self.window)
            issues = errors[d] + windowed
            results.append(DocumentResult.from_tokenized(
                doc, spans=tuple(spans), id=ids[d] if ids else None, engine=self.name,
                issues=tuple(issues)))
        return results

    def _predict(self, batch, labels, threshold, torch) -> list[Any]:
        """gliner predictions for a batch of windows; a failing batch is retried one
        window at a time so one bad record cannot sink the others."""
        def run(items: Sequence[Any]) -> list[Any]:
            self._words.current = {local.text: local for _, _, local in items}
            texts = [local.text for _, _, local in items]
            try:
                with torch.inference_mode():
                    return self.model.inference(texts, labels, flat_ner=False, multi_label=True,
                                                threshold=threshold, batch_size=len(texts))
            finally:
                self._words.current = {}

        return run_or_split(run, batch, lambda _item, exc: exc, what="GLiNER window")

    def close(self) -> None:
        """Drop the model (the engine is unusable afterwards)."""
        self.model = None
