"""Three ways to run one instruction model, behind one small interface.

* :class:`VLLMServerBackend`: any OpenAI-compatible server, vLLM (the production
  path) or another, ``response_format: json_schema`` (strict), concurrent
  requests, timeouts, retries with backoff, a deadline per request.
* :class:`VLLMOfflineBackend`: ``vllm.LLM`` in this process, one batched call.
* :class:`OutlinesBackend`: ``outlines`` over ``transformers`` for users without
  vLLM, on the CPU or a GPU, requests of one JSON Schema generated in batches.

Each takes :class:`Request` objects (chat messages, an optional JSON Schema,
a token budget) and returns one :class:`Generation` per request, in order. A
request that fails comes back with ``error`` set; a backend raises only when it
cannot work at all (no server, no model), with a message that says so.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, cast, runtime_checkable

from zeroshot.core.errors import ZeroshotError

logger = logging.getLogger(__name__)

STRUCTURED_BACKEND = "guidance"

# How constrained JSON is laid out: the separators of ``json.dumps`` and no other
# whitespace. Models write ``{"entities": [`` with spaces; a grammar that forbids
# them (vLLM's ``disable_any_whitespace``) leaves ``[]`` as the likeliest
# continuation and an instruction model answers "no entities" to everything
# (measured: Qwen 0.5B, 40 of 40 Few-NERD sentences). A grammar that allows any
# whitespace lets a weak model fill its budget with it. llguidance reads this
# from the schema's ``x-guidance`` key.
GUIDANCE_LAYOUT = {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": False}


def with_layout(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Schema with the layout llguidance should enforce."""
    return {**schema, "x-guidance": GUIDANCE_LAYOUT}


class BackendError(ZeroshotError):
    """A backend cannot run at all: missing package, model or server."""


@dataclasses.dataclass(frozen=True)
class Request:
    """One chat to complete; ``json_schema`` None means unconstrained."""

    messages: tuple[Mapping[str, str], ...]
    json_schema: Mapping[str, Any] | None
    max_tokens: int


