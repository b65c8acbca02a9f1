"""The Python API: one call for the common case, an object for many calls.

    >>> import zeroshot
    >>> docs = zeroshot.extract("Ada Lovelace was born in London.", ["person", "city"])
    >>> [(s.text, s.label, s.start, s.end) for s in docs[0].spans]

``extract`` builds an engine each time; :class:`Extractor` loads the model once
and is reused. Engines: ``"gliner"`` (the project's model, or ``model=``),
``"llm"`` (a vLLM server with ``server=``, vLLM in this process, or outlines with
``backend="outlines"``), or any object with the engine protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from zeroshot.core.engine import Engine, TextInput
from zeroshot.core.schema import OverlapPolicy, Schema, check_threshold, overlap_policy
from zeroshot.core.spans import DocumentResult
from zeroshot.core.text import TokenizedText

logger = logging.getLogger(__name__)

ENGINES = ("gliner", "llm", "spacy")
LLM_BACKENDS = ("server", "vllm", "outlines")

SchemaInput = Schema | str | Path | Iterable[str] | Mapping[str, Any]


def engine_name(engine: str, options: Mapping[str, Any] | None = None) -> str:
    """The name results carry for an engine given by name and options, without
    building it (``llm`` engines are named after their mode: ``llm-constrained``)."""
    if engine == "llm":
        from zeroshot.engines.llm.engine import LLMEngine

        return LLMEngine.name_for(dict(options or {}).get("mode", "constrained"))
    return engine


def build_engine(engine: str | Engine = "gliner", **options: Any) -> Engine:
    """An engine by name, with its options.

    ``gliner``: ``model`` (dir or hub id), ``batch_size``, ``window``, ``threads``,
    ``device``. ``llm``: ``backend`` (``server`` if ``server=URL`` is given, else
    ``vllm``; or ``outlines``), ``model`` (a prepared model's name such as
    ``qwen2.5-coder-1.5b-instruct``, or a dir; default the prepared Qwen 0.5B),
    ``mode`` (constrained / grounded / unconstrained / hybrid), ``shots``,
    ``describe``, ``max_tokens``, ``window``, ``prompts_dir``; backend options
    such as ``concurrency``, ``timeout``, ``prefix_caching``. ``mode="hybrid"``
    (GLiNER proposes, the LLM types, :mod:`zeroshot.engines.llm.hybrid`) also
    takes ``gliner_model``, ``gliner_threads``, ``candidate_threshold``,
    ``max_candidates``, ``hints``, ``demo_gold`` and ``accept_threshold``. ``spacy`` (fixed-label
    reference): ``model`` (package name or dir; default ``en_core_web_sm``),
    ``label_map``, ``batch_size``.
    """
    if not isinstance(engine, str):
        if options:
            raise TypeError("options apply to engines given by name, not to engine objects")
        return engine
    if engine == "gliner":
        from zeroshot.engines.gliner import GlinerEngine

        return GlinerEngine(options.pop("model", None), **options)
    if engine == "llm":
        return _build_llm(**options)
    if engine == "spacy":
        from zeroshot.engines.spacy_ner import SpacyEngine

        return SpacyEngine(options.pop("model", None), **options)
    raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)} "
                     f"or pass an engine object")


def _build_llm(*, backend: str | None = None, model: str | Path | None = None,
               server: str | None = None, mode: str = "constrained", shots: int = 0,
               describe: bool = True, label_key: str = "label", prompts_dir: str | None = None,
               max_tokens: int = 512, window: int = 200, window_overlap: int = 20,
               batch_size: int = 512, **backend_options: Any) -> Engine:
    from zeroshot.engines.llm import (
        LLMEngine,
        OutlinesBackend,
        PromptBuilder,
        VLLMOfflineBackend,
        VLLMServerBackend,
    )

    hybrid_options = {k: backend_options.pop(k) for k in HYBRID_OPTIONS if k in backend_options}
    if hybrid_options and mode != "hybrid":
        raise TypeError(f"{', '.join(hybrid_options)}: options of mode='hybrid' only")
    backend = backend or ("server" if server else "vllm")
    if backend not in LLM_BACKENDS:
        raise ValueError(f"unknown LLM backend {backend!r}; use one of {', '.join(LLM_BACKENDS)}")
    if backend == "server":
        be: Any = VLLMServerBackend(server or "http://127.0.0.1:8000/v1",
                                    str(model) if model else None, **backend_options)
    elif backend == "vllm":  # model: a prepared model's name, a dir; None: the default one
        be = VLLMOfflineBackend(model, **backend_options)
    else:
        be = OutlinesBackend(model, **backend_options)
    prompts = PromptBuilder(shots=shots, describe=describe, label_key=label_key,
                            template_dir=Path(prompts_dir) if prompts_dir else None)
    llm = LLMEngine(be, mode="constrained" if mode == "hybrid" else mode, prompts=prompts,
                    max_tokens=max_tokens, window=window, window_overlap=window_overlap,
                    batch_size=batch_size)
    return _build_hybrid(llm, **hybrid_options) if mode == "hybrid" else llm


# mode="hybrid": the GLiNER proposer's model and threads, and the hybrid's own options
HYBRID_OPTIONS = ("gliner_model", "gliner_threads", "candidate_threshold", "max_candidates",
                  "hints", "demo_gold", "accept_threshold")


def _build_hybrid(llm: Any, *, gliner_model: str | Path | None = None,
                  gliner_threads: int | None = None, **options: Any) -> Engine:
    from zeroshot.engines.gliner import GlinerEngine
    from zeroshot.engines.llm.hybrid import HybridEngine

    try:
        proposer = GlinerEngine(gliner_model, threads=gliner_threads)
    except Exception:
        llm.close()
        raise
    return HybridEngine(proposer, llm, **options)


class Extractor:
    """Loads an engine once; call :meth:`extract` as often as you like.

    >>> ex = Extractor("gliner", threads=2)
    >>> ex.extract(["Serena Williams won Wimbledon."], ["athlete", "sports event"])
    """

    def __init__(self, engine: str | Engine = "gliner", schema: SchemaInput | None = None,
                 **options: Any) -> None:
        self.schema = Schema.coerce(schema) if schema is not None else None  # before a load
        self.engine = build_engine(engine, **options)

    def extract(self, texts: TextInput | Sequence[TextInput],
                schema: SchemaInput | None = None, *, ids: Sequence[str] | None = None,
                threshold: float | None = None,
                overlap: OverlapPolicy | str | None = None) -> list[DocumentResult]:
        """One :class:`DocumentResult` per text (a single text gives a list of one);
        ``threshold`` and ``overlap`` (``"flat"``, ``"nested"``, ``"multi-label"``)
        override the schema's options for this call."""
        resolved = Schema.coerce(schema) if schema is not None else self.schema
        if resolved is None:
            raise ValueError("no schema: pass one here or to Extractor(...)")
        if threshold is not None:
            resolved = resolved.with_options(threshold=check_threshold(threshold))
        if overlap is not None:
            resolved = resolved.with_options(overlap=overlap)
        batch = _as_batch(texts)
        if ids is not None:
            ids = [str(i) for i in ids]
            if len(ids) != len(batch):
                raise ValueError(f"{len(ids)} ids for {len(batch)} texts")
        return self.engine.extract(batch, resolved, ids=ids)

    def close(self) -> None:
        self.engine.close()

    def __enter__(self) -> Extractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _as_batch(texts: TextInput | Sequence[TextInput]) -> list[TextInput]:
    """One string or TokenizedText is one document; a list is many (a list of
    token lists is many pre-tokenised sentences). Anything else is a TypeError
    naming the item and its type (bytes: decode them first)."""
    if isinstance(texts, (str, TokenizedText)):
        return [texts]
    if texts is None or isinstance(texts, (bytes, bytearray, int, float)):
        raise TypeError(_not_text("texts", texts))
    try:
        batch = list(texts)
    except TypeError:
        raise TypeError(_not_text("texts", texts)) from None
    for i, item in enumerate(batch):
        if isinstance(item, (str, TokenizedText)):
            continue
        if item is None or isinstance(item, (bytes, bytearray, int, float, Mapping)) or \
                not isinstance(item, Sequence):
            raise TypeError(_not_text(f"texts[{i}]", item))
        try:  # all tokens strings (str.join checks that in C); else name the first one
            "".join(item)
        except TypeError:
            for j, tok in enumerate(item):
                if not isinstance(tok, str):
                    raise TypeError(f"texts[{i}][{j}] is {type(tok).__name__}, not a token "
                                    f"string") from None
            raise
    return batch


