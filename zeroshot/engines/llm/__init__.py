"""The LLM engine: grammar-constrained JSON from an instruction model, validated
and aligned by the core. Backends load their libraries only when built."""

from zeroshot.engines.llm.backends import (
    Backend,
    BackendError,
    Generation,
    OutlinesBackend,
    Request,
    VLLMOfflineBackend,
    VLLMServerBackend,
)
from zeroshot.engines.llm.engine import MODES, LLMEngine
from zeroshot.engines.llm.hybrid import HybridEngine
from zeroshot.engines.llm.prompts import PromptBuilder, PromptError

__all__ = [
    "MODES",
    "Backend",
    "BackendError",
    "Generation",
    "HybridEngine",
    "LLMEngine",
    "OutlinesBackend",
    "PromptBuilder",
    "PromptError",
    "Request",
    "VLLMOfflineBackend",
    "VLLMServerBackend",
]
