"""The course as a static site you can read before running anything: ``make book``.

``python -m ecr_lab.book`` (or :func:`build`) turns the four notebooks into an HTML book in
``build/book/``: every notebook executed, its charts interactive, its exercises shown as the learner
gets them (our notebooks hold no solutions; a cell tagged ``solution`` would be removed), the
glossary as a page, all of it offline: nothing is fetched at build time or when the pages are read.

Why Sphinx + myst-nb + sphinx-book-theme (Jupyter Book 1 is the same stack underneath): Jupyter
Book 2 is built on mystmd, a Node program whose site themes are downloaded at build time, so it
cannot build offline. The Sphinx stack installs from PyPI (``pip install -e ".[book]"``) and its
theme ships its own CSS, JS and fonts.

The steps of :func:`build`:

1. **Stage**: copy the notebooks into ``<stage>/src/notebooks/``, the glossary into
   ``<stage>/src/docs/glossary.md`` (the notebooks link to ``../docs/glossary.md#term-...``, so the
   repository's layout is kept) and ``book/index.md`` as the landing page.
2. **Execute** each notebook with nbclient, as nbmake does in ``make test`` (working directory
   ``notebooks/``, the ``ECR_LAB_PROFILE`` of the environment, ``fast`` from the command line): the
   workspace cache makes that cheap once the notebooks have run, and nothing is trained that
   ``make test`` would not train. A notebook is not executed when it already has outputs, when
   ``execute=False``, or when an executed copy of the same cells and profile is in ``<stage>``.
3. **Make it static**: Jupyter widgets cannot run without a kernel, and their state would make
   myst-nb load the widget manager from a CDN, so each widget output becomes what it showed: an
   Altair chart (``JupyterChart``) becomes a Vega-Lite chart, an ``Output`` widget its outputs, a
   progress bar a ``<progress>``, a control (slider, dropdown, text box) its description and value,
   with a note "run the notebook to use the widgets". Vega / Vega-Lite outputs become a
   ``<div class="ecr-vega">`` holding the spec, which the page draws with vega-embed. The widget
   state is then dropped from the notebook's metadata (it holds ~0.9 MB of JavaScript per chart).
   Remote images in Markdown cells (the Open-in-Colab badge) become their link text.
4. **Sphinx**: ``sphinx-build -c book/`` on the staged copies, myst-nb with
   ``nb_execution_mode = "off"`` (they are executed already).
5. **Check** that no page loads a script, stylesheet or image from the network.

This module is also the Sphinx extension that draws the charts (``extensions = [..., "ecr_lab.book"]``
in ``book/conf.py``): it writes ``vega-bundle.js`` (vega, vega-lite and vega-embed, from
``vl_convert.javascript_bundle()``: vl-convert-python embeds them, no CDN), ``ecr-vega.js`` (renders
every ``div.ecr-vega``) and ``ecr-book.css`` into the site's ``_static/``.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import html
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BOOK_CONF = ROOT / "book"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
VEGA_MIME = re.compile(r"^application/vnd\.vega(lite)?\.v\d+(\.\d+)*\+json$")
WIDGET_NOTE = ("Interactive in the notebook: run it to use these widgets. Shown here as they were "
               "when the book was built.")
#: a cell with one of these tags is left out of the book (page and downloadable notebook)
SOLUTION_TAGS = {"solution", "solutions", "answer"}


@dataclass
class BookResult:
    """What :func:`build` made: the page to open, each notebook's page and how it was run."""

    index: Path
    pages: dict[str, Path]
    executed: dict[str, str]  # notebook -> "executed" | "reused" | "as saved" | "not executed"
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


# -- 1-2. staging and execution --------------------------------------------------------------


def _has_outputs(nb) -> bool:
    return any(c.get("outputs") for c in nb.cells if c.cell_type == "code")


def _library_hash() -> str:
    """sha256 of ecr_lab's own source files: a change in the library invalidates executed copies."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _cells_key(nb, profile: str) -> str:
    """What an executed copy depends on: the cells, the profile and the library's source."""
    cells = [[c.cell_type, c.source] for c in nb.cells]
    return hashlib.sha256(json.dumps([cells, profile, _library_hash()]).encode()).hexdigest()