def _not_text(where: str, value: object) -> str:
    kind = type(value).__name__
    hint = "; decode it first, e.g. data.decode('utf-8')" if isinstance(
        value, (bytes, bytearray)) else ""
    return (f"{where} is {'None' if value is None else kind}, not a text (a string, a list "
            f"of token strings, or a TokenizedText){hint}")


def extract(texts: TextInput | Sequence[TextInput], schema: SchemaInput,
            engine: str | Engine = "gliner", *, threshold: float | None = None,
            overlap: OverlapPolicy | str | None = None, **options: Any) -> list[DocumentResult]:
    """Extract typed spans from one text or many under ``schema``.

    Args:
        texts: a string, a list of strings, or pre-tokenised sentences (lists of
            tokens) / :class:`TokenizedText`.
        schema: a :class:`Schema`, a schema file or bundled name, a list of labels,
            or ``{label: description}``.
        engine: ``"gliner"``, ``"llm"`` or an engine object.
        threshold: score threshold for the encoder (overrides the schema's).
        overlap: ``"flat"``, ``"nested"`` or ``"multi-label"`` (overrides the schema's).
        options: engine options (see :func:`build_engine`).

    Returns one :class:`DocumentResult` per text, with spans (char and token
    offsets, label, score or alignment status) and any issues.

    Each call loads the engine's model; to extract from many texts over several calls,
    load it once with :class:`Extractor`.
    """
    # bad input fails before a model loads
    resolved = Schema.coerce(schema)
    batch = _as_batch(texts)
    if threshold is not None:
        threshold = check_threshold(threshold)
    if overlap is not None:
        overlap = overlap_policy(overlap)
    with Extractor(engine, **options) as ex:
        return ex.extract(batch, resolved, threshold=threshold, overlap=overlap)
