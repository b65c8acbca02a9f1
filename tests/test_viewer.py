"""The results viewer: a self-contained HTML page, escaped, checked in a real headless
Chromium (spans marked, the type filter working with hostile labels)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from zeroshot.core.spans import DocumentResult, Span
from zeroshot.viewer import render_html


@pytest.fixture
def chromium(tmp_path):
    """The headless Chromium command line (a failure in CI, where .ci/run installs it)."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed in CI (.ci/run installs it)")
        pytest.skip("chromium not installed")
    return [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]


def _docs():
    return [
        (DocumentResult("Ada <b>met</b> Bob in Oslo .",
                        (Span(0, 3, "person", "Ada", score=0.91),
                         Span(23, 27, "city", "Oslo", score=0.55)), id="d1", engine="gliner"),
         None),
        (DocumentResult("", id="d2"), "empty text"),
    ]


def test_viewer_html_is_self_contained_and_escaped():
    page = render_html(_docs(), title="t")
    assert "&lt;b&gt;met&lt;/b&gt;" in page  # text is escaped
    assert "http://" not in page and "https://" not in page  # nothing loaded from outside
    assert page.count("<mark") == 2 and "score 0.91" in page and "error: empty text" in page


def test_viewer_in_headless_chromium(tmp_path, chromium):
    page = tmp_path / "view.html"
    page.write_text(render_html(_docs(), title="viewer test"))
    dom = subprocess.run([*chromium, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert dom.count("<mark") == 2 and 'data-label="city"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run([*chromium, f"--screenshot={shot}", "--window-size=900,500",
                    page.as_uri()], capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 5000


HOSTILE_LABELS = ['say "hi"', "it's", "a]b\\c", "</script><b>x", "ok"]

PROBE = """<script>
var out = [];
document.querySelectorAll('#filters input').forEach(function(box){
  box.checked = false; box.dispatchEvent(new Event('change'));
  var hidden = 0;
  document.querySelectorAll('mark.hide-bg').forEach(function(m){ hidden++; });
  out.push(hidden);
  box.checked = true; box.dispatchEvent(new Event('change'));
});
document.body.setAttribute('data-probe', JSON.stringify(out));
</script>"""

CATCH = ("<script>window.addEventListener('error', function(e){"
         "document.documentElement.setAttribute('data-errors', e.message);});</script>")


def test_viewer_type_filter_with_quotes_in_labels(tmp_path, chromium):
    """A label with a quote (or a bracket, a backslash, a closing tag) filters like any
    other: unticking its box hides exactly its spans, and no script error is raised."""
    words = [f"W{i}" for i in range(len(HOSTILE_LABELS))]
    text = " ".join(words)
    spans, pos = [], 0
    for w, label in zip(words, HOSTILE_LABELS, strict=True):
        spans.append(Span(pos, pos + len(w), label, w, score=0.9))
        pos += len(w) + 1
    page = render_html([(DocumentResult(text, tuple(spans), id="d"), None)], title="q")
    assert "</script><b>" not in page.split("<body>", 1)[1].replace(
        "<script>" + page.split("<script>")[-1], "")  # escaped everywhere but our scripts
    page = page.replace("<body>", "<body>" + CATCH, 1).replace("</body>", PROBE + "</body>")
    path = tmp_path / "view.html"
    path.write_text(page, encoding="utf-8")
    dom = subprocess.run([*chromium, "--dump-dom", path.as_uri()], capture_output=True,
                         text=True, timeout=120).stdout
    assert 'data-errors="' not in dom, dom[:2000]
    assert f'data-probe="{json.dumps([1] * len(HOSTILE_LABELS), separators=(",", ":"))}"' in dom
