"""The notebooks themselves: stripped outputs, a kernelspec, a Colab badge and guarded install cell,
one setup call, and thin code (no function or class defined in a notebook)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_the_four_notebooks_exist():
    assert [p.stem for p in NOTEBOOKS] == ["01_collapse", "02_anchors", "03_training", "04_drift_widgets"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_hygiene(path):
    nb = json.loads(path.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    for c in code:
        assert c.get("outputs") == [] and c.get("execution_count") is None, f"{path.name}: outputs not stripped"
        if "exercise" in c.get("metadata", {}).get("tags", []):
            continue  # a learner's exercise cell may define a function: the learner's code, not a helper
        src = "".join(c["source"])
        assert "\ndef " not in "\n" + src and "\nclass " not in "\n" + src, f"{path.name}: helpers belong in ecr_lab"
    first_md = "".join(nb["cells"][0]["source"])
    assert "colab.research.google.com/github/" in first_md and path.name in first_md
    install = "".join(code[0]["source"])
    assert '"google.colab" in sys.modules' in install and "torch" not in install.split("\n", 1)[1]
    assert "ecr_lab.setup()" in "".join(code[1]["source"])
