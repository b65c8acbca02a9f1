"""Sequence-labelling codecs: token spans <-> IO, BIO (IOB2), BIOES/BILOU tags.

Spans here are token intervals :class:`TagSpan` ``(start, end, label)`` with
``end`` exclusive. Decoding never guesses silently: an invalid sequence (``I-``
without ``B-``, ``I-`` of another type, ``E-`` without ``B-``, a ``B-`` left
open in BIOES) is repaired according to a :class:`RepairPolicy` and every
repair is counted in the result and logged, or rejected with
:class:`~zeroshot.core.errors.InvalidTagError`.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from zeroshot.core.errors import InvalidTagError

logger = logging.getLogger(__name__)

OUTSIDE = "O"


class Scheme(str, enum.Enum):
    IO = "io"
    BIO = "bio"  # IOB2: every entity starts with B-
    BIOES = "bioes"  # a.k.a. BILOU (L- = E-, U- = S-)

    @classmethod
    def parse(cls, value: str | Scheme) -> Scheme:
        if isinstance(value, Scheme):
            return value
        v = value.lower().replace("-", "")
        aliases = {"iob2": "bio", "iob": "bio", "bilou": "bioes", "iobes": "bioes"}
        try:
            return cls(aliases.get(v, v))
        except ValueError:
            raise ValueError(f"unknown tagging scheme {value!r}; use io, bio or bioes") from None


class RepairPolicy(str, enum.Enum):
    """What to do with an invalid tag.

    ``BEGIN``: treat it as the start of a new entity (conlleval's behaviour);
    ``DROP``: tag the token O; ``RAISE``: stop with :class:`InvalidTagError`.
    """

    BEGIN = "begin"
    DROP = "drop"
    RAISE = "raise"


class TagSpan(NamedTuple):
    start: int
    end: int
    label: str


@dataclasses.dataclass(frozen=True)
class Repair:
    position: int
    tag: str
    problem: str
    action: str


@dataclasses.dataclass(frozen=True)
class DecodeResult:
    spans: list[TagSpan]
    repairs: list[Repair]

    @property
    def n_repairs(self) -> int:
        return len(self.repairs)


_PREFIXES = {
    Scheme.IO: ("I",),
    Scheme.BIO: ("B", "I"),
    Scheme.BIOES: ("B", "I", "E", "S"),
}
_BILOU = {"L": "E", "U": "S"}


def split_tag(tag: str, scheme: Scheme | str = Scheme.BIO,
              position: int | None = None) -> tuple[str, str | None]:
    """``"B-PER" -> ("B", "PER")``, ``"O" -> ("O", None)``.

    In the IO scheme a bare label (Few-NERD style, ``"person-actor"``) means ``I-``.
    """
    scheme = Scheme.parse(scheme)
    if tag == OUTSIDE:
        return OUTSIDE, None
    if not tag or tag != tag.strip():
        raise InvalidTagError("empty or space-padded tag", position=position, tag=tag)
    if len(tag) > 2 and tag[1] == "-" and tag[0] in "BIESLU":
        prefix = _BILOU.get(tag[0], tag[0]) if scheme is Scheme.BIOES else tag[0]
        if prefix not in _PREFIXES[scheme]:
            raise InvalidTagError(
                f"prefix {tag[0]}- is not part of the {scheme.value.upper()} scheme",
                position=position, tag=tag,
            )
        return prefix, tag[2:]
    if scheme is Scheme.IO:
        return "I", tag
    raise InvalidTagError(
        f"tag has no B-/I- prefix in the {scheme.value.upper()} scheme", position=position, tag=tag
    )


def encode(spans: Iterable[TagSpan | tuple[int, int, str]], length: int,
           scheme: Scheme | str = Scheme.BIO) -> list[str]:
    """Tags for ``length`` tokens from token spans.

    Overlapping spans cannot be written in one flat sequence: they raise
    ``ValueError`` naming both. In the IO scheme two adjacent spans of the same
    label merge into one when decoded (a known limit of IO).
    """
    scheme = Scheme.parse(scheme)
    tags = [OUTSIDE] * length
    owner: list[TagSpan | None] = [None] * length
    for raw in sorted(spans):
        span = TagSpan(*raw)
        if not (0 <= span.start < span.end <= length):
            raise ValueError(f"span {tuple(span)} outside 0..{length}")
        for i in range(span.start, span.end):
            if owner[i] is not None:
                raise ValueError(f"spans {tuple(owner[i])} and {tuple(span)} overlap at token {i}")
            owner[i] = span
        n = span.end - span.start
        for k, i in enumerate(range(span.start, span.end)):
            if scheme is Scheme.IO:
                prefix = "I"
            elif scheme is Scheme.BIO:
                prefix = "B" if k == 0 else "I"
            elif n == 1:
                prefix = "S"
            else:
                prefix = "B" if k == 0 else ("E" if k == n - 1 else "I")
            tags[i] = f"{prefix}-{span.label}"
    return tags


class _Decoder:
    """One decode's state: the open entity, the spans and the repairs so far."""

    def __init__(self, scheme: Scheme, policy: RepairPolicy):
        self.scheme, self.policy = scheme, policy
        self.spans: list[TagSpan] = []
        self.repairs: list[Repair] = []
        self.open_label: str | None = None
        self.open_start = 0

    def close(self, end: int) -> None:
        if self.open_label is not None:
            self.spans.append(TagSpan(self.open_start, end, self.open_label))
            self.open_label = None

    def open(self, label: str, i: int) -> None:
        self.open_label, self.open_start = label, i

    def invalid(self, i: int, tag: str, problem: str) -> bool:
        """Record a repair; True if the token should start a new entity."""
        if self.policy is RepairPolicy.RAISE:
            raise InvalidTagError(problem, position=i, tag=tag)
        action = "begin" if self.policy is RepairPolicy.BEGIN else "drop"
        self.repairs.append(Repair(i, tag, problem, action))
        return self.policy is RepairPolicy.BEGIN

    def unclosed(self, i: int, tag: str) -> None:
        """BIOES: an open entity meets a token that cannot continue it: it is kept
        (closed before ``i``) or dropped, by the policy."""
        if self.open_label is None:
            return
        if self.invalid(i, tag, f"B-{self.open_label} entity not closed by E-"):
            self.close(i)
        else:
            self.open_label = None

    def step(self, i: int, tag: str) -> None:
        prefix, label = split_tag(tag, self.scheme, position=i)
        if self.scheme is Scheme.IO:  # an entity is a maximal run of one label
            if label != self.open_label:
                self.close(i)
                if prefix != OUTSIDE:
                    self.open(label, i)  # type: ignore[arg-type]
            return
        if self.scheme is Scheme.BIOES and prefix in (OUTSIDE, "B", "S"):
            self.unclosed(i, tag)
        if prefix == OUTSIDE:
            self.close(i)
        elif prefix == "B":
            self.close(i)
            self.open(label, i)  # type: ignore[arg-type]
        elif prefix == "S":
            self.spans.append(TagSpan(i, i + 1, label))  # type: ignore[arg-type]
        else:
            self.inside(i, tag, prefix, label)  # type: ignore[arg-type]

    def inside(self, i: int, tag: str, prefix: str, label: str) -> None:
        """``I-`` / ``E-``: continue (or end) the open entity of the same label,
        else a repair."""
        if self.open_label == label:
            if prefix == "E":
                self.close(i + 1)
            return
        problem = (f"{prefix}-{label} without a preceding B-{label}" if self.open_label is None
                   else f"{prefix}-{label} after an open {self.open_label} entity")
        self.close(i)  # an open entity of another type ends here
        if self.invalid(i, tag, problem):
            if prefix == "E":
                self.spans.append(TagSpan(i, i + 1, label))
            else:
                self.open(label, i)

    def finish(self, tags: Sequence[str]) -> None:
        n = len(tags)
        if self.scheme is Scheme.BIOES and self.open_label is not None and not self.invalid(
                n - 1, tags[-1], f"B-{self.open_label} entity not closed by E- at the end"):
            self.open_label = None
        self.close(n)


def decode(tags: Sequence[str], scheme: Scheme | str = Scheme.BIO,
           repair: RepairPolicy | str = RepairPolicy.BEGIN) -> DecodeResult:
    """Token spans from a tag sequence, with every repair recorded.

    IO: an entity is a maximal run of the same label. BIO: ``B-X`` starts one,
    ``I-X`` continues an open ``X``. BIOES: ``S-X`` is a one-token entity,
    ``B-X I-X* E-X`` a longer one.
    """
    scheme = Scheme.parse(scheme)
    decoder = _Decoder(scheme, RepairPolicy(repair))
    for i, tag in enumerate(tags):
        decoder.step(i, tag)
    decoder.finish(tags)
    repairs = decoder.repairs
    if repairs:
        logger.warning(
            "repaired %d invalid %s tag(s) (%s): first at token %d: %s",
            len(repairs), scheme.value.upper(), decoder.policy.value, repairs[0].position,
            repairs[0].problem,
        )
    return DecodeResult(decoder.spans, repairs)


def convert(tags: Sequence[str], source: Scheme | str, target: Scheme | str,
            repair: RepairPolicy | str = RepairPolicy.BEGIN) -> tuple[list[str], DecodeResult]:
    """Re-tag a sequence from one scheme to another (decode, then encode)."""
    result = decode(tags, source, repair)
    return encode(result.spans, len(tags), target), result


def is_valid(tags: Sequence[str], scheme: Scheme | str = Scheme.BIO) -> bool:
    """True when the sequence decodes without any repair."""
    try:
        decode(tags, scheme, RepairPolicy.RAISE)
    except InvalidTagError:
        return False
    return True
