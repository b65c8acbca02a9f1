from zeroshot.core.evidence import compare_spans, render_evidence_card
from zeroshot.core.metrics import evaluate
from zeroshot.core.schema import Schema
from zeroshot.core.spans import AlignmentStatus, DocumentResult, Issue, Mention, Span

TEXT = "Serena Williams won at Wimbledon in London ."


def sp(start, end, label, **kw):
    return Span(start, end, label, TEXT[start:end], **kw)


GOLD = [sp(0, 15, "athlete"), sp(23, 32, "event"), sp(36, 42, "city")]
PRED = [sp(0, 6, "athlete"), sp(23, 32, "city"), sp(43, 44, "city")]


def test_compare_spans_names_each_outcome():
    verdicts = [(r.gold and r.gold.text, r.pred and r.pred.text, r.verdict)
                for r in compare_spans(GOLD, PRED)]
    assert verdicts == [("Serena Williams", "Serena", "boundary"),
                        ("Wimbledon", "Wimbledon", "type"),
                        ("London", None, "missed"),
                        (None, ".", "spurious")]


def test_card_has_every_section_and_shows_a_miss():
    schema = Schema.from_labels(["athlete", "event", "city"], name="sports")
    pred = DocumentResult(
        text=TEXT, spans=tuple(PRED), id="s1", engine="llm-test",
        unaligned=(Mention("Roger Federer", "athlete", AlignmentStatus.UNALIGNED),),
        issues=(Issue("unaligned", "'Roger Federer' occurs nowhere"),
                Issue("label_mapped", "x", repair=True)),
    )
    report = evaluate([GOLD], [pred.spans], labels=schema.names)
    card = render_evidence_card(schema, [GOLD], [pred], report=report)
    for heading in ("## Schema", "## Predictions", "## Metric", "## Failure checks",
                    "## Gold vs predicted"):
        assert heading in card
    strict_f1 = 100 * report["strict"].micro.f1
    assert f"| strict | {100 * report['strict'].micro.precision:.1f} |" in card
    assert f"{strict_f1:.1f}" in card
    assert "| s1 | `London` city | — | **missed** |" in card
    assert "unaligned strings (occur nowhere in the text): 1" in card
    assert "`Roger Federer` (athlete)" in card
    assert "repairs (counted, not silent): 1" in card
    assert "event → city (1)" in card
