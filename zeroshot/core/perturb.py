"""Perturb gold spans by known amounts, and the scores that must follow.

Used by the sanity check: scoring gold against itself must give 1.0 in every
mode, and against a perturbed copy exactly the numbers computed here from the
applied counts. Perturbations never collide: a boundary shift grows a span into
a free neighbouring token (or shrinks it), spurious spans sit on free tokens away
from every gold span, relabels pick another schema type.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Sequence

from zeroshot.core.loaders import Example
from zeroshot.core.spans import Span


@dataclasses.dataclass
class Applied:
    gold: int = 0
    dropped: int = 0
    shifted: int = 0
    relabeled: int = 0
    spurious: int = 0

    def expected(self) -> dict[str, dict[str, float]]:
        """Micro P/R/F1 per mode implied by the applied counts."""
        n_pred = self.gold - self.dropped + self.spurious

        def prf(credit: float) -> dict[str, float]:
            p = credit / n_pred if n_pred else 0.0
            r = credit / self.gold if self.gold else 0.0
            return {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0}

        intact = self.gold - self.dropped - self.shifted - self.relabeled
        return {
            "strict": prf(intact),
            "exact": prf(intact + self.relabeled),
            "partial": prf(intact + self.relabeled + 0.5 * self.shifted),
            "type": prf(intact + self.shifted),
        }


def perturb(examples: Sequence[Example], labels: Sequence[str], *, rate: float = 0.1,
            seed: int = 0) -> tuple[list[list[Span]], Applied]:
    """Copies of the gold spans with about ``rate`` of them dropped, shifted and
    relabeled each, and ``rate`` x gold spurious spans added."""
    rng = random.Random(seed)
    applied = Applied()
    out: list[list[Span]] = []
    for ex in examples:
        toks = ex.tokens
        taken = [False] * len(toks)
        for s in ex.spans:
            for i in range(s.token_start, s.token_end):  # type: ignore[arg-type]
                taken[i] = True
        spans: list[Span] = []
        for s in ex.spans:
            applied.gold += 1
            r = rng.random()
            ts, te = s.token_start, s.token_end
            assert ts is not None and te is not None
            if r < rate:
                applied.dropped += 1
                continue
            if r < 2 * rate:
                if te < len(toks) and not taken[te] and (te + 1 >= len(toks) or not taken[te + 1]):
                    taken[te] = True
                    te += 1
                elif te - ts > 1:
                    te -= 1
                else:
                    spans.append(s)
                    continue
                cs, ce = toks.token_span_to_char(ts, te)
                spans.append(dataclasses.replace(s, start=cs, end=ce, text=toks.text[cs:ce],
                                                 token_start=ts, token_end=te))
                applied.shifted += 1
                continue
            if r < 3 * rate and len(labels) > 1:
                other = rng.choice([lab for lab in labels if lab != s.label])
                spans.append(dataclasses.replace(s, label=other))
                applied.relabeled += 1
                continue
            spans.append(s)
        free = [i for i in range(len(toks)) if not taken[i]
                and (i == 0 or not taken[i - 1]) and (i + 1 >= len(toks) or not taken[i + 1])]
        n_spurious = sum(1 for _ in ex.spans if rng.random() < rate)
        for i in rng.sample(free, min(n_spurious, len(free))):
            taken[i] = True
            cs, ce = toks.token_span_to_char(i, i + 1)
            spans.append(Span(cs, ce, rng.choice(list(labels)), toks.text[cs:ce],
                              token_start=i, token_end=i + 1, engine="perturbed"))
            applied.spurious += 1
        out.append(sorted(spans, key=lambda s: s.start))
    return out, applied