def execute_notebook(src: Path, dest: Path, timeout: int = 1800, env: dict | None = None) -> None:
    """Run ``src`` top to bottom with nbclient (its widget state kept) and write it to ``dest``.

    The working directory is the notebook's own folder, as under nbmake; a cell that raises stops
    the build with nbclient's error, which names the cell."""
    import nbclient
    import nbformat

    nb = nbformat.read(src, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    client = nbclient.NotebookClient(nb, timeout=timeout, kernel_name=kernel, store_widget_state=True,
                                     resources={"metadata": {"path": str(src.parent)}})
    client.execute(env=env) if env is not None else client.execute()
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


# -- 3. static outputs -------------------------------------------------------------------------


def vega_html(spec: dict, mime: str = "application/vnd.vegalite.v6+json", embed_options: dict | None = None) -> str:
    """A chart container that ``ecr-vega.js`` fills with an interactive vega-embed view."""
    payload = json.dumps(spec).replace("</", "<\\/").replace("<!--", "<\\!--")
    opts = html.escape(json.dumps(embed_options or {}), quote=True)
    return (f'<div class="ecr-vega" data-mime="{html.escape(mime)}" data-embed-options="{opts}">'
            f'<div class="ecr-vega-view"></div>'
            f'<script type="application/json" class="ecr-vega-spec">{payload}</script>'
            f'<noscript>This chart needs JavaScript (no network).</noscript></div>')


def _html_output(fragment: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {"text/html": fragment}}


def _chart_output(spec: dict, mime: str, embed_options: dict | None = None) -> dict:
    return {"output_type": "display_data", "metadata": {},
            "data": {"text/html": vega_html(spec, mime, embed_options), mime: spec}}


def _control_html(name: str, st: dict) -> str:
    """A control as its state: description and value (the selected label for a selection)."""
    desc = st.get("description") or ""
    labels = st.get("_options_labels")
    value = st.get("value")
    if labels is not None and st.get("index") is not None:
        idx = st["index"]
        if isinstance(idx, (list, tuple)):
            value = ", ".join(str(labels[i]) for i in idx if 0 <= i < len(labels))
        elif 0 <= idx < len(labels):
            value = labels[idx]
    kind = name.removesuffix("Model")
    if kind == "Button":
        text = desc or "button"
    else:
        text = f"{desc} {value}" if desc else f"{kind}: {value}"
    return (f'<span class="ecr-widget-static" title="{html.escape(kind)} (run the notebook to use it)">'
            f"{html.escape(str(text).strip())}</span>")


def _widget_pieces(model_id: str, states: dict, seen: set, flags: dict) -> list:
    """What one widget showed, in order: ``("html", fragment)`` or ``("output", output)`` pieces."""
    if model_id not in states:  # a notebook saved without its widget state
        flags["missing"] = True
        return []
    if model_id in seen:
        return []
    seen.add(model_id)
    model = states[model_id]
    name, st = model.get("model_name", ""), model.get("state", {})
    if isinstance(st.get("spec"), dict) and (name == "AnyModel" or "JupyterChart" in str(st.get("_anywidget_id"))):
        schema = str(st["spec"].get("$schema", ""))
        m = re.search(r"/schema/(vega-lite|vega)/v(\d+)", schema)
        mime = (f"application/vnd.{m.group(1).replace('-', '')}.v{m.group(2)}+json" if m
                else "application/vnd.vegalite.v6+json")
        return [("output", _chart_output(st["spec"], mime, st.get("embed_options")))]
    if name == "OutputModel":
        return [("output", o) for o in _static_outputs(st.get("outputs", []), states, seen)]
    if "children" in st:  # VBox, HBox, Box, GridBox, Accordion, Tab
        pieces = []
        for child in st.get("children", []):
            pieces += _widget_pieces(str(child).removeprefix("IPY_MODEL_"), states, seen, flags)
        if name.startswith("HBox") and pieces and all(k == "html" for k, _ in pieces):
            return [("html", '<div class="ecr-widget-row">' + "".join(f for _, f in pieces) + "</div>")]
        return pieces
    if name in ("HTMLModel", "HTMLMathModel"):
        return [("html", f'<span class="ecr-widget-html">{st.get("value", "")}</span>')]
    if name == "LabelModel":
        return [("html", f'<span class="ecr-widget-html">{html.escape(str(st.get("value", "")))}</span>')]
    if name in ("FloatProgressModel", "IntProgressModel"):
        lo, hi, v = st.get("min", 0), st.get("max", 100), st.get("value", 0)
        return [("html", f'<progress class="ecr-widget-progress" max="{hi - lo}" value="{v - lo}"></progress>')]
    if name in ("LayoutModel", "DescriptionStyleModel", "SliderStyleModel", "ProgressStyleModel") or name.endswith("StyleModel"):
        return []
    flags["interactive"] = True
    return [("html", _control_html(name, st))]


def _widget_outputs(view: dict, states: dict, seen: set) -> list[dict]:
    flags: dict = {}
    pieces = _widget_pieces(str(view.get("model_id", "")), states, seen, flags)
    outs, buf = [], []
    for kind, item in pieces:
        if kind == "html":
            buf.append(item)
            continue
        if buf:
            outs.append(_html_output('<div class="ecr-widget-static-block">' + "".join(buf) + "</div>"))
            buf = []
        outs.append(item)
    if buf:
        outs.append(_html_output('<div class="ecr-widget-static-block">' + "".join(buf) + "</div>"))
    if flags.get("interactive") or flags.get("missing"):
        note = WIDGET_NOTE if not flags.get("missing") else (
            "Interactive in the notebook: run it to use these widgets (their state was not saved).")
        outs.insert(0, _html_output(f'<p class="ecr-widget-note">{html.escape(note)}</p>'))
    return outs


def _static_outputs(outputs: list, states: dict, seen: set) -> list[dict]:
    """Outputs with every widget view and Vega(-Lite) bundle replaced by static, offline HTML."""
    result = []
    for out in outputs:
        data = out.get("data", {}) if isinstance(out, dict) else {}
        vega = next((m for m in data if VEGA_MIME.match(m)), None)
        if vega is not None:
            o = copy.deepcopy(dict(out))
            o["data"] = {"text/html": vega_html(data[vega], vega), vega: data[vega]}
            o.pop("execution_count", None)
            o["output_type"] = "display_data"
            result.append(o)
        elif WIDGET_VIEW in data:
            result += _widget_outputs(data[WIDGET_VIEW], states, seen)
        else:
            result.append(out)
    return result


_REMOTE_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*https?://[^)\s]+(?:\s+\"[^\"]*\")?\s*\)")
_REMOTE_HTML_IMAGE = re.compile(r"<img\b[^>]*\bsrc=[\"']https?://[^>]*>", re.I)


def _alt_text(tag: str) -> str:
    m = re.search(r"\balt=[\"']([^\"']*)", tag)
    return m.group(1) if m else ""


def make_static(nb) -> dict:
    """Prepare an executed notebook (an ``nbformat`` node, changed in place) for static reading;
    returns counts: ``charts``, ``widgets``, ``removed`` (solution cells), ``images``."""
    import nbformat

    widgets = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {})
    states = widgets.get("state", {})
    counts = {"charts": 0, "widgets": 0, "removed": 0, "images": 0}
    kept = [c for c in nb.cells if not SOLUTION_TAGS & set(c.get("metadata", {}).get("tags", []))]
    counts["removed"], nb.cells = len(nb.cells) - len(kept), kept  # not in the page, nor its download
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            src, n1 = _REMOTE_MD_IMAGE.subn(lambda m: m.group(1), cell.source)
            src, n2 = _REMOTE_HTML_IMAGE.subn(lambda m: _alt_text(m.group(0)), src)
            cell.source, counts["images"] = src, counts["images"] + n1 + n2
        if cell.cell_type != "code" or not cell.get("outputs"):
            continue
        counts["widgets"] += sum(WIDGET_VIEW in o.get("data", {}) for o in cell.outputs)
        cell.outputs = [nbformat.from_dict(o) for o in _static_outputs(cell.outputs, states, set())]
        counts["charts"] += sum("ecr-vega" in str(o.get("data", {}).get("text/html", "")) for o in cell.outputs)
    nb.metadata.pop("widgets", None)
    return counts


