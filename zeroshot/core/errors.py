"""Exceptions raised by the core. Each names the problem and where it is."""

from __future__ import annotations


def clip(value: object, limit: int = 80) -> str:
    """``repr(value)`` for a message, cut to about ``limit`` characters: a 10 kB
    label in an error names the problem without burying it."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) <= limit:
        return repr(text) if isinstance(value, str) else text
    head = repr(text[:limit]) if isinstance(value, str) else text[:limit]
    return f"{head}... ({len(text)} characters)"


class ZeroshotError(Exception):
    """Base class of every error this library raises on purpose."""


class SchemaError(ZeroshotError, ValueError):
    """A schema file or dict is malformed: the message names the file and the location."""


class UnknownLabelError(ZeroshotError, KeyError):
    """A label is not part of the schema."""

    def __init__(self, label: str, known: list[str] | tuple[str, ...]):
        self.label = label
        self.known = tuple(known)
        shown = ", ".join(clip(k, 40) for k in self.known[:12])
        more = f" (+{len(self.known) - 12} more)" if len(self.known) > 12 else ""
        super().__init__(f"unknown label {clip(label)}; the schema knows {shown}{more}")

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


class InvalidTagError(ZeroshotError, ValueError):
    """A tag sequence is invalid and the chosen repair policy is 'raise'."""

    def __init__(self, message: str, *, position: int | None = None, tag: str | None = None):
        self.position = position
        self.tag = tag
        where = f" at token {position}" if position is not None else ""
        super().__init__(f"{message}{where}" + (f" (tag {tag!r})" if tag is not None else ""))


class DataFormatError(ZeroshotError, ValueError):
    """A data file is malformed: the message names the file and the line."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        self.path = path
        self.line = line
        where = ""
        if path is not None:
            where = f"{path}"
            if line is not None:
                where += f":{line}"
            where += ": "
        super().__init__(f"{where}{message}")
