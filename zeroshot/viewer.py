"""A self-contained HTML page of extraction results: highlighted spans, a colour
per type, hover for label / score / alignment, a filter by type, and the LLM's
unaligned strings listed apart. No network, no external files."""

from __future__ import annotations

import colorsys
import hashlib
import html
import json
from collections import Counter
from collections.abc import Iterable

from zeroshot.core.spans import DocumentResult, Span

_CSS = """
body{font:15px/1.6 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{font-size:1.3rem} .doc{border-bottom:1px solid #ddd;padding:.6rem 0}
.id{color:#888;font-size:.8rem} .err{color:#b00020;font-size:.85rem}
mark{border-radius:3px;padding:0 2px;cursor:help}
mark .lab{font-size:.7em;font-weight:600;margin-left:3px;opacity:.75}
.unal{font-size:.85rem;color:#555} .unal s{color:#b00020}
#filters label{margin-right:.8rem;white-space:nowrap;font-size:.9rem}
.sw{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:3px}
.hide-bg{background:none!important} .hide-bg .lab{display:none}
"""

# Labels are compared as strings (dataset vs value), never spliced into a CSS
# selector: a label with a quote, a bracket or a backslash filters like any other.
_JS = """
document.querySelectorAll('#filters input').forEach(function(box){
  box.addEventListener('change', function(){
    document.querySelectorAll('mark[data-label]').forEach(function(m){
      if (m.dataset.label === box.value) { m.classList.toggle('hide-bg', !box.checked); }
    });
  });
});
"""


def colour(label: str) -> str:
    """A stable pastel colour per label."""
    h = int(hashlib.sha1(label.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    r, g, b = colorsys.hls_to_rgb(h, 0.82, 0.75)
    return f"#{int(r * 255):02x}{int(g * 255):02x}{int(b * 255):02x}"


def _title(s: Span) -> str:
    parts = [s.label, f"[{s.start}, {s.end})"]
    if s.score is not None:
        parts.append(f"score {s.score:.2f}")
    parts.append(f"alignment {s.alignment.value}" + (" (snapped)" if s.snapped else ""))
    return " · ".join(parts)


def _highlight(doc: DocumentResult) -> str:
    """The text with outermost spans marked (nested spans show in the hover)."""
    text = doc.text
    spans = sorted(doc.spans, key=lambda s: (s.start, -s.end))
    out, pos = [], 0
    for s in spans:
        if s.start < pos:  # nested or overlapping: named in the enclosing span's title
            continue
        inner = [t for t in spans if t is not s and s.start <= t.start and t.end <= s.end]
        title = _title(s) + "".join(f"\n⊃ {t.text!r}: {_title(t)}" for t in inner)
        out.append(html.escape(text[pos:s.start]))
        out.append(
            f'<mark data-label="{html.escape(s.label, quote=True)}" '
            f'style="background:{colour(s.label)}" title="{html.escape(title, quote=True)}">'
            f'{html.escape(text[s.start:s.end])}<span class="lab">{html.escape(s.label)}</span>'
            f"</mark>")
        pos = s.end
    out.append(html.escape(text[pos:]))
    return "".join(out)


def render_html(docs: Iterable[tuple[DocumentResult, str | None]], *,
                title: str = "zeroshot results", limit: int | None = None) -> str:
    """The page for ``(result, error)`` pairs (as :func:`zeroshot.batch.read_results`)."""
    rows, labels = [], Counter()
    n_docs = n_failed = n_unaligned = 0
    for doc, error in docs:
        n_docs += 1
        labels.update(s.label for s in doc.spans)
        if limit is not None and n_docs > limit:
            continue
        body = [f'<div class="doc" data-id="{html.escape(str(doc.id), quote=True)}">',
                f'<div class="id">{html.escape(str(doc.id))}'
                f'{" · " + html.escape(doc.engine) if doc.engine else ""}</div>',
                f'<div class="text">{_highlight(doc)}</div>']
        if error:
            n_failed += 1
            body.append(f'<div class="err">error: {html.escape(error)}</div>')
        if doc.unaligned:
            n_unaligned += len(doc.unaligned)
            items = ", ".join(f"<s>{html.escape(m.generated)}</s> ({html.escape(m.label)})"
                              for m in doc.unaligned)
            body.append(f'<div class="unal">unaligned (in no place of the text): {items}</div>')
        body.append("</div>")
        rows.append("".join(body))
    filters = "".join(
        f'<label><input type="checkbox" value="{html.escape(lab, quote=True)}" checked>'
        f'<span class="sw" style="background:{colour(lab)}"></span>{html.escape(lab)} '
        f"({n})</label>" for lab, n in sorted(labels.items()))
    shown = f" (first {limit} shown)" if limit is not None and n_docs > limit else ""
    meta = json.dumps({"documents": n_docs, "failed": n_failed, "unaligned": n_unaligned,
                       "spans": sum(labels.values())}).replace("<", "\\u003c")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p>{n_docs} documents{shown}, {sum(labels.values())} spans, {n_failed} failed, "
        f"{n_unaligned} unaligned strings.</p>"
        f'<div id="filters">{filters}</div>'
        f'<script type="application/json" id="summary">{meta}</script>'
        + "".join(rows) + f"<script>{_JS}</script></body></html>\n")