# -- 4-5. Sphinx and the offline check ---------------------------------------------------------

_REMOTE_REF = re.compile(
    r"<(?:script|img|iframe|source|audio|video)\b[^>]*\bsrc=[\"'](?:https?:)?//[^\"']+[\"']"
    r"|<link\b[^>]*\bhref=[\"'](?:https?:)?//[^\"']+[\"'][^>]*>"
    r"|@import\s+(?:url\()?[\"']?(?:https?:)?//", re.I)


def remote_references(site: Path) -> dict[str, list[str]]:
    """Per HTML page of ``site``: every script, stylesheet, image or frame it would fetch from the
    network (links a reader may follow are fine)."""
    found = {}
    for page in sorted(Path(site).rglob("*.html")):
        hits = [m.group(0)[:160] for m in _REMOTE_REF.finditer(page.read_text(errors="replace"))]
        if hits:
            found[str(page.relative_to(site))] = hits
    return found


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


_HTML_ANCHOR = re.compile(r'^<a id="([\w.-]+)"></a>', re.M)


def myst_targets(markdown: str) -> str:
    """``<a id="term-x"></a>`` at the start of a paragraph (the glossary's anchors) -> a MyST target
    ``(term-x)=`` on the line before, so that Sphinx resolves ``glossary.md#term-x`` links."""
    return _HTML_ANCHOR.sub(lambda m: f"({m.group(1)})=\n", markdown)


