"""The project's own inference runtime for GLiNER span models (``markerV0``): uni-encoder
(the label prompt in every row) and bi-encoder (labels embedded on their own, once per
label tuple, by the model's labels encoder; rows hold the text alone).

It computes gliner 0.2.29's span scores (the tests and a self-check at load compare
them with gliner's own forward) with less work around the encoder:

* **Words to subwords** through a word-piece table: each distinct word is tokenised
  once, by the fast tokenizer's batch API, and kept. gliner tokenises with
  ``is_split_into_words=True``, where every word is tokenised on its own, so a
  word's pieces do not depend on its neighbours and the table gives the same ids.
  A word the tokenizer turns into nothing (a zero-width space) is read as the
  unknown token; gliner would shift every later word by one there.
* **The label prompt** (``<<ENT>> label <<ENT>> label ... <<SEP>>``) is tokenised
  once per label tuple and copied into every row.
* **Rows** (a window of words under one label prompt) are sorted by subword
  length and cut into batches under a row, token and word budget; a batch
  (input ids, attention mask, first-subword positions, lengths) is built with
  numpy while the device runs the previous batch, pinned on CUDA and copied
  without blocking.
* **On the device**: the encoder (fp16 weights on CUDA; bf16 on a CPU with native bf16,
  :func:`default_dtype`), the first subword of each
  word, the LSTM (over padded, bucketed batches on CUDA,
  :mod:`zeroshot.engines.gliner_lstm`), the factored span scorer of
  :mod:`zeroshot.engines.gliner_fast`,
  per-type thresholds as a tensor (``score >= threshold``; they apply before any
  overlap resolution, which is the schema's and the core's), and the top
  candidates of each row selected there, so one compact array comes back.

The runtime returns candidates (row, start word, end word, class, score); the
engine turns them into spans.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import repeat
from typing import Any

import numpy as np

from zeroshot.core.engine import run_or_split
from zeroshot.core.errors import ZeroshotError
from zeroshot.engines.gliner_fast import is_bi_encoder, span_logits
from zeroshot.engines.gliner_graphs import GraphedEncoder
from zeroshot.engines.gliner_lstm import PaddedBiLSTM
from zeroshot.engines.gliner_lstm import supports as lstm_supported
from zeroshot.engines.gliner_mpnet import fast_encoder

logger = logging.getLogger(__name__)

# candidates per row taken on the device; a row with more is read again in full
TOP_CANDIDATES = 32
DTYPES = ("float32", "float16", "bfloat16")
ENCODERS = ("torch", "transformers", "onnx", "onnx-int8")
KERNELS = ("auto", "torch", "triton")
# what a float32 holds exactly: flat span indices travel back as float32
_FLOAT_EXACT = 1 << 24
# new words are tokenised in groups of this many words, one pre-tokenised text per group
WORD_GROUP = 512
# words whose pieces must not change when grouped (cased, accented, digits, punctuation,
# a zero-width word that gives no piece, a long word)
GROUP_PROBE = ("Hello", "world", ",", "naïve", "CO-OPERATE", "2019", "x", "\u200b", "é", "ß",
               "Zürich", "don't", "—", "antidisestablishmentarianism", "日本", "a")
# the span scorer's hidden layer on CPU at most (rows are scored in slices above it):
# it bounds the process's peak memory, not the speed (measured: eval/results/extract_cpu.md)
CPU_SCORER_BYTES = 64 << 20
# the encoder's feed-forward activations on CPU at most (one [tokens, intermediate] float32
# matrix): a batch's subwords are capped so that it fits
CPU_FFN_BYTES = 32 << 20
# on CUDA the last batch of a call is cut in halves down to this many rows (see _plan)
TAPER_ROWS = 64
_STAGES = ("inputs", "tokenise", "build", "h2d", "encoder", "scoring", "decode", "results")


def unsupported_reason(model: Any) -> str | None:
    """Why the runtime cannot serve ``model`` (a loaded ``gliner.GLiNER``), or None."""
    core = getattr(model, "model", None)
    cfg = getattr(model, "config", None)
    kinds = {("UniEncoderSpanGLiNER", "UniEncoderSpanModel"),
             ("BiEncoderSpanGLiNER", "BiEncoderSpanModel")}
    if (type(model).__name__, type(core).__name__) not in kinds:
        return f"model class {type(model).__name__} (the runtime serves span models)"
    bi = is_bi_encoder(model)
    marker = getattr(getattr(core, "span_rep_layer", None), "span_rep_layer", None)
    if type(marker).__name__ != "SpanMarkerV0":
        return f"span mode {getattr(cfg, 'span_mode', '?')} (the runtime serves markerV0)"
    context = getattr(core.span_rep_layer, "context_encoder", None)
    if context is not None and type(context).__name__ != "IdentityContextEncoder":
        return f"span context encoder {type(context).__name__}"
    checks = {"subtoken_pooling": ("first",), "fuse_layers": (False, None),
              "post_fusion_schema": ("", None), "precomputed_prompts_mode": (False, None)}
    for key, allowed in checks.items():
        if getattr(cfg, key, None) not in allowed:
            return f"config {key}={getattr(cfg, key, None)!r}"
    if bi and not hasattr(core.token_rep_layer, "labels_encoder"):
        return "a bi-encoder without a labels encoder"
    if bi and getattr(model.data_processor, "labels_tokenizer", None) is None:
        return "a bi-encoder without a labels tokenizer"
    if not hasattr(getattr(core.token_rep_layer, "bert_layer", None), "model"):
        return "no transformer encoder at token_rep_layer.bert_layer.model"
    return None


def default_dtype(device: Any, encoder: str = "torch") -> str:
    """The runtime's weights when none is asked for: float16 on CUDA; on a CPU with
    native bf16 arithmetic (AVX512-BF16 or AMX, through oneDNN) bfloat16, else float32
    (and always float32 for the ONNX encoders). On 2 EPYC cores with AVX512-BF16,
    ``zeroshot extract`` ran 2.2x (default model) and 1.6x (MiniLM) faster in bfloat16 at the
    same strict F1 (eval/results/cpu_bf16/extract_cpu.md; chosen on the dev sets there)."""
    import torch

    if torch.device(device).type == "cuda":
        return "float16"
    if encoder.startswith("onnx") or not cpu_has_native_bf16():
        return "float32"
    return "bfloat16"


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matmuls natively (torch's own probes; False
    where this torch has none)."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    probes = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in probes)


class RuntimeOptionError(ZeroshotError, ValueError):
    """A runtime option that is unknown, or that cannot be met here (``kernels="triton"``
    off CUDA, ``encoder="onnx"`` without its extra): raised, never answered by falling
    back to gliner's own path (that fallback is for a failed self-check alone)."""