@dataclasses.dataclass(frozen=True)
class Generation:
    """What came back for one request."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    # (token text, log-probability) of each generated token, where the backend was
    # asked for them (``VLLMOfflineBackend(logprobs=True)``); under a grammar vLLM
    # gives the log-probability after the grammar's mask
    token_logprobs: tuple[tuple[str, float], ...] | None = None


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str

    def generate(self, requests: Sequence[Request]) -> list[Generation]: ...

    def close(self) -> None: ...


def _model_dir(model: str | Path | None) -> str:
    """A local model directory (a prepared model's name resolves to its directory)
    or, where there is a network, a hub id."""
    from zeroshot.engines.llm.model_prep import ModelPrepError, resolve_model

    try:
        model = resolve_model(model)
    except ModelPrepError as exc:
        raise BackendError(str(exc)) from None
    path = Path(model).expanduser()
    if path.is_dir():
        return str(path)
    if path.exists() or str(model).startswith((".", "/", "~")):
        raise BackendError(f"model directory {path} not found; prepare one with "
                           f"`zeroshot prepare-model` or pass a local HF model directory")
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        raise BackendError(f"{model!r} is not a local directory and HF_HUB_OFFLINE=1: a hub id "
                           f"needs a network; prepare a local model with `zeroshot prepare-model`")
    return str(model)  # a hub id: the library downloads it where there is a network


# --------------------------------------------------------------------------- vLLM offline
RESERVED_CPU_ENV = "VLLM_CPU_NUM_OF_RESERVED_CPU"


def reserve_vllm_cpus(n: int) -> None:
    """Tell vLLM's CPU build how many cores to keep for its front end (default:
    one per worker); ``0`` gives every core to the model (on 2 cores about 2x
    faster, ``eval/results/llm_inter_test.md``).

    vLLM reads this only from the environment (``VLLM_CPU_NUM_OF_RESERVED_CPU``,
    no engine argument in vllm 0.32), when an engine starts: call it once, at the
    entry point, before building a :class:`VLLMOfflineBackend`. The CLI's
    ``--llm-all-cores`` does; a constructor never writes the environment.
    """
    if n < 0:
        raise ValueError("reserved cores must be >= 0")
    os.environ[RESERVED_CPU_ENV] = str(n)


def cpu_dtype(dtype: str) -> str:
    """``auto`` on a CPU without AVX-512 BF16 is ``float32``: there vLLM's bfloat16
    matmul falls back to a slow path (measured on a 2-core AVX2 EPYC, Qwen 0.5B,
    3-shot: 0.04 sentences/s in bfloat16, 0.20 in float32, the same answers).
    Any other dtype, and ``auto`` elsewhere, is left to vLLM."""
    if dtype != "auto":
        return dtype
    try:
        import torch
        from vllm.platforms import current_platform
    except ImportError:
        return dtype
    if current_platform.is_cpu() and not torch.cpu._is_avx512_bf16_supported():
        logger.info("this CPU has no AVX-512 BF16: vLLM runs the model in float32")
        return "float32"
    return dtype


class VLLMOfflineBackend:
    """``vllm.LLM`` in this process; all requests of a call go in one batch.

    vLLM starts worker processes: scripts that use it need an
    ``if __name__ == "__main__":`` guard. Everything is an engine argument, no
    environment variable is written: ``kv_cache_gib`` is vLLM's
    ``kv_cache_memory_bytes`` (vLLM's legacy ``VLLM_CPU_KVCACHE_SPACE``, when set,
    still wins), ``prefix_caching`` its ``enable_prefix_caching`` (the shared
    system prompt and demonstrations are computed once per batch, not once per
    request); ``dtype="auto"`` is float32 on CPUs without AVX-512 BF16
    (:func:`cpu_dtype`). The cores vLLM's CPU worker uses are set before start-up with
    :func:`reserve_vllm_cpus`. vLLM's weight-loading progress bar is off unless
    ``use_tqdm_on_load=True`` is passed.
    """

    name = "vllm-offline"

    def __init__(self, model: str | Path | None, *, max_model_len: int = 4096, seed: int = 0,
                 dtype: str = "auto", kv_cache_gib: float = 2,
                 structured_backend: str = STRUCTURED_BACKEND, prefix_caching: bool = True,
                 logprobs: bool = False,
                 **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(f"the vLLM backend needs vllm (pip install 'zeroshot[llm]'): "
                               f"{exc}") from exc
        if "reserved_cpus" in llm_kwargs:
            raise TypeError("reserved_cpus is not a backend option: call "
                            "zeroshot.engines.llm.backends.reserve_vllm_cpus(n) before "
                            "building the backend (vLLM reads it from the environment)")
        self.model = _model_dir(model)
        self.logprobs = logprobs  # each Generation carries its tokens' log-probabilities
        self.prefix_caching = prefix_caching
        self.dtype = cpu_dtype(dtype)
        llm_kwargs.setdefault("use_tqdm_on_load", False)  # no weight-loading bar by default
        self._llm = vllm.LLM(
            model=self.model, max_model_len=max_model_len, seed=seed, dtype=self.dtype,
            kv_cache_memory_bytes=int(kv_cache_gib * 2**30),
            enable_prefix_caching=prefix_caching,
            structured_outputs_config={"backend": structured_backend,
                                       "disable_any_whitespace": True,
                                       "disable_additional_properties": True},
            **llm_kwargs,
        )

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        if not requests:
            return []
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = [
            SamplingParams(
                temperature=0.0, max_tokens=r.max_tokens,
                logprobs=0 if self.logprobs else None,  # 0: the sampled token's only
                structured_outputs=(StructuredOutputsParams(json=with_layout(r.json_schema))
                                    if r.json_schema is not None else None),
            )
            for r in requests
        ]
        try:
            outputs = self._llm.chat([list(r.messages) for r in requests],
                                     sampling_params=params, use_tqdm=False)
        except Exception as exc:  # one bad request must not lose the batch
            if len(requests) == 1:
                logger.warning("vLLM request failed: %s", exc)
                return [Generation(error=f"{type(exc).__name__}: {exc}")]
            logger.warning("vLLM batch failed (%s); retrying requests one at a time", exc)
            return [g for r in requests for g in self.generate([r])]
        out = []
        for o in outputs:
            c = o.outputs[0]
            out.append(Generation(text=c.text, prompt_tokens=len(o.prompt_token_ids or ()),
                                  completion_tokens=len(c.token_ids),
                                  finish_reason=c.finish_reason,
                                  token_logprobs=_sampled_logprobs(c) if self.logprobs else None))
        return out

    def close(self) -> None:
        llm = getattr(self, "_llm", None)
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(
                getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
            self._llm = None


def _sampled_logprobs(completion: Any) -> tuple[tuple[str, float], ...] | None:
    """(token text, log-probability) of each sampled token of a vLLM completion."""
    if completion.logprobs is None:
        return None
    out = []
    for token_id, position in zip(completion.token_ids, completion.logprobs, strict=True):
        lp = position[token_id]
        out.append((lp.decoded_token or "", float(lp.logprob)))
    return tuple(out)


# --------------------------------------------------------------------------- vLLM server
class VLLMServerBackend:
    """An OpenAI-compatible server at ``base_url`` (vLLM, or any other).

    Requests run ``concurrency`` at a time so the server can batch them. Each
    attempt may take ``timeout`` seconds; a timeout, a dropped connection, a
    408/409/429/5xx answer or a 200 answer that is not a completion (a body that
    is not JSON, no choices) is tried again up to ``max_retries`` times, with
    exponential backoff (0.5, 1, 2, ... s, at most 8; a 429's ``Retry-After`` is
    honoured up to 30 s), all within ``deadline`` seconds per request when one
    is set. Other 4xx answers are not retried. What still fails comes back as a
    per-request error: that document fails, the others keep their answers.

    At start the model list is read once, with ``check_timeout`` (no retries:
    the stated timeout is the longest the check takes). It names the served model
    and tells the server's kind (``server_kind="auto"``): a vLLM server (models
    ``owned_by: vllm``) gets its guidance layout (``x-guidance``) in the JSON
    Schema; any other server gets the standard ``response_format: json_schema``
    and nothing vLLM-only. ``server_kind`` ``"vllm"`` or ``"openai"`` says it.
    The API key is ``api_key``, else ``$OPENAI_API_KEY``.
    """

    name = "vllm-server"
    RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
    SERVER_KINDS = ("auto", "vllm", "openai")

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str | None = None, *,
                 api_key: str | None = None, concurrency: int = 64, timeout: float = 120.0,
                 max_retries: int = 3, deadline: float | None = None, check: bool = True,
                 check_timeout: float = 30.0, server_kind: str = "auto") -> None:
        try:
            import openai
        except ImportError as exc:
            raise BackendError("the server backend needs the openai client "
                               "(pip install 'zeroshot[llm]')") from exc
        if server_kind not in self.SERVER_KINDS:
            raise ValueError(f"server_kind must be one of {self.SERVER_KINDS}, not "
                             f"{server_kind!r}")
        for what, value in (("timeout", timeout), ("check_timeout", check_timeout),
                            ("deadline", deadline)):
            if value is not None and not value > 0:
                raise ValueError(f"{what} must be a positive number of seconds, not {value!r}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, not {max_retries!r}")
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.deadline = deadline
        self._client = openai.OpenAI(base_url=self.base_url,
                                     api_key=api_key or os.environ.get("OPENAI_API_KEY", "EMPTY"),
                                     timeout=timeout, max_retries=0)
        self.model = model or ""
        self.server_kind = "openai" if server_kind == "auto" else server_kind
        if check or not model:
            self.model = self._check(model, check_timeout, detect=server_kind == "auto")

    def _check(self, model: str | None, timeout: float, *, detect: bool) -> str:
        import openai

        try:
            served = list(self._client.with_options(timeout=timeout, max_retries=0
                                                    ).models.list())
        except openai.APITimeoutError:
            raise BackendError(f"the LLM server at {self.base_url} did not list its models "
                               f"within {timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"no LLM server answers at {self.base_url} ({exc}); start one "
                               f"with `zeroshot serve MODEL_DIR` or pass --server URL") from None
        except openai.APIStatusError as exc:
            raise BackendError(f"the server at {self.base_url} failed to list models: "
                               f"{exc.status_code} {_clip(exc.message)}") from None
        except Exception as exc:  # a body that is not a model list
            raise BackendError(f"the server at {self.base_url} did not answer with a model "
                               f"list ({type(exc).__name__}: {_clip(str(exc))})") from None
        if detect:
            self.server_kind = ("vllm" if served and all(
                getattr(m, "owned_by", None) == "vllm" for m in served) else "openai")
        ids = [m.id for m in served]
        if model is None:
            if not ids:
                raise BackendError(f"the server at {self.base_url} serves no model")
            return ids[0]
        if model not in ids:
            raise BackendError(f"the server at {self.base_url} serves {ids}, not {model!r}")
        return model

    def request_kwargs(self, request: Request) -> dict[str, Any]:
        """The chat-completion arguments for ``request`` on this kind of server."""
        kwargs: dict[str, Any] = {"model": self.model, "messages": list(request.messages),
                                  "temperature": 0.0, "max_tokens": request.max_tokens}
        if request.json_schema is not None:
            schema = (with_layout(request.json_schema) if self.server_kind == "vllm"
                      else dict(request.json_schema))
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "entities", "schema": schema, "strict": True},
            }
        return kwargs

    def _attempt(self, kwargs: dict[str, Any], timeout: float) -> Generation:
        """One try; raises :class:`_Retry` for what may succeed on another."""
        import openai

        try:
            resp = self._client.with_options(timeout=timeout).chat.completions.create(**kwargs)
        except openai.APITimeoutError:
            raise _Retry(f"timed out after {timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise _Retry(f"connection failed ({_clip(str(exc))})") from None
        except openai.APIStatusError as exc:
            why = f"server answered {exc.status_code}: {_clip(exc.message)}"
            if exc.status_code in self.RETRY_STATUS:
                raise _Retry(why, _retry_after(exc)) from None
            return Generation(error=why)
        except (ValueError, TypeError) as exc:  # a 200 whose body is not JSON
            raise _Retry(f"the answer is not a completion ({type(exc).__name__}: "
                         f"{_clip(str(exc))})") from None
        choices = getattr(resp, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            raise _Retry("the answer is not a completion (no choices)")
        choice = choices[0]
        usage = getattr(resp, "usage", None)
        return Generation(text=choice.message.content or "",
                          prompt_tokens=usage.prompt_tokens if usage else None,
                          completion_tokens=usage.completion_tokens if usage else None,
                          finish_reason=choice.finish_reason)

    def _one(self, request: Request) -> Generation:
        kwargs = self.request_kwargs(request)
        start = time.monotonic()
        end = start + self.deadline if self.deadline else float("inf")
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._attempt(kwargs, min(self.timeout, max(0.001, end -
                                                                   time.monotonic())))
            except _Retry as retry:
                why, wait = retry.args[0], retry.wait
            except Exception as exc:  # never let one request sink the batch
                return Generation(error=f"{type(exc).__name__}: {_clip(str(exc))} "
                                        f"({self.base_url})")
            pause = wait if wait is not None else min(8.0, 0.5 * 2 ** (attempt - 1))
            out_of_time = time.monotonic() + pause >= end
            if attempt > self.max_retries or out_of_time:
                spent = time.monotonic() - start
                when = (f" within the {self.deadline:g} s deadline" if out_of_time and
                        attempt <= self.max_retries else "")
                logger.debug("request failed after %d attempts: %s", attempt, why)
                return Generation(error=f"{why}; gave up after {attempt} attempt"
                                        f"{'s' if attempt > 1 else ''} in {spent:.1f} s{when} "
                                        f"({self.base_url})")
            time.sleep(pause)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        if len(requests) <= 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self._client.close()


class _Retry(Exception):
    """An attempt that failed in a way another attempt may not."""

    def __init__(self, why: str, wait: float | None = None) -> None:
        super().__init__(why)
        self.wait = wait


def _retry_after(exc: Any) -> float | None:
    """A 429/503's ``Retry-After`` in seconds (at most 30), when it gives one."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    try:
        return min(30.0, max(0.0, float(headers.get("retry-after", ""))))
    except ValueError:
        return None


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# --------------------------------------------------------------------------- outlines
def _torch_device(torch: Any, device: str) -> str:
    """``cpu``, ``cuda`` (``cuda:N``) or ``auto`` (cuda when there is one), checked."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"device {device!r}: this machine has no CUDA GPU (torch "
                           f"{torch.__version__}); use device='cpu'")
    if device != "cpu" and not device.startswith("cuda"):
        raise BackendError(f"device {device!r}: use 'cpu', 'cuda', 'cuda:N' or 'auto'")
    return device


class OutlinesBackend:
    """``outlines`` over a ``transformers`` model, on the CPU or a GPU (``device``).

    One logits processor is built per distinct JSON Schema and reused. Requests that
    share a JSON Schema and a token budget are generated together, ``batch`` at a time
    (left-padded, greedy); the default 1 generates one at a time. A batch that fails
    is retried one request at a time, so one bad request costs only its own answer.
    """

    name = "outlines"

    def __init__(self, model: str | Path | None, *, structured_backend: str = "outlines_core",
                 dtype: str = "auto", threads: int | None = None, device: str = "cpu",
                 batch: int = 1) -> None:
        if not isinstance(batch, int) or batch < 1:
            raise ValueError(f"batch must be a whole number >= 1, not {batch!r}")
        try:
            import outlines
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendError(f"the outlines backend needs outlines and transformers "
                               f"(pip install 'zeroshot[llm]'): {exc}") from exc
        self.model = _model_dir(model)
        self.device = _torch_device(torch, device)
        self.batch = batch
        if threads:
            torch.set_num_threads(threads)
        self._tokenizer = AutoTokenizer.from_pretrained(self.model)
        if self._tokenizer.pad_token is None:  # a batch pads its shorter prompts
            self._tokenizer.pad_token = self._tokenizer.eos_token
        hf_model = AutoModelForCausalLM.from_pretrained(self.model, dtype=dtype)
        hf_model.to(self.device).eval()
        self._outlines = outlines
        self._torch = torch
        self._model = outlines.from_transformers(hf_model, self._tokenizer)
        self._structured_backend = structured_backend
        self._generators: dict[str, Any] = {}

    def _generator(self, schema: Mapping[str, Any] | None):
        key = json.dumps(schema, sort_keys=True) if schema is not None else ""
        gen = self._generators.get(key)
        if gen is None:
            # at most one space between tokens (see GUIDANCE_LAYOUT)
            output_type = (self._outlines.types.JsonSchema(dict(schema),
                                                           whitespace_pattern="[ ]?")
                           if schema is not None else None)
            gen = self._outlines.Generator(self._model, output_type,
                                           backend=self._structured_backend)
            if len(self._generators) > 256:
                self._generators.clear()
            self._generators[key] = gen
        return gen

    def _prompt(self, request: Request) -> str:
        return self._tokenizer.apply_chat_template(list(request.messages), tokenize=False,
                                                   add_generation_prompt=True)

    def _generation(self, request: Request, prompt: str, text: str) -> Generation:
        n_prompt = len(self._tokenizer(prompt)["input_ids"])
        n_out = len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        reason = "length" if n_out >= request.max_tokens else "stop"
        return Generation(text=text, prompt_tokens=n_prompt, completion_tokens=n_out,
                          finish_reason=reason)

    def _one(self, request: Request) -> Generation:
        prompt = self._prompt(request)
        try:
            with self._torch.inference_mode():
                text = self._generator(request.json_schema)(
                    prompt, max_new_tokens=request.max_tokens, do_sample=False)
        except Exception as exc:
            logger.warning("outlines request failed: %s", exc)
            return Generation(error=f"{type(exc).__name__}: {exc}")
        return self._generation(request, prompt, text)

    def _together(self, requests: Sequence[Request]) -> list[Generation]:
        """Requests of one JSON Schema and one token budget, in one generate call."""
        if len(requests) == 1:
            return [self._one(requests[0])]
        prompts = [self._prompt(r) for r in requests]
        try:
            with self._torch.inference_mode():
                texts = self._generator(requests[0].json_schema).batch(
                    prompts, max_new_tokens=requests[0].max_tokens, do_sample=False)
        except Exception as exc:
            logger.warning("outlines batch of %d failed (%s): generating them one at a time",
                           len(requests), exc)
            return [self._one(r) for r in requests]
        return [self._generation(r, p, t) for r, p, t in zip(requests, prompts, texts,
                                                              strict=True)]

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        out: list[Generation | None] = [None] * len(requests)
        groups: dict[tuple[str, int], list[int]] = {}
        for i, r in enumerate(requests):
            key = json.dumps(r.json_schema, sort_keys=True) if r.json_schema is not None else ""
            groups.setdefault((key, r.max_tokens), []).append(i)
        for idx in groups.values():
            for k in range(0, len(idx), self.batch):
                chunk = idx[k:k + self.batch]
                for i, gen in zip(chunk, self._together([requests[i] for i in chunk]),
                                  strict=True):
                    out[i] = gen
        return cast("list[Generation]", out)  # every index is in one chunk of one group

    def close(self) -> None:
        self._generators.clear()