def _readme_section(readme: Path, title: str) -> str:
    """One ``## title`` section of the README (its table of notebooks), or "" when absent."""
    text = Path(readme).read_text()
    m = re.search(rf"^## {re.escape(title)}\s*$(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1).strip() if m else ""


def build(out: str | os.PathLike = "build/book", execute: bool = True,
          notebooks_dir: str | os.PathLike = ROOT / "notebooks", *,
          glossary: str | os.PathLike | None = ROOT / "docs" / "glossary.md",
          guides: tuple[str | os.PathLike, ...] = (ROOT / "docs" / "workshop.md",),
          readme: str | os.PathLike | None = ROOT / "README.md",
          stage: str | os.PathLike | None = None, conf_dir: str | os.PathLike = BOOK_CONF,
          profile: str | None = None, timeout: int = 1800, strict: bool = False,
          log=print) -> BookResult:
    """Build the book of ``notebooks_dir`` into ``out`` (open ``out/index.html``).

    ``stage`` (default ``<out>-src``) keeps the executed notebooks (``executed/``), the Sphinx
    source (``src/``) and doctrees between builds. ``profile`` sets ``ECR_LAB_PROFILE`` for the
    kernels (default: the environment's). ``strict`` turns Sphinx warnings into an error. Raises
    when a notebook fails, Sphinx fails, or a page would load anything from the network."""
    import nbformat

    t0 = time.time()
    out, notebooks_dir, conf_dir = Path(out).resolve(), Path(notebooks_dir).resolve(), Path(conf_dir).resolve()
    stage = Path(stage).resolve() if stage else out.with_name(out.name + "-src")
    src, executed_dir = stage / "src", stage / "executed"
    if not (conf_dir / "conf.py").exists():
        raise FileNotFoundError(f"no Sphinx configuration at {conf_dir / 'conf.py'} (the repository's book/)")
    notebooks = sorted(p for p in notebooks_dir.glob("*.ipynb") if not p.name.startswith("."))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {notebooks_dir}")
    env = dict(os.environ)
    if profile:
        env["ECR_LAB_PROFILE"] = profile
    key_profile = env.get("ECR_LAB_PROFILE", "")

    # the Sphinx source: only what this build puts there
    if (src / "notebooks").exists():
        for old in (src / "notebooks").glob("*.ipynb"):
            if old.name not in {p.name for p in notebooks}:
                old.unlink()
    how: dict[str, str] = {}
    pages: dict[str, Path] = {}
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        key = _cells_key(nb, key_profile)
        cached = executed_dir / path.name
        if _has_outputs(nb):
            how[path.stem] = "as saved"
        elif not execute:
            how[path.stem] = "not executed"
        elif cached.exists() and nbformat.read(cached, as_version=4).metadata.get("ecr_lab_book", {}).get("key") == key:
            nb, how[path.stem] = nbformat.read(cached, as_version=4), "reused"
        else:
            log(f"executing {path.name} (profile {key_profile or 'auto'}) ...")
            t = time.time()
            execute_notebook(path, cached, timeout=timeout, env=env)
            nb = nbformat.read(cached, as_version=4)
            nb.metadata["ecr_lab_book"] = {"key": key, "profile": key_profile, "seconds": round(time.time() - t, 1)}
            nbformat.write(nb, cached)
            how[path.stem] = "executed"
            log(f"  {path.name}: {time.time() - t:.0f} s")
        nb.metadata.pop("ecr_lab_book", None)
        make_static(nb)
        _write_if_changed(src / "notebooks" / path.name, nbformat.writes(nb))
        pages[path.stem] = out / "notebooks" / f"{path.stem}.html"

    index = (conf_dir / "index.md").read_text()
    if readme and Path(readme).exists():
        index = index.replace("<!-- README: The notebooks -->", _readme_section(Path(readme), "The notebooks"))
    runs = ", ".join(f"`{name}` {what}" for name, what in how.items())
    index += (f"\n\n---\n\n*How this book was made*: {runs}; profile `{key_profile or 'auto'}`; "
              "built offline by `make book` (`python -m ecr_lab.book`).\n")
    reference = []  # the Reference part of the table of contents: the pages this build has
    glossary_dest = src / "docs" / "glossary.md"
    if glossary and Path(glossary).exists():
        _write_if_changed(glossary_dest, myst_targets(Path(glossary).read_text()))
        reference.append("docs/glossary")
    else:
        glossary_dest.unlink(missing_ok=True)
    for guide in guides:
        if Path(guide).exists():
            _write_if_changed(src / "docs" / Path(guide).name, Path(guide).read_text())
            reference.append(f"docs/{Path(guide).stem}")
    for old in (src / "docs").glob("*.md") if (src / "docs").exists() else []:
        if f"docs/{old.stem}" not in reference:
            old.unlink()
    if reference:
        toc = "\n".join(reference)
        index = index.replace("<!-- Reference pages -->",
                              f"```{{toctree}}\n:caption: Reference\n:maxdepth: 1\n\n{toc}\n```")
    _write_if_changed(src / "index.md", index.replace("<!-- Reference pages -->", ""))

    log(f"sphinx-build -> {out}")
    warnings_file = stage / "sphinx-warnings.txt"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-c", str(conf_dir), "-d", str(stage / "doctrees"),
           "-w", str(warnings_file), "--keep-going", str(src), str(out)]
    if strict:
        cmd.insert(-2, "-W")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    warnings = [w for w in warnings_file.read_text().splitlines() if w.strip()] if warnings_file.exists() else []
    if proc.returncode != 0:
        raise RuntimeError(f"sphinx-build failed ({proc.returncode}):\n{proc.stderr[-4000:]}\n" + "\n".join(warnings[-20:]))
    remote = remote_references(out)
    if remote:
        raise RuntimeError(f"pages of the book would load from the network: {json.dumps(remote, indent=1)[:3000]}")
    return BookResult(index=out / "index.html", pages=pages, executed=how, warnings=warnings,
                      seconds=time.time() - t0)


