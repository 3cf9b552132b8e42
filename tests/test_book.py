"""``make book`` on tiny synthetic notebooks: pages, local charts, exercises, widgets, glossary.

The notebooks are written here with their outputs (an Altair chart as a Vega-Lite output, a
``JupyterChart`` widget and a dashboard of widgets with their saved state), so the book is built
with ``execute=False`` in a few seconds; one test runs a one-cell notebook through nbclient to
check the real path (the ``jupyter`` renderer that ``viz.enable_offline`` turns on). The browser
test that opens the built pages is in ``test_browser.py``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("myst_nb", reason='the book needs its extras: pip install -e ".[book]"')
pytest.importorskip("sphinx_book_theme", reason='the book needs its extras: pip install -e ".[book]"')

from ecr_lab import book  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CHART_TITLE = "tiny chart of the book test"
WIDGET_CHART_TITLE = "chart inside a dashboard"


def _spec(title: str) -> dict:
    import altair as alt
    import pandas as pd

    frame = pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2], "lang": ["en", "de", "fr"]})
    return (alt.Chart(frame).mark_point().encode(x="x", y="y", color="lang", tooltip=["lang"])
            .properties(title=title).to_dict())


def _widget(model: str, state: dict, module: str = "@jupyter-widgets/controls") -> dict:
    return {"model_module": module, "model_module_version": "2.0.0", "model_name": model,
            "state": {"_model_name": model, **state}}


def _view(model_id: str) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/plain": "widget", book.WIDGET_VIEW: {"model_id": model_id, "version_major": 2,
                                                              "version_minor": 0}}}


def write_tiny_notebooks(folder: Path) -> Path:
    """Two executed notebooks as the book sees them; returns ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    v4 = nbformat.v4
    chart = v4.new_code_cell("viz.metric_chart(table)", execution_count=1)
    chart.outputs = [v4.new_output("execute_result", {"application/vnd.vegalite.v6+json": _spec(CHART_TITLE),
                                                      "text/plain": "alt.Chart(...)"}, execution_count=1)]
    terms = v4.new_code_cell('glossary.show("probe")', execution_count=2)
    terms.outputs = [v4.new_output("display_data", {
        "text/markdown": "**probe**: a classifier ... *See also:* [meaning unit](../docs/glossary.md#term-meaning_unit)."})]
    exercise = v4.new_code_cell('i_lost = ...  # a row i\ncheck("ex01_neighbours")', metadata={"tags": ["exercise"]})
    solution = v4.new_code_cell("i_lost = 4242  # SECRET SOLUTION", metadata={"tags": ["solution"]})
    nb1 = v4.new_notebook(cells=[
        v4.new_markdown_cell("# 01 · A tiny lesson\n\n[![Open in Colab](https://colab.research.google.com/"
                             "assets/colab-badge.svg)](https://colab.research.google.com/github/x/y)\n\n"
                             "A [probe](../docs/glossary.md#term-probe) reads the space."),
        chart, terms, v4.new_markdown_cell("## Exercise 1.1"), exercise, solution])

    # notebook 2: a JupyterChart widget, and a VBox(slider, dropdown, progress bar, Output(chart))
    esm = "/* the offline vega bundle, ~0.9 MB in a real notebook */"
    state = {
        "c1": _widget("AnyModel", {"_esm": esm, "spec": _spec(WIDGET_CHART_TITLE), "embed_options": {"renderer": "svg"},
                                   "_anywidget_id": "altair.jupyter.jupyter_chart.JupyterChart"}, "anywidget"),
        "c2": _widget("AnyModel", {"_esm": esm, "spec": _spec("second widget chart"),
                                   "_anywidget_id": "altair.jupyter.jupyter_chart.JupyterChart"}, "anywidget"),
        "out": _widget("OutputModel", {"outputs": [_view("c2")]}, "@jupyter-widgets/output"),
        "slider": _widget("IntSliderModel", {"description": "checkpoint", "value": 3}),
        "drop": _widget("DropdownModel", {"description": "metric", "index": 1, "_options_labels": ["cka", "knn"]}),
        "bar": _widget("FloatProgressModel", {"value": 5, "min": 0, "max": 10}),
        "row": _widget("HBoxModel", {"children": ["IPY_MODEL_slider", "IPY_MODEL_drop"]}),
        "box": _widget("VBoxModel", {"children": ["IPY_MODEL_row", "IPY_MODEL_bar", "IPY_MODEL_out"]}),
    }
    plain = v4.new_code_cell("viz.enable_offline()\nchart", execution_count=1)
    plain.outputs = [nbformat.from_dict(_view("c1"))]
    dash = v4.new_code_cell("DriftDashboard(run, corpus).view()", execution_count=2)
    dash.outputs = [nbformat.from_dict(_view("box"))]
    nb2 = v4.new_notebook(cells=[v4.new_markdown_cell("# 02 · Widgets"), plain, dash])
    nb2.metadata["widgets"] = {book.WIDGET_STATE: {"state": state, "version_major": 2, "version_minor": 0}}
    for name, nb in (("01_tiny.ipynb", nb1), ("02_widgets.ipynb", nb2)):
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbformat.write(nb, folder / name)
    return folder