def check_options(*, dtype: str | None, encoder: str, kernels: str) -> None:
    """Refuse unknown option names before anything loads."""
    for what, value, known in (("dtype", dtype, DTYPES), ("encoder", encoder, ENCODERS),
                               ("kernels", kernels, KERNELS)):
        if value is not None and value not in known:
            raise RuntimeOptionError(f"unknown {what} {value!r}: {', '.join(known)}")


def check_device(device: str) -> None:
    """Refuse a device string torch cannot read, and CUDA where this torch sees no GPU
    (before, both surfaced as a failed self-check and then torch's own error)."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise RuntimeOptionError(f"unknown device {device!r}: use 'cpu', 'cuda' or "
                                 "'cuda:N'") from None
    if dev.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise RuntimeOptionError(f"device {device!r}: this torch ({torch.__version__}) sees "
                                 "no CUDA GPU; use device='cpu'")
    count = torch.cuda.device_count()
    if dev.index is not None and dev.index >= count:
        raise RuntimeOptionError(f"device {device!r}: this machine has {count} CUDA device(s)")


def use_kernels(choice: str, device: Any, dtype: Any) -> bool:
    """Whether the runtime uses the fused Triton kernels (``choice``: ``"auto"``,
    ``"torch"`` or ``"triton"``; see :class:`GlinerRuntime`)."""
    import torch

    if choice not in KERNELS:
        raise RuntimeOptionError(f"unknown kernels {choice!r}: {', '.join(KERNELS)}")
    if choice == "torch":
        return False
    why = None
    if torch.device(device).type != "cuda" or dtype not in (torch.float16, torch.bfloat16):
        why = f"it runs on CUDA in float16 / bfloat16, not {torch.device(device).type} {dtype}"
    else:
        try:
            import zeroshot.engines.gliner_triton  # noqa: F401
        except ImportError as exc:
            why = f"triton does not import ({exc})"
    if why and choice == "triton":
        raise RuntimeOptionError(f"the fused Triton kernels cannot run: {why}")
    if why and torch.device(device).type == "cuda":
        logger.info("fused kernels not used: %s", why)
    return why is None


def encoder_limit(model: Any) -> int:
    """Subwords one encoder row holds (special tokens included): the encoder's
    positions, or the tokenizer's limit where that is smaller (gliner truncates there)."""
    bert = getattr(getattr(model.model.token_rep_layer, "bert_layer", None), "model", None)
    limit = int(getattr(getattr(bert, "config", None), "max_position_embeddings", 512) or 512)
    tok = model.data_processor.transformer_tokenizer
    tok_max = getattr(tok, "model_max_length", None)
    return min(limit, int(tok_max)) if isinstance(tok_max, int) and tok_max > 0 else limit


@dataclasses.dataclass(frozen=True)
class Prompt:
    """A label prompt, tokenised once: its subword ids and where each label's
    marker sits in an encoder row (the row's leading special tokens counted).
    A bi-encoder's rows hold no prompt: both are empty."""

    labels: tuple[str, ...]
    ids: np.ndarray
    class_pos: np.ndarray


@dataclasses.dataclass
class Candidates:
    """Spans that passed their type's threshold: ``row`` indexes the rows given to
    :meth:`GlinerRuntime.run`, ``start``/``end`` are row-local words (end
    exclusive), ``cls`` indexes the prompt's labels."""

    row: np.ndarray
    start: np.ndarray
    end: np.ndarray
    cls: np.ndarray
    score: np.ndarray

    @classmethod
    def empty(cls) -> Candidates:
        z = np.zeros(0, np.int64)
        return cls(z, z, z, z, np.zeros(0, np.float32))

    @classmethod
    def concat(cls, parts: Sequence[Candidates]) -> Candidates:
        if not parts:
            return cls.empty()
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts])
                     for f in dataclasses.fields(cls)))

    def select(self, keep: np.ndarray) -> Candidates:
        return Candidates(*(getattr(self, f.name)[keep] for f in dataclasses.fields(self)))

    def __len__(self) -> int:
        return len(self.row)