# -- the Sphinx extension: local vega bundle, chart renderer, book CSS -------------------------

RENDER_JS = r"""// ecr_lab.book: draw every chart of the page with the local vega bundle (no network).
(function () {
  var ACTIONS = {export: true, source: false, compiled: false, editor: false};
  function draw(box) {
    if (box.dataset.rendered) return;
    box.dataset.rendered = "pending";
    var view = box.querySelector(".ecr-vega-view");
    try {
      var spec = JSON.parse(box.querySelector("script.ecr-vega-spec").textContent);
      var opts = Object.assign({renderer: "svg", actions: ACTIONS}, JSON.parse(box.dataset.embedOptions || "{}"));
      opts.actions = ACTIONS;  // the editor action would go online
      window.vegaEmbed(view, spec, opts).then(function () { box.dataset.rendered = "ok"; })
        .catch(function (err) { fail(box, view, err); });
    } catch (err) { fail(box, view, err); }
  }
  function fail(box, view, err) {
    box.dataset.rendered = "error";
    view.textContent = "This chart could not be drawn: " + err;
    console.error("ecr-vega:", err);
  }
  function drawAll() {
    if (!window.vegaEmbed) { console.error("ecr-vega: vega-bundle.js did not load"); return; }
    document.querySelectorAll("div.ecr-vega").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
"""