def build_tiny_book(tmp: Path) -> book.BookResult:
    """The book of :func:`write_tiny_notebooks` and a one-page guide (no execution, Sphinx warnings
    are errors)."""
    guide = tmp / "guide.md"
    guide.write_text("# A guide\n\nFor the instructor: see [notebook 01](../notebooks/01_tiny.ipynb).\n")
    return book.build(tmp / "site", execute=False, notebooks_dir=write_tiny_notebooks(tmp / "nbs"),
                      readme=None, strict=True, guides=(guide, tmp / "missing.md"), log=lambda *a: None)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return build_tiny_book(tmp_path_factory.mktemp("book"))


def _html(path: Path) -> str:
    return path.read_text()


def _chart_specs(page: str) -> list[dict]:
    return [json.loads(s.replace("<\\/", "</")) for s in
            re.findall(r'<script type="application/json" class="ecr-vega-spec">(.*?)</script>', page, re.S)]


def test_a_page_per_notebook_the_glossary_and_an_index(tiny):
    assert tiny.index.exists()
    assert set(tiny.pages) == {"01_tiny", "02_widgets"}
    assert all(p.exists() for p in tiny.pages.values())
    assert tiny.executed == {"01_tiny": "as saved", "02_widgets": "as saved"}
    assert tiny.warnings == []
    index = _html(tiny.index)
    for target in ("notebooks/01_tiny.html", "notebooks/02_widgets.html", "docs/glossary.html", "docs/guide.html"):
        assert f'href="{target}' in index, target
    guide = _html(tiny.index.parent / "docs" / "guide.html")  # a guide page (the workshop's), links resolved
    assert "For the instructor" in guide and 'href="../notebooks/01_tiny.html"' in guide
    assert not (tiny.index.parent / "docs" / "missing.html").exists()
    glossary = _html(tiny.index.parent / "docs" / "glossary.html")
    assert 'id="term-probe"' in glossary and "Glossary" in glossary
    # the notebook's links into the glossary (text and a Markdown output) resolve to its anchors
    page = _html(tiny.pages["01_tiny"])
    assert 'href="../docs/glossary.html#term-probe"' in page
    assert 'href="../docs/glossary.html#term-meaning-unit"' in page


def test_charts_carry_their_spec_and_only_local_scripts(tiny):
    site = tiny.index.parent
    page = _html(tiny.pages["01_tiny"])
    specs = _chart_specs(page)
    assert [s["title"] for s in specs] == [CHART_TITLE]
    assert specs[0]["datasets"] and "x" in json.dumps(specs[0]["encoding"])
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", page)
    assert scripts and not [s for s in scripts if re.match(r"(https?:)?//", s)], scripts
    assert any("_static/vega-bundle.js" in s for s in scripts) and any("_static/ecr-vega.js" in s for s in scripts)
    bundle = (site / "_static" / "vega-bundle.js").read_text()
    assert "window.vegaEmbed" in bundle and len(bundle) > 100_000
    assert book.remote_references(site) == {}
    # the Colab badge image (remote) became its text; the link stays
    assert "colab-badge.svg" not in page and "Open in Colab" in page