class WordPieces:
    """word -> subword ids, each distinct word tokenised once (in batches)."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.unk_id = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
        # the padding id (0 for BERT-style vocabularies, 1 for MPNet/RoBERTa ones, whose
        # position ids are counted from it)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._index: dict[str, int] = {}
        self.flat = np.zeros(0, np.int64)
        self.offsets = np.zeros(1, np.int64)
        self.lengths = np.zeros(0, np.int64)
        self.unknown_words = 0  # words that gave no subword and are read as the unknown token
        self._grouping: bool | None = None  # see _groups_ok
        probe = tokenizer(["a"], is_split_into_words=True)["input_ids"]
        bare = tokenizer(["a"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
        at = next(i for i in range(len(probe)) if probe[i:i + len(bare)] == bare)
        self.prefix = np.asarray(probe[:at], np.int64)   # [CLS]
        self.suffix = np.asarray(probe[at + len(bare):], np.int64)  # [SEP]

    def ids(self, words: Sequence[str]) -> np.ndarray:
        """Table indices of ``words`` (new words are tokenised in one call)."""
        out = np.fromiter(map(self._index.get, words, repeat(-1, len(words))), np.int64,
                          count=len(words))
        missing = out < 0
        if missing.any():
            new = list(dict.fromkeys(w for w, m in zip(words, missing, strict=True) if m))
            self._add(new)
            get = self._index.get
            out[missing] = [get(w) for w, m in zip(words, missing, strict=True) if m]
        return out

    def counts(self, words: Sequence[str]) -> np.ndarray:
        """Subwords of each word (``lengths[ids(words)]``, with the table grown first)."""
        wids = self.ids(words)
        return self.lengths[wids]

    def _add(self, words: list[str]) -> None:
        flat_new, lengths = (self._grouped(words) if self._groups_ok() else
                             self._one_by_one(words))
        empty = lengths == 0  # a word with no subword is read as the unknown token
        if empty.any():
            at = _exclusive_cumsum(lengths)[empty]
            flat_new = np.insert(flat_new, at, self.unk_id)
            lengths = np.where(empty, 1, lengths)
            self.unknown_words += int(empty.sum())
        base = len(self.lengths)
        self._index.update(zip(words, range(base, base + len(words)), strict=True))
        self.flat = np.concatenate([self.flat, flat_new])
        self.lengths = np.concatenate([self.lengths, lengths])
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)])

    def _one_by_one(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each word as a text of its own (slow tokenizers; tokenizers whose pieces of a
        word depend on its neighbours)."""
        pieces = self.tokenizer([[w] for w in words], is_split_into_words=True,
                                add_special_tokens=False)["input_ids"]
        return (np.fromiter((t for p in pieces for t in p), np.int64),
                np.fromiter(map(len, pieces), np.int64, count=len(pieces)))

    def _grouped(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Words in groups of ``WORD_GROUP``, each group one pre-tokenised text: the fast
        tokenizer's per-text overhead is paid per group, not per word (several times
        faster on text the table has not seen); ``word_ids`` splits the pieces again."""
        groups = [words[i:i + WORD_GROUP] for i in range(0, len(words), WORD_GROUP)]
        enc = self.tokenizer(groups, is_split_into_words=True, add_special_tokens=False,
                             truncation=False, verbose=False)
        flats, lengths = [], []
        for g, group in enumerate(groups):
            ids = np.asarray(enc["input_ids"][g], np.int64)
            wid = np.asarray([-1 if w is None else w for w in enc.word_ids(g)], np.int64)
            keep = wid >= 0
            flats.append(ids[keep])
            lengths.append(np.bincount(wid[keep], minlength=len(group)))
        return np.concatenate(flats), np.concatenate(lengths).astype(np.int64)

    def _groups_ok(self) -> bool:
        """Whether grouped tokenisation gives each word the pieces it gets alone (checked
        once on probe words; False for slow tokenizers)."""
        if self._grouping is None:
            self._grouping = bool(getattr(self.tokenizer, "is_fast", False))
            if self._grouping:
                alone = self._one_by_one(list(GROUP_PROBE))
                try:
                    grouped = self._grouped(list(GROUP_PROBE))
                except Exception:  # any failure means: do not group
                    grouped = None
                self._grouping = grouped is not None and all(
                    np.array_equal(a, b) for a, b in zip(alone, grouped, strict=True))
            if not self._grouping:
                logger.debug("word pieces: tokenising word by word (%s)",
                             type(self.tokenizer).__name__)
        return self._grouping


def _exclusive_cumsum(a: np.ndarray) -> np.ndarray:
    out = np.zeros(len(a), np.int64)
    np.cumsum(a[:-1], out=out[1:])
    return out


def _halves(rows: np.ndarray, smallest: int) -> list[np.ndarray]:
    """``rows`` cut into halves, quarters, ... down to ``smallest`` rows: ``[n/2,
    n/4, ..., smallest, smallest]`` (fewer pieces when ``rows`` is short)."""
    pieces = []
    while len(rows) >= 2 * smallest:
        half = len(rows) // 2
        pieces.append(rows[:half])
        rows = rows[half:]
    return [*pieces, rows]


def threshold_floor32(thresholds: Sequence[float]) -> np.ndarray:
    """float32 thresholds t32 with ``p32 >= t32`` exactly when ``float(p32) >= t``."""
    t = np.asarray(thresholds, np.float64)
    t32 = t.astype(np.float32)
    low = t32.astype(np.float64) < t
    t32[low] = np.nextafter(t32[low], np.float32(np.inf))
    return t32


@dataclasses.dataclass
class _Launched:
    """A batch on its way through the device."""

    rows: np.ndarray
    shape: tuple[int, int, int, int]  # B, W, K, C
    k: int
    packed: Any  # [B, 2k + 1] on the host (pinned on CUDA), filled asynchronously
    event: Any
    prob: Any  # device tensors kept for rows with more than k candidates
    margin: Any


class GlinerRuntime:
    """Scores rows of words against label prompts with a loaded gliner model.

    Args:
        model: a ``gliner.GLiNER`` of a supported kind (:func:`unsupported_reason`).
        device: where to run (the model is moved there).
        dtype: weights' dtype; default :func:`default_dtype` (fp16 on CUDA; bf16 on a
            CPU with native bf16, else fp32).
        encoder: ``"torch"`` (an MPNet encoder through the fused attention of
            :mod:`zeroshot.engines.gliner_mpnet`, others as transformers runs them),
            ``"transformers"`` (transformers' own forward, for comparison), or
            ``"onnx"`` / ``"onnx-int8"`` (CPU: the encoder through ONNX Runtime,
            :mod:`zeroshot.engines.gliner_onnx`).
        batch_size: rows per batch at most; a batch also stays under
            ``batch_size * 128`` subwords and ``batch_size * 48`` words, and on CPU
            under ``CPU_FFN_BYTES`` of feed-forward activations (a wide encoder's
            batches hold fewer subwords).
        kernels: ``"auto"``: on CUDA in fp16 / bf16, when ``triton`` imports, the
            fused kernels: the span scorer and the MPNet encoder's residual add +
            LayerNorm in Triton (:mod:`zeroshot.engines.gliner_triton`), and its
            feed-forward bias + GELU as cuBLASLt's epilogue (the tanh approximation of
            GELU; :mod:`zeroshot.engines.gliner_mpnet`); torch elsewhere.
            ``"torch"``: never (exact GELU); ``"triton"``: always (an error where
            they cannot run).
        graphs: on CUDA with ``encoder="torch"``, the encoder's forward replayed from
            CUDA graphs, one per batch shape, recorded the second time a shape is
            seen (:mod:`zeroshot.engines.gliner_graphs`); ``self.graphed``. Off by
            default: on an H200 they cut the host's launching but not the steady pass
            (eval/results/gliner_runtime_h200_graphs.md).
    """

    def __init__(self, model: Any, *, device: str = "cpu", dtype: str | None = None,
                 batch_size: int = 32, top_candidates: int = TOP_CANDIDATES,
                 encoder: str = "torch", kernels: str = "auto", graphs: bool = False):
        import torch

        reason = unsupported_reason(model)
        if reason:
            raise ValueError(f"the GLiNER runtime does not serve this model: {reason}")
        self.torch = torch
        self.device = torch.device(device)
        self.cuda = self.device.type == "cuda"
        name = dtype or default_dtype(self.device, encoder)
        self.dtype = getattr(torch, name)
        self.model = model
        core = model.model
        core.to(device=self.device, dtype=self.dtype)
        core.eval()
        self.core = core
        self.bert = core.token_rep_layer.bert_layer.model
        self.encoder = encoder
        self.fused = use_kernels(kernels, self.device, self.dtype)
        self.encode: Any = self._encoder(encoder)
        self.projection = getattr(core.token_rep_layer, "projection", None)
        self.bi = is_bi_encoder(model)
        # gliner 0.2.29's bi-encoder span model builds an LSTM when configured but never runs it
        self.rnn = None if self.bi else getattr(core, "rnn", None)
        lstm = getattr(self.rnn, "lstm", None)
        self.padded_lstm = (PaddedBiLSTM(lstm) if self.cuda and lstm is not None
                            and lstm_supported(lstm) else None)
        self.marker = core.span_rep_layer.span_rep_layer
        self._read_config(model)
        self.batch_size = max(1, int(batch_size))
        self.max_tokens = self._token_budget()
        self.top = max(1, int(top_candidates))
        self._prompts: dict[tuple[str, ...], Prompt] = {}
        # per label tuple, on the device: a uni-encoder's marker positions (_class_positions),
        # a bi-encoder's label representations (_label_reps)
        self._positions: dict[tuple[str, ...], Any] = {}
        self._label_cache: dict[tuple[str, ...], Any] = {}
        self._stream: Any = None  # see _side_stream
        self.depth = 2 if self.cuda else 1  # batches the device holds (see _pipeline)
        self.interleave, self.taper = False, self.cuda  # batch order (see _plan)
        # opt-in: the encoder's forward replayed from CUDA graphs (see gliner_graphs)
        self.graphed = GraphedEncoder(self.encode, self.pieces.pad_id) \
            if self.cuda and encoder == "torch" and graphs else None
        self.pinned_build = True  # batches built in pinned memory on CUDA (see _host)
        self.profile: dict[str, float] | None = None  # stage -> seconds, when profiling

    def _read_config(self, model: Any) -> None:
        """The model's span width, length limits, marker tokens and word pieces."""
        cfg = model.config
        self.K = int(cfg.max_width)
        self.max_words = int(cfg.max_len)
        self.max_types = int(getattr(cfg, "max_types", 0) or 0) or None
        self.class_token = int(cfg.class_token_index)
        self.ent_shift = 0 if getattr(cfg, "embed_ent_token", True) else 1
        proc = model.data_processor
        self.pieces = WordPieces(proc.transformer_tokenizer)
        self.max_subwords = encoder_limit(model)
        self.ent_token, self.sep_token = proc.ent_token, proc.sep_token

    def _token_budget(self) -> int:
        """Subword tokens of one batch: ``batch_size * 128``; on CPU also no more than
        the encoder's feed-forward activations fit in ``CPU_FFN_BYTES`` (never below one
        full-length text)."""
        budget = self.batch_size * 128
        width = int(getattr(getattr(self.bert, "config", None), "intermediate_size", 0) or 0)
        if not self.cuda and width:
            budget = max(self.max_subwords, min(budget, CPU_FFN_BYTES // (width * 4)))
        return budget

    def _encoder(self, encoder: str) -> Any:
        """The forward that encodes batches: ours (``torch``), transformers' own
        module, or ONNX Runtime's (CPU, float32)."""
        if encoder in ("onnx", "onnx-int8"):
            if self.cuda or self.dtype != self.torch.float32:
                raise RuntimeOptionError("the ONNX encoder runs on CPU in float32")
            from zeroshot.engines.gliner_onnx import OnnxEncoder

            return OnnxEncoder(self.bert, int8=encoder == "onnx-int8")
        if encoder == "torch":
            return fast_encoder(self.bert, fused_norm=self.fused, gelu_tanh=self.fused)
        if encoder == "transformers":
            return self.bert
        raise RuntimeOptionError(f"unknown encoder {encoder!r}: {', '.join(ENCODERS)}")

    # -- prompts and rows ----------------------------------------------------------
    def prompt(self, labels: Sequence[str]) -> Prompt:
        """The label prompt for ``labels``, tokenised once per label tuple."""
        key = tuple(labels)
        hit = self._prompts.get(key)
        if hit is not None:
            return hit
        if self.bi:
            none = np.zeros(0, np.int64)
            prompt = self._prompts[key] = Prompt(key, none, none)
            return prompt
        words: list[str] = []
        for label in key:
            words.append(self.ent_token)
            if label:
                words.append(label)
        words.append(self.sep_token)
        wids = self.pieces.ids(words)
        ids = np.concatenate([self.pieces.flat[self.pieces.offsets[w]:self.pieces.offsets[w + 1]]
                              for w in wids])
        marks = np.nonzero(ids == self.class_token)[0]
        if len(marks) != len(key):
            raise ValueError(f"label prompt has {len(marks)} markers for {len(key)} labels "
                             "(a label contains the marker token?)")
        prompt = Prompt(key, ids, marks + len(self.pieces.prefix) + self.ent_shift)
        self._prompts[key] = prompt
        return prompt

    def text_budget(self, prompt_len: int) -> int:
        """Subwords a row's words may take next to a prompt of ``prompt_len``."""
        return self.max_subwords - len(self.pieces.prefix) - len(self.pieces.suffix) - prompt_len

    def build(self, wids: np.ndarray, starts: np.ndarray, counts: np.ndarray, prompt: Prompt,
              max_pieces: int) -> dict[str, np.ndarray]:
        """Encoder inputs for rows ``wids[starts[r]:starts[r] + counts[r]]`` (numpy).

        A word keeps at most ``max_pieces`` subwords (only a word longer than a
        whole window has more; the engine reports it)."""
        B = len(starts)
        n = counts.astype(np.int64)
        N = int(n.sum())
        row_first_word = _exclusive_cumsum(n)
        word_src = np.repeat(starts - row_first_word, n) + np.arange(N)
        w = wids[word_src]
        plen = np.minimum(self.pieces.lengths[w], max_pieces)
        word_first = _exclusive_cumsum(plen)               # global index of each word's first piece
        sub = np.add.reduceat(plen, row_first_word) if N else np.zeros(B, np.int64)
        pre, suf, P = len(self.pieces.prefix), len(self.pieces.suffix), len(prompt.ids)
        text0 = pre + P
        L = int(text0 + sub.max() + suf)
        ids = self._host((B, L))
        ids.fill(self.pieces.pad_id)
        ids[:, :pre] = self.pieces.prefix
        ids[:, pre:text0] = prompt.ids
        total = int(plen.sum())
        piece_src = np.repeat(self.pieces.offsets[w] - word_first, plen) + np.arange(total)
        row_of_word = np.repeat(np.arange(B), n)
        row_first_piece = word_first[row_first_word]
        piece_col = text0 + np.arange(total) - np.repeat(row_first_piece, sub)
        ids[np.repeat(row_of_word, plen), piece_col] = self.pieces.flat[piece_src]
        end = text0 + sub
        for j in range(suf):
            ids[np.arange(B), end + j] = self.pieces.suffix[j]
        attn = self._host((B, L))
        np.less(np.arange(L)[None, :], (end + suf)[:, None], out=attn, casting="unsafe")
        W = int(n.max())
        word_pos = self._host((B, W))
        word_pos.fill(0)
        word_pos[row_of_word, np.arange(N) - np.repeat(row_first_word, n)] = \
            text0 + word_first - np.repeat(row_first_piece, n)
        return {"input_ids": ids, "attention_mask": attn, "word_pos": word_pos, "lengths": n}

    def _host(self, shape: tuple[int, int]) -> np.ndarray:
        """An uninitialised int64 array for a batch's inputs: on CUDA (``pinned_build``)
        the numpy view of a pinned host tensor, which the copy to the device reads
        directly (no pinned staging copy per array); the caching host allocator keeps
        its block from reuse until that copy is done."""
        if self.cuda and self.pinned_build:
            return self.torch.empty(shape, dtype=self.torch.int64, pin_memory=True).numpy()
        return np.empty(shape, np.int64)

    # -- the device ----------------------------------------------------------------
    def logits(self, batch: dict[str, Any], prompt: Prompt) -> Any:
        """Span logits ``[B, W, K, C]`` (float32) of a built batch on the device."""
        torch = self.torch
        dev = {k: self._to_device(v) for k, v in batch.items()}
        with torch.inference_mode():
            return self._logits(dev, torch.from_numpy(batch["lengths"]), prompt)

    def _logits(self, dev: dict[str, Any], lengths: Any, prompt: Prompt) -> Any:
        torch = self.torch
        with self._stage("encoder"), self._attention():
            h = self.encoder_forward(
                input_ids=dev["input_ids"], attention_mask=dev["attention_mask"],
                return_dict=True).last_hidden_state
        with self._stage("scoring"):
            D = h.size(-1)
            words = torch.gather(h, 1, dev["word_pos"].unsqueeze(-1).expand(-1, -1, D))
            if self.projection is not None:
                words = self.projection(words)
            if self.rnn is not None:
                words = self._lstm(words, lengths, dev["lengths"])
            prompts = self._prompt_reps(prompt, h)
            return span_logits(self.marker, words, prompts, self.K, fused=self.fused,
                               max_hidden_bytes=None if self.cuda else CPU_SCORER_BYTES).float()

    @property
    def encoder_forward(self) -> Any:
        """The encoder as batches run through it: from CUDA graphs when ``graphed``."""
        return self.graphed or self.encode

    def _attention(self) -> contextlib.AbstractContextManager[Any]:
        """On CUDA, the encoder's attention through the memory-efficient or flash
        kernels, not cuDNN's: cuDNN attention builds a plan for every new batch shape,
        which made a process's first pass over new lengths 4x slower on an H200
        (eval/results/gliner_first_pass_h200.md). Scoped to the encoder call."""
        if not self.cuda:
            return contextlib.nullcontext()
        from torch.nn.attention import SDPBackend, sdpa_kernel

        return sdpa_kernel([SDPBackend.EFFICIENT_ATTENTION, SDPBackend.FLASH_ATTENTION,
                            SDPBackend.MATH])

    def _prompt_reps(self, prompt: Prompt, h: Any) -> Any:
        """The labels' representations ``[B, C, D]`` for a batch's hidden states ``h``:
        a uni-encoder's from its rows' marker positions, a bi-encoder's from its labels
        encoder (computed once per label tuple and shared by every row)."""
        if self.bi:
            return self._label_reps(prompt).expand(h.size(0), -1, -1)
        prompts = h.index_select(1, self._class_positions(prompt))
        if self.projection is not None:
            prompts = self.projection(prompts)
        return self.core.prompt_rep_layer(prompts)

    def _label_reps(self, prompt: Prompt) -> Any:
        """A bi-encoder's label representations ``[C, D]`` on the device: each label
        through the labels tokenizer and encoder (mean-pooled, as gliner does), then
        the prompt projection. Cached per label tuple."""
        reps = self._label_cache.get(prompt.labels)
        if reps is None:
            tok = self.model.data_processor.labels_tokenizer
            limit = int(getattr(tok, "model_max_length", 512) or 512)
            enc = tok(list(prompt.labels), padding=True, return_tensors="pt")
            if enc["input_ids"].size(1) > limit:
                longest = prompt.labels[int(enc["attention_mask"].sum(1).argmax())]
                raise ValueError(f"label {longest[:60]!r} takes more than the labels "
                                 f"encoder's {limit} subwords")
            with self.torch.inference_mode():
                emb = self.core.token_rep_layer.encode_labels(
                    enc["input_ids"].to(self.device), enc["attention_mask"].to(self.device))
                reps = self.core.prompt_rep_layer(emb.to(self.dtype))
            self._label_cache[prompt.labels] = reps
        return reps

    def _class_positions(self, prompt: Prompt) -> Any:
        """The prompt's marker positions on the device (copied once: a copy from
        pageable memory would wait for the device)."""
        pos = self._positions.get(prompt.labels)
        if pos is None:
            pos = self._positions[prompt.labels] = self.torch.as_tensor(
                prompt.class_pos, device=self.device)
        return pos

    def _lstm(self, words: Any, lengths: Any, dev_lengths: Any) -> Any:
        """gliner's bidirectional LSTM over the words. On CUDA over padded, bucketed
        batches (:mod:`zeroshot.engines.gliner_lstm`: cuDNN paid a new set-up for
        every packed batch); on CPU packed as gliner does: rows come longest first
        (:meth:`_plan`), so the packing needs no sort and no index copy."""
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

        if self.padded_lstm is not None:
            return self.padded_lstm(words, dev_lengths)

        ordered = bool((lengths[1:] <= lengths[:-1]).all())
        packed = pack_padded_sequence(words, lengths, batch_first=True, enforce_sorted=ordered)
        out, _ = self.rnn.lstm(packed)
        return pad_packed_sequence(out, batch_first=True, total_length=words.size(1))[0]

    def _to_device(self, array: np.ndarray) -> Any:
        t = self.torch.from_numpy(array)
        if self.cuda:
            if not t.is_pinned():
                t = t.pin_memory()
            return t.to(self.device, non_blocking=True)
        return t

    def _launch(self, rows: np.ndarray, batch: dict[str, np.ndarray], prompt: Prompt,
                thresholds: Any) -> _Launched:
        torch = self.torch
        with torch.inference_mode():
            with self._stage("h2d"):
                dev = {k: self._to_device(v) for k, v in batch.items()}
            logits = self._logits(dev, torch.from_numpy(batch["lengths"]), prompt)
            with self._stage("scoring"):
                B, W, K, C = logits.shape
                prob = torch.sigmoid(logits)
                reach = (torch.arange(W, device=prob.device)[:, None]
                         + torch.arange(K, device=prob.device)[None, :])
                valid = reach.unsqueeze(0) < dev["lengths"].view(B, 1, 1)
                margin = (prob - thresholds).masked_fill_(~valid.unsqueeze(-1), float("-inf"))
                margin, prob = margin.view(B, -1), prob.view(B, -1)
                k = min(self.top, margin.size(1))
                _, top_i = torch.topk(margin, k, dim=1)
                count = (margin >= 0).sum(1, keepdim=True)
                packed = torch.cat([prob.gather(1, top_i), top_i.float(), count.float()], 1)
                event = None
                if self.cuda:
                    host = torch.empty(packed.shape, dtype=packed.dtype, pin_memory=True)
                    host.copy_(packed, non_blocking=True)
                    event = torch.cuda.Event()
                    event.record()
                    packed = host
        return _Launched(rows, (B, W, K, C), k, packed, event, prob, margin)

    def _collect(self, launched: _Launched) -> Candidates:
        with self._stage("decode"):
            if launched.event is not None:
                launched.event.synchronize()
            _, _, K, C = launched.shape
            k = launched.k
            packed = launched.packed.numpy()
            count = packed[:, 2 * k].astype(np.int64)
            take = np.arange(k)[None, :] < np.minimum(count, k)[:, None]
            r, j = np.nonzero(take)
            flat = packed[:, k:2 * k][r, j].astype(np.int64)
            score = packed[:, :k][r, j].astype(np.float32)
            over = np.nonzero(count > k)[0]
            if len(over):  # rows with more candidates than came back: read them whole
                rr, ff, probs = self._read_rows(launched, over, count[over])
                keep = ~np.isin(r, over)
                r = np.concatenate([r[keep], rr])
                flat = np.concatenate([flat[keep], ff])
                score = np.concatenate([score[keep], probs])
            start = flat // (K * C)
            width = (flat // C) % K
            return Candidates(launched.rows[r], start, start + width + 1, flat % C, score)

    def _read_rows(self, launched: _Launched, rows: np.ndarray, counts: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """All candidates of ``rows`` of a collected batch (``counts[i]`` of row
        ``rows[i]``, known from its packed copy): ``(row, flat index, probability)``,
        best first per row. On CUDA on a side stream: the main stream already holds
        the next batch, and reading there would wait for all of it (the pipeline
        stalled on about half the batches of an INTER-test pass)."""
        torch = self.torch
        stream = self._side_stream()
        with torch.cuda.stream(stream) if stream is not None else contextlib.nullcontext():
            idx = torch.as_tensor(rows, device=launched.margin.device)
            _, pos = torch.topk(launched.margin.index_select(0, idx), int(counts.max()), dim=1)
            probs = launched.prob.index_select(0, idx).gather(1, pos).float()
            pos_host, probs_host = pos.cpu().numpy(), probs.cpu().numpy()
        take = np.arange(pos_host.shape[1])[None, :] < counts[:, None]
        i, j = np.nonzero(take)
        return rows[i], pos_host[i, j].astype(np.int64), probs_host[i, j]

    def _side_stream(self) -> Any:
        """A second CUDA stream for reading a collected batch again (None off CUDA)."""
        if not self.cuda:
            return None
        if self._stream is None:
            self._stream = self.torch.cuda.Stream(device=self.device)
        return self._stream

    # -- rows in, candidates out ---------------------------------------------------
    def run(self, wids: np.ndarray, starts: np.ndarray, counts: np.ndarray, prompt: Prompt,
            thresholds: Sequence[float], *, max_pieces: int | None = None
            ) -> tuple[Candidates, dict[int, Exception]]:
        """Candidates of every row (``wids[starts[r]:starts[r] + counts[r]]``) under
        ``prompt``, with ``thresholds[c]`` for label ``c``; rows whose batch failed
        are retried one at a time, and those that still fail come back as errors."""
        parts: list[Candidates] = []
        errors: dict[int, Exception] = {}
        for _rows, got, errs in self.stream(wids, starts, counts, prompt, thresholds,
                                            max_pieces=max_pieces):
            parts.append(got)
            errors.update(errs)
        return Candidates.concat(parts), errors

    def stream(self, wids: np.ndarray, starts: np.ndarray, counts: np.ndarray, prompt: Prompt,
               thresholds: Sequence[float], *, max_pieces: int | None = None
               ) -> Iterator[tuple[np.ndarray, Candidates, dict[int, Exception]]]:
        """:meth:`run` batch by batch: ``(rows, their candidates, their errors)`` as
        each batch comes back, while the device works on the next one."""
        torch = self.torch
        if len(starts) == 0:
            return
        max_pieces = max_pieces or self.text_budget(len(prompt.ids))
        thr = torch.as_tensor(threshold_floor32(thresholds), device=self.device)
        plen = np.minimum(self.pieces.lengths[wids], max_pieces)
        csum = np.concatenate([[0], np.cumsum(plen)])
        sub = csum[starts + counts] - csum[starts]
        plan = self._plan(sub + len(prompt.ids), counts)

        def build(rows: np.ndarray) -> dict[str, np.ndarray]:
            with self._stage("build"):
                return self.build(wids, starts[rows], counts[rows], prompt, max_pieces)

        def run_rows(rows: Sequence[int]) -> list[Candidates | Exception]:
            rows = np.asarray(rows, np.int64)
            got = self._collect(self._launch(rows, build(rows), prompt, thr))
            return [got.select(got.row == r) for r in rows]

        for rows, result in self._pipeline(plan, build, prompt, thr):
            if not isinstance(result, Exception):
                yield rows, result, {}
                continue
            logger.warning("a batch of %d GLiNER rows failed (%s: %s); retrying one at a time",
                           len(rows), type(result).__name__, result)
            parts, errors = [], {}
            for r, got in zip(rows, run_or_split(run_rows, list(rows), lambda _r, exc: exc,
                                                 what="GLiNER row"), strict=True):
                if isinstance(got, Exception):
                    errors[int(r)] = got
                else:
                    parts.append(got)
            yield rows, Candidates.concat(parts), errors

    def _plan(self, lengths: np.ndarray, words: np.ndarray) -> list[np.ndarray]:
        """Rows by subword length, cut into batches under the row, token and word
        budgets, and the batches run longest first: the first batch takes the
        largest device and pinned host blocks, which the caching allocators can
        reuse for every later batch (a process's first pass on an H200 was not
        measurably faster for it: eval/results/gliner_runtime_h200_mpnet_longest.md).
        ``interleave``: longest, shortest, second longest, ... instead (a long batch
        keeps the device busy while the host builds a short one's many results).
        ``taper`` (CUDA): the last batch is cut in halves down to ``TAPER_ROWS`` rows,
        so the results the host still builds after the device has finished are
        those of a small batch. Within a batch, rows with more words first (the
        LSTM's packing)."""
        order = np.argsort(lengths, kind="stable")
        cap_rows, cap_tokens, cap_words = self.batch_size, self.max_tokens, \
            self.batch_size * 48
        batches, lo = [], 0
        max_w = 0
        for i, r in enumerate(order):
            max_w = max(max_w, int(words[r]))
            n = i - lo + 1
            if n > 1 and (n > cap_rows or n * int(lengths[r]) > cap_tokens
                          or n * max_w > cap_words):
                batches.append(order[lo:i])
                lo, max_w = i, int(words[r])
        batches.append(order[lo:])
        batches.reverse()  # longest first
        if self.interleave:
            batches = [batches[i // 2] if i % 2 == 0 else batches[-1 - i // 2]
                       for i in range(len(batches))]
        if self.taper:
            batches[-1:] = _halves(batches[-1], TAPER_ROWS)
        return [b[np.argsort(-words[b], kind="stable")] for b in batches]

    def _pipeline(self, plan: list[np.ndarray], build: Callable[[np.ndarray], Any],
                  prompt: Prompt, thr: Any) -> Iterator[tuple[np.ndarray, Any]]:
        """Batches through the device, in one thread: batch N is launched, batch N+1
        is built on the host, then batch N - ``depth``'s candidates are read back and
        handed on (the caller builds its results) while the device still holds
        ``depth`` batches. Two on CUDA: a batch of short rows takes the device less
        time than its 1,024 results take the host, and a second queued batch covers
        that. (A worker thread that built batches beside the launching thread was
        measured twice as slow on an H200: the two threads queue for the GIL.)"""
        def attempt(fn: Callable[..., Any], *args: Any) -> Any:
            try:
                return fn(*args)
            except Exception as exc:
                return exc

        pending: collections.deque[_Launched] = collections.deque()
        batch = attempt(build, plan[0])
        for i, rows in enumerate(plan):
            launched = (batch if isinstance(batch, Exception)
                        else attempt(self._launch, rows, batch, prompt, thr))
            batch = attempt(build, plan[i + 1]) if i + 1 < len(plan) else None
            while len(pending) >= self.depth:
                yield self._collect_safe(pending.popleft())
            if isinstance(launched, Exception):
                while pending:  # keep the order: batches before this one first
                    yield self._collect_safe(pending.popleft())
                yield rows, launched
            else:
                pending.append(launched)
        while pending:
            yield self._collect_safe(pending.popleft())

    def _collect_safe(self, launched: _Launched) -> tuple[np.ndarray, Any]:
        try:
            return launched.rows, self._collect(launched)
        except Exception as exc:
            return launched.rows, exc

    # -- profiling -----------------------------------------------------------------
    @contextlib.contextmanager
    def _stage(self, name: str) -> Iterator[None]:
        """Time a stage when profiling (the device is synchronised around it, so a
        profiled run is slower than a plain one)."""
        if self.profile is None:
            yield
            return
        self._sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self._sync()
            self.profile[name] = self.profile.get(name, 0.0) + time.perf_counter() - t0

    def _sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)

    def start_profile(self) -> None:
        self.profile = dict.fromkeys(_STAGES, 0.0)

    def stop_profile(self) -> dict[str, float]:
        out, self.profile = self.profile or {}, None
        return out

    def close(self) -> None:
        """Drop the CUDA graphs (the runtime holds no threads or processes)."""
        if self.graphed is not None:
            self.graphed.clear()


# -- the self-check: the runtime against gliner's own forward ----------------------
CHECK_WORDS = ("Ada", "Lovelace", "met", "Charles", "Babbage", "in", "London", "in", "1833",
               ".")
CHECK_LABELS = ("person", "city", "date")
# largest |p_runtime - p_gliner| the self-check accepts, by the runtime's weights
CHECK_TOLERANCE = {"float32": 1e-4, "tf32": 1e-2, "float16": 3e-2, "bfloat16": 6e-2,
                   "int8": 0.25}


def gliner_reference(model: Any, words: Sequence[str] = CHECK_WORDS,
                     labels: Sequence[str] = CHECK_LABELS) -> np.ndarray:
    """Span probabilities ``[W, K, C]`` from gliner's own collator and forward."""
    import torch

    core = model.model
    forward = getattr(core, "_zeroshot_original_forward", None) or core.forward
    batch = model.collate_batch([{"tokenized_text": list(words), "ner": None}], list(labels))
    device = next(core.parameters()).device
    batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    with torch.inference_mode():
        out = forward(**batch, threshold=0.5)
    logits = out.logits if hasattr(out, "logits") else out[0]
    return torch.sigmoid(logits[0].float()).cpu().numpy()


def runtime_probabilities(runtime: GlinerRuntime, words: Sequence[str],
                          labels: Sequence[str]) -> np.ndarray:
    """The runtime's span probabilities ``[W, K, C]`` for one row."""
    prompt = runtime.prompt(labels)
    batch = runtime.build(runtime.pieces.ids(list(words)), np.zeros(1, np.int64),
                          np.array([len(words)], np.int64), prompt,
                          runtime.text_budget(len(prompt.ids)))
    return runtime.torch.sigmoid(runtime.logits(batch, prompt))[0].cpu().numpy()


def self_check(runtime: GlinerRuntime, reference: np.ndarray,
               words: Sequence[str] = CHECK_WORDS, labels: Sequence[str] = CHECK_LABELS
               ) -> float:
    """Largest |runtime - gliner| probability over the spans of one sentence;
    raises ValueError above the tolerance of the runtime's weights."""
    ours = runtime_probabilities(runtime, words, labels)
    W, K = len(words), runtime.K
    valid = (np.arange(W)[:, None] + np.arange(K)[None, :]) < W
    if ours.shape != reference.shape:
        raise ValueError(f"runtime scores of shape {ours.shape}, gliner's {reference.shape}")
    diff = float(np.abs(ours - reference)[valid].max())
    tol = CHECK_TOLERANCE.get(_check_precision(runtime), 1e-4)
    if not diff <= tol:
        raise ValueError(f"runtime scores differ from gliner's by {diff:.3g} (> {tol})")
    return diff


def _check_precision(runtime: GlinerRuntime) -> str:
    """The self-check's tolerance class: int8, the weights' dtype, or ``tf32`` for
    float32 on CUDA with TF32 matmuls allowed (the trainer allows them): gliner's
    forward and the runtime's factored scorer then round differently and may differ
    by more than float32's 1e-4. The likely (not confirmed: the log kept only its tail)
    cause of a bi-encoder's dev evaluation falling back to gliner's path at step 3000
    of an H200 run, after passing at step 1500."""
    torch = runtime.torch
    if runtime.encoder.endswith("int8"):
        return "int8"
    if runtime.cuda and runtime.dtype == torch.float32 and \
            torch.get_float32_matmul_precision() != "highest":
        return "tf32"
    return str(runtime.dtype).removeprefix("torch.")
