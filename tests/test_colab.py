"""The Colab install cell (pinned in one place) and the expected notebook times."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from ecr_lab import __version__, colab

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_installs_the_pinned_release(path):
    nb = nbformat.read(path, as_version=4)
    first = next(c for c in nb.cells if c.cell_type == "code")
    assert first.source == colab.install_cell(), "run: python -m ecr_lab.colab notebooks"
    assert f"@v{__version__}" in first.source and "torch" not in first.source.split("\n", 1)[1]
    setup = [c.source for c in nb.cells if c.cell_type == "code"][1]
    assert f'ecr_lab.setup(PROFILE, notebook="{path.stem}")' in setup and "PROFILE = None" in setup


def test_set_install_cells_rewrites_only_what_differs(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# t"), nbformat.v4.new_code_cell("old")])
    nbformat.write(nb, tmp_path / "a.ipynb")
    assert colab.set_install_cells(tmp_path, ref="v9") == [tmp_path / "a.ipynb"]
    assert "@v9" in nbformat.read(tmp_path / "a.ipynb", as_version=4).cells[1].source
    assert colab.set_install_cells(tmp_path, ref="v9") == []


def test_expected_time_comes_from_measurements_only(tmp_path):
    path = tmp_path / "times.json"
    assert colab.measured_times(path) == {}
    assert "not measured" in colab.expected_time("01_collapse", "fast", "cpu", times={})
    assert "docs/gpu_sizing.md" in colab.expected_time("03_training", "gpu", "cuda", times={})
    colab.write_times([{"notebook": "01_collapse", "profile": "fast", "device": "cpu", "phase": "cold", "wall_s": 90},
                       {"notebook": "01_collapse", "profile": "fast", "device": "cpu", "phase": "warm", "wall_s": 30}],
                      machine="2 CPU cores", path=path)
    line = colab.expected_time("01_collapse", "fast", "cpu", times=colab.measured_times(path))
    assert line == ("expected time: about 1.5 min the first time, 0.5 min once the workspace cache is warm "
                    "(measured on 2 CPU cores)")
    assert "not measured" in colab.expected_time("01_collapse", "full", "cpu", times=colab.measured_times(path))
    path.write_text(json.dumps([1, 2]))
    with pytest.raises(ValueError, match="notebooks_suite.py"):
        colab.measured_times(path)


def test_the_colab_packages_carry_the_pins_of_pyproject():
    import tomllib

    root = Path(__file__).resolve().parent.parent
    deps = set(tomllib.loads((root / "pyproject.toml").read_text())["project"]["dependencies"])
    assert set(colab.COLAB_PACKAGES) <= {d.split(";")[0].strip() for d in deps}
    assert all(f'"{p}"' in colab.install_cell() for p in colab.COLAB_PACKAGES)