def test_exercises_shown_without_solutions(tiny):
    page = _html(tiny.pages["01_tiny"])
    assert "tag_exercise" in page and "ex01_neighbours" in page
    assert "SECRET SOLUTION" not in page and "4242" not in page
    sources = [p for p in (tiny.index.parent / "_sources").rglob("*") if p.is_file()]
    assert sources and not [p for p in sources if "SECRET" in p.read_text()]  # nor in the download


def test_widgets_become_static_charts_and_controls_with_a_note(tiny):
    page = _html(tiny.pages["02_widgets"])
    assert [s["title"] for s in _chart_specs(page)] == [WIDGET_CHART_TITLE, "second widget chart"]
    assert page.count(book.WIDGET_NOTE) == 1  # the dashboard, not the plain chart
    assert "checkpoint 3" in page and "metric knn" in page and "<progress" in page
    assert book.WIDGET_STATE not in page and "the offline vega bundle" not in page  # no widget manager, no _esm


def test_make_static_on_a_notebook_without_widget_state():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("w")])
    nb.cells[0].outputs = [nbformat.from_dict(_view("gone"))]
    counts = book.make_static(nb)
    assert counts["widgets"] == 1 and counts["charts"] == 0
    html = nb.cells[0].outputs[0]["data"]["text/html"]
    assert "run it to use these widgets" in html


def test_glossary_anchors_become_myst_targets():
    text = '<a id="term-cka"></a>**CKA**: ... [kNN overlap](#term-knn_overlap).'
    assert book.myst_targets(text).startswith("(term-cka)=\n**CKA**")
    glossary = (ROOT / "docs" / "glossary.md").read_text()
    assert book.myst_targets(glossary).count(")=\n") == glossary.count('<a id="term-')


def test_execute_runs_a_notebook_once_and_reuses_it(tmp_path, monkeypatch):
    """The real path: nbclient runs the notebook with the `jupyter` renderer (JupyterChart, as
    viz.enable_offline does), keeps the widget state, and the book shows the chart."""
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("# Executed"),
        nbformat.v4.new_code_cell(
            "import altair as alt, pandas as pd\n"
            "alt.renderers.enable('jupyter', offline=True, embed_options={'renderer': 'svg'})\n"
            "alt.Chart(pd.DataFrame({'a': [1, 2]})).mark_bar().encode(x='a').properties(title='run here')"),
        nbformat.v4.new_code_cell(  # a dashboard: nbclient records what the Output widget shows
            "import ipywidgets as W\n"
            "out = W.Output()\n"
            "with out:\n"
            "    display(alt.Chart(pd.DataFrame({'b': [3]})).mark_bar().encode(y='b').properties(title='in a dashboard'))\n"
            "W.VBox([W.IntSlider(description='step', value=2), out])")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, nbs / "01_run.ipynb")
    first = book.build(tmp_path / "site", notebooks_dir=nbs, readme=None, glossary=None, guides=(), log=lambda *a: None)
    assert first.executed == {"01_run": "executed"}
    page = _html(first.pages["01_run"])
    assert [s["title"] for s in _chart_specs(page)] == ["run here", "in a dashboard"]
    assert "step 2" in page and page.count(book.WIDGET_NOTE) == 1
    second = book.build(tmp_path / "site", notebooks_dir=nbs, readme=None, glossary=None, guides=(), log=lambda *a: None)
    assert second.executed == {"01_run": "reused"}
    key = book._cells_key(nbformat.read(nbs / "01_run.ipynb", as_version=4), "fast")
    monkeypatch.setattr(book, "_library_hash", lambda: "another ecr_lab")  # the library changed
    assert book._cells_key(nbformat.read(nbs / "01_run.ipynb", as_version=4), "fast") != key
