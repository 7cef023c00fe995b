"""Grounding views in JupyterLab: Google Maps places as links, file search passages in an accordion titled by
file (after ``%gemini store`` filled the store from the notebook), MCP tool calls with their results — and
nothing hostile in a file's name, a passage, an MCP result or a place runs.

The notebook is written by the test: it creates the files it uploads (one with a hostile name and content),
serves an MCP tool from the kernel (``gemini_magics.mcp_local.serve``) that answers with HTML, and shows a
crafted Maps result with hostile places (the emulator's places come from the prompt's words, which cannot
carry markup). Every payload would set a ``window.__gm_pwned_*`` global.
"""

from __future__ import annotations

from typing import Any

import nbformat
import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

NAME = "grounding_views.ipynb"
HOSTILE_FILE = '<img src=x onerror="window.__gm_pwned_file=1">.txt'
CELLS = [
    "%load_ext gemini_magics",
    "from pathlib import Path\n"
    "folder = Path('grounding_docs')\n"
    "folder.mkdir(exist_ok=True)\n"
    "(folder / 'boiler.md').write_text('# Boiler\\n\\nTo reset the boiler, hold the red button for ten "
    "seconds.\\n')\n"
    f'(folder / {HOSTILE_FILE!r}).write_text(\'Boiler reset: <img src=x onerror="window.__gm_pwned_chunk=1">'
    " <script>window.__gm_pwned_chunk=2</script> [Click me](javascript:window.__gm_pwned_chunk=3)\\n')",
    "%gemini store lab-manuals grounding_docs/*",
    "%%gemini --new --file-search lab-manuals\nHow do I reset the boiler?",
    "%%gemini --new --tools google_maps\nGood coffee near Zürich HB",
    "from gemini_magics.mcp_local import serve\n"
    "def lookup_word(word: str) -> str:\n"
    '    """Look a word up."""\n'
    "    link = '[Click me](javascript:window.__gm_pwned_mcp=2)'\n"
    "    return '<img src=x onerror=\"window.__gm_pwned_mcp=1\"> ' + word + ' ' + link\n"
    "kb = serve('kb', lookup_word)",
    "%%gemini --new --mcp kb=kb\nPlease lookup_word 'boiler'",
    "from gemini_magics.blocks_grounding import Citation, MapsBlock, Place\n"
    "from gemini_magics.turn import Result\n"
    "hostile = '<img src=x onerror=\"window.__gm_pwned_place=1\">'\n"
    "urls = ['javascript:window.__gm_pwned_place=2',\n"
    "        'https://example.com/$\"onclick=\"window.__gm_pwned_place=3;//$']\n"
    "places = [Place(hostile + 'Click me', u, hostile, hostile, [Citation(hostile, u)]) for u in urls]\n"
    "maps = MapsBlock('m', [hostile], places, answered=True)\n"
    "display(Result('v1_crafted', 'completed', 'test-model', blocks=[maps]))",
    "kb.stop()",
]
PWNED = "() => Object.keys(window).filter(k => k.startsWith('__gm_pwned'))"
LIVE_CODE = """root => [...root.querySelectorAll('*')].flatMap(el => [
  ...(['script', 'iframe', 'object', 'embed'].includes(el.tagName.toLowerCase()) ? [el.tagName] : []),
  ...[...el.attributes].filter(a => a.name.startsWith('on') || a.name === 'srcdoc').map(a => a.name),
  ...(el.href && /^(javascript|data|vbscript):/i.test(el.href) ? [el.href] : []),
])"""
CLICK_ALL = """root => {
  const stay = e => { if (e.target.closest && e.target.closest('a[href^="http"]')) e.preventDefault(); };
  document.addEventListener('click', stay, true);
  const targets = [...root.querySelectorAll('a, img, pre code')];
  for (const el of targets) { el.dispatchEvent(new MouseEvent('mouseover', {bubbles: true})); el.click(); }
  document.removeEventListener('click', stay, true);
  return targets.length;
}"""


@pytest.fixture
def grounding_notebook(lab: Any) -> str:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, lab.root / NAME)
    return NAME


def test_maps_file_search_and_mcp_views(open_notebook: Any, grounding_notebook: str, artifacts: Any) -> None:
    nb = open_notebook(grounding_notebook)
    page = nb.page
    nb.run_all()
    nb.wait_until_done(timeout=120)
    page.wait_for_timeout(500)  # a failing <img> fires onerror within milliseconds
    stored, searched, maps, _, called, crafted = (nb.outputs(i) for i in range(2, 8))

    # %gemini store: a progress line per file, then the store's row.
    expect(stored.get_by_text("uploading… indexing… indexed").first).to_be_visible()
    expect(stored.get_by_role("cell", name="lab-manuals", exact=True)).to_be_visible()

    # File search: the heading, then one collapsed accordion item per passage, titled by its file.
    expect(searched.get_by_text("File search", exact=False).first).to_be_visible()
    headers = searched.locator(".jupyter-widget-Collapse-header").filter(has_not_text="Thoughts")
    expect(headers).to_have_count(2)
    titles = headers.all_inner_texts()
    assert any(t.startswith("boiler.md") and t.endswith("cited") for t in titles), titles
    assert any(HOSTILE_FILE in t for t in titles), titles  # the hostile name, as text
    passage = searched.get_by_text("hold the red button for ten seconds", exact=False).filter(visible=True)
    expect(passage.first).to_be_visible()  # in the answer's quote
    headers.filter(has_text="boiler.md").click()
    expect(searched.locator(".jupyter-widget-Collapse-contents blockquote").first).to_be_visible()
    hostile_title = headers.filter(has_text=".txt")
    hostile_title.click()
    shown = searched.get_by_text("window.__gm_pwned_chunk=1", exact=False)
    expect(shown.first).to_be_visible()  # the hostile passage, as text

    # Google Maps: each place a link to its Google Maps page, in the places view and in the answer.
    expect(maps.get_by_text("Google Maps", exact=False).first).to_be_visible()
    links = maps.locator('a[href^="https://maps.google.com/?cid="]')
    assert links.count() >= 9, links.count()  # 3 places: the view, the cited names, the Sources list
    names = {name.strip() for name in links.all_inner_texts()}
    assert len(names) == 3 and all("Zürich" in n or "Coffee" in n for n in names), names
    expect(maps.locator('a[href^="https://www.google.com/maps/reviews/"]')).to_have_count(3)

    # MCP: server and tool, the arguments, the result (hostile HTML shown as text).
    expect(called.get_by_text("MCP tool", exact=False).first).to_be_visible()
    expect(called.get_by_text("kb: lookup_word").first).to_be_visible()
    result = called.get_by_text('<img src=x onerror="window.__gm_pwned_mcp=1"> boiler', exact=False)
    expect(result.first).to_be_visible()

    # Crafted hostile places: shown as text, no link that runs code.
    expect(crafted.get_by_text("window.__gm_pwned_place=1", exact=False).first).to_be_visible()
    assert crafted.locator("a").count() >= 1  # the http(s) one, percent-encoded

    for i in range(1, len(CELLS)):
        out = nb.outputs(i)
        assert page.evaluate(LIVE_CODE, out.element_handle()) == [], f"cell {i}"
    assert page.evaluate(PWNED) == []
    assert not nb.problems(), nb.problems()
    nb.screenshot(artifacts, "grounding")
    clicked = sum(page.evaluate(CLICK_ALL, nb.outputs(i).element_handle()) for i in (3, 4, 6, 7))
    assert clicked > 10, clicked
    page.wait_for_timeout(500)
    assert page.evaluate(PWNED) == [], "clicking a link or an image ran a payload"
