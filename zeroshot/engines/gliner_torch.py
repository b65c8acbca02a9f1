"""Small pieces the GLiNER runtime's replacement encoders share (torch imported lazily)."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass
class EncoderOutput:
    """What the runtime reads from an encoder call, as transformers' models return it."""

    last_hidden_state: Any


def module_base() -> Any:
    """``torch.nn.Module``, imported when a module of this package is defined (the
    engines' modules import torch only when used)."""
    import torch

    return torch.nn.Module