BOOK_CSS = """/* ecr_lab.book */
div.ecr-vega { overflow-x: auto; margin: 0.5em 0; }
div.ecr-vega .vega-embed { max-width: 100%; }
.cell.tag_exercise { border-left: 4px solid #e69f00; padding-left: 0.75em; }
.cell.tag_exercise::before { content: "Exercise: run the notebook to try it and get feedback";
  display: block; font-size: 0.85em; font-weight: 600; color: #a15c00; margin-bottom: 0.25em; }
p.ecr-widget-note { font-style: italic; color: #a15c00; border-left: 3px solid #e69f00; padding-left: 0.5em; }
div.ecr-widget-row { display: flex; flex-wrap: wrap; gap: 1em; align-items: center; }
span.ecr-widget-static { display: inline-block; border: 1px solid #bbb; border-radius: 4px;
  padding: 0.1em 0.5em; margin: 0.15em 0.5em 0.15em 0; font-size: 0.9em; background: #f6f6f6; }
"""


def _add_static(app, config) -> None:
    """Write the chart scripts and the CSS next to the doctrees and add that folder to
    ``html_static_path``, so Sphinx copies (and fingerprints) them like any static file."""
    import vl_convert as vlc

    static = Path(app.doctreedir) / "ecr_lab_static"
    static.mkdir(parents=True, exist_ok=True)
    bundle, stamp = static / "vega-bundle.js", static.parent / "ecr_lab_vega_bundle.version"
    version = f"vl-convert-python {vlc.__version__}, in a function scope"
    if not bundle.exists() or not stamp.exists() or stamp.read_text() != version:
        # vega, vega-lite and vega-embed, set on window. In a function scope: the bundle's top-level
        # `const _` would otherwise clash with Sphinx's own global `_` (one global scope for all
        # classic scripts), and a module script cannot load from file://.
        bundle.write_text("(function () {\n" + vlc.javascript_bundle() + "\n}).call(window);\n")
        stamp.write_text(version)
    _write_if_changed(static / "ecr-vega.js", RENDER_JS)
    _write_if_changed(static / "ecr-book.css", BOOK_CSS)
    config.html_static_path = [*config.html_static_path, str(static)]


def setup(app):
    """Sphinx extension: the local vega bundle, the chart renderer and the book's CSS on every page."""
    app.connect("config-inited", _add_static)
    app.add_js_file("vega-bundle.js")
    app.add_js_file("ecr-vega.js")
    app.add_css_file("ecr-book.css")
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ecr_lab.book", description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="build/book", help="where the HTML goes (default build/book)")
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"), help="folder of notebooks")
    ap.add_argument("--no-execute", action="store_true", help="do not run notebooks without outputs")
    ap.add_argument("--profile", default=os.environ.get("ECR_LAB_PROFILE", "fast"),
                    help="ECR_LAB_PROFILE for the kernels (default: $ECR_LAB_PROFILE, else fast)")
    ap.add_argument("--strict", action="store_true", help="Sphinx warnings are errors")
    args = ap.parse_args(argv)
    res = build(args.out, execute=not args.no_execute, notebooks_dir=args.notebooks, profile=args.profile,
                strict=args.strict)
    for w in res.warnings:
        print("warning:", w)
    print(f"book built in {res.seconds:.0f} s ({', '.join(f'{k}: {v}' for k, v in res.executed.items())})")
    print(f"open {res.index.as_uri()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
