"""Three ways to run one instruction model, behind one small interface.

* :class:`VLLMServerBackend`: any OpenAI-compatible vLLM server (the production
  path), ``response_format: json_schema`` (strict), concurrent requests,
  timeouts, retries with backoff.
* :class:`VLLMOfflineBackend`: ``vllm.LLM`` in this process, one batched call.
* :class:`OutlinesBackend`: ``outlines`` over ``transformers`` for users without
  vLLM.

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
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

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


def _model_dir(model: str | Path) -> str:
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
class VLLMOfflineBackend:
    """``vllm.LLM`` in this process; all requests of a call go in one batch.

    vLLM starts worker processes: scripts that use it need an
    ``if __name__ == "__main__":`` guard. On CPU, vLLM keeps one core for its
    front end by default; ``reserved_cpus=0`` gives every core to the model
    (``VLLM_CPU_NUM_OF_RESERVED_CPU``; on 2 cores: 1.11 instead of 0.6 Few-NERD
    sentences/s, ``eval/results/llm_inter_test.md``).
    """

    name = "vllm-offline"

    def __init__(self, model: str | Path, *, max_model_len: int = 4096, seed: int = 0,
                 dtype: str = "auto", kv_cache_gib: int | None = None,
                 structured_backend: str = STRUCTURED_BACKEND, reserved_cpus: int | None = None,
                 logprobs: bool = False, **llm_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise BackendError(f"the vLLM backend needs vllm (pip install 'zeroshot[llm]'): "
                               f"{exc}") from exc
        self.model = _model_dir(model)
        self.logprobs = logprobs  # each Generation carries its tokens' log-probabilities
        if kv_cache_gib is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(kv_cache_gib)
        else:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        if reserved_cpus is not None:  # read by vLLM's CPU worker when it starts
            os.environ["VLLM_CPU_NUM_OF_RESERVED_CPU"] = str(reserved_cpus)
        self._llm = vllm.LLM(
            model=self.model, max_model_len=max_model_len, seed=seed, dtype=dtype,
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
    """An OpenAI-compatible server (vLLM) at ``base_url``.

    Requests run ``concurrency`` at a time so the server can batch them.
    Timeouts and connection errors are retried ``max_retries`` times with
    exponential backoff; what still fails comes back as a per-request error.
    ``timeout`` bounds each generation request; the start-up check that lists
    the served models has its own ``check_timeout``, so a tight generation
    timeout does not make a live server look absent.
    """

    name = "vllm-server"

    def __init__(self, base_url: str = "http://127.0.0.1:8000/v1", model: str | None = None, *,
                 api_key: str | None = None, concurrency: int = 64, timeout: float = 120.0,
                 max_retries: int = 3, check: bool = True,
                 check_timeout: float = 30.0) -> None:
        try:
            import openai
        except ImportError as exc:
            raise BackendError("the server backend needs the openai client "
                               "(pip install 'zeroshot[llm]')") from exc
        self.base_url = base_url.rstrip("/")
        self.concurrency = max(1, concurrency)
        self._client = openai.OpenAI(base_url=self.base_url,
                                     api_key=api_key or os.environ.get("OPENAI_API_KEY", "EMPTY"),
                                     timeout=timeout, max_retries=max_retries)
        self.model = model or ""
        if check or not model:
            self.model = self._check(model, check_timeout)

    def _check(self, model: str | None, timeout: float) -> str:
        import openai

        try:
            served = [m.id for m in self._client.with_options(timeout=timeout).models.list()]
        except openai.APITimeoutError:
            raise BackendError(f"the LLM server at {self.base_url} did not list its models "
                               f"within {timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"no LLM server answers at {self.base_url} ({exc}); start one "
                               f"with `zeroshot serve MODEL_DIR` or pass --server URL") from None
        except openai.APIError as exc:
            raise BackendError(f"the server at {self.base_url} failed to list models: "
                               f"{exc}") from None
        if model is None:
            if not served:
                raise BackendError(f"the server at {self.base_url} serves no model")
            return served[0]
        if model not in served:
            raise BackendError(f"the server at {self.base_url} serves {served}, not {model!r}")
        return model

    def _one(self, request: Request) -> Generation:
        import openai

        kwargs: dict[str, Any] = {}
        if request.json_schema is not None:
            kwargs["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "entities", "schema": with_layout(request.json_schema),
                                "strict": True},
            }
        try:
            resp = self._client.chat.completions.create(
                model=self.model, messages=list(request.messages), temperature=0.0,
                max_tokens=request.max_tokens, **kwargs)
        except openai.APITimeoutError:
            return Generation(error=f"timed out after retries ({self.base_url})")
        except openai.APIConnectionError as exc:
            return Generation(error=f"server unreachable at {self.base_url}: {exc}")
        except openai.APIStatusError as exc:
            return Generation(error=f"server answered {exc.status_code}: {exc.message}")
        choice = resp.choices[0]
        usage = resp.usage
        return Generation(text=choice.message.content or "",
                          prompt_tokens=usage.prompt_tokens if usage else None,
                          completion_tokens=usage.completion_tokens if usage else None,
                          finish_reason=choice.finish_reason)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        if len(requests) <= 1:
            return [self._one(r) for r in requests]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def close(self) -> None:
        self._client.close()


# --------------------------------------------------------------------------- outlines
class OutlinesBackend:
    """``outlines`` over a ``transformers`` model, one request at a time.

    One logits processor is built per distinct JSON Schema and reused.
    """

    name = "outlines"

    def __init__(self, model: str | Path, *, structured_backend: str = "outlines_core",
                 dtype: str = "auto", threads: int | None = None) -> None:
        try:
            import outlines
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise BackendError(f"the outlines backend needs outlines and transformers "
                               f"(pip install 'zeroshot[llm]'): {exc}") from exc
        self.model = _model_dir(model)
        if threads:
            torch.set_num_threads(threads)
        self._tokenizer = AutoTokenizer.from_pretrained(self.model)
        hf_model = AutoModelForCausalLM.from_pretrained(self.model, dtype=dtype)
        hf_model.eval()
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

    def _one(self, request: Request) -> Generation:
        prompt = self._tokenizer.apply_chat_template(list(request.messages), tokenize=False,
                                                     add_generation_prompt=True)
        try:
            with self._torch.inference_mode():
                text = self._generator(request.json_schema)(
                    prompt, max_new_tokens=request.max_tokens, do_sample=False)
        except Exception as exc:
            logger.warning("outlines request failed: %s", exc)
            return Generation(error=f"{type(exc).__name__}: {exc}")
        n_prompt = len(self._tokenizer(prompt)["input_ids"])
        n_out = len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        reason = "length" if n_out >= request.max_tokens else "stop"
        return Generation(text=text, prompt_tokens=n_prompt, completion_tokens=n_out,
                          finish_reason=reason)

    def generate(self, requests: Sequence[Request]) -> list[Generation]:
        return [self._one(r) for r in requests]

    def close(self) -> None:
        self._generators.clear()
