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
    assert "ecr_lab.setup(PROFILE" in "".join(code[1]["source"])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_is_a_lesson(path):
    """Objectives up front (3-5), at least three exercises with checks, the end-of-notebook check,
    and no glossary term used before the cell that defines it."""
    import re

    from ecr_lab import glossary
    from ecr_lab.exercises import EXERCISES

    nb = json.loads(path.read_text())
    md = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    objectives = next((m for m in md if m.startswith("## After this notebook you can")), None)
    assert objectives is not None, f"{path.name}: no '## After this notebook you can' cell"
    items = re.findall(r"^\s*(?:\d+\.|[-*])\s+\S", objectives, flags=re.M)
    assert 3 <= len(items) <= 5, f"{path.name}: {len(items)} objectives, want 3-5"
    first_lesson_cell = min(i for i, c in enumerate(nb["cells"]) if "".join(c["source"]).startswith("## ")
                            and "Terms used here" not in "".join(c["source"]))
    assert "".join(nb["cells"][first_lesson_cell]["source"]) == objectives, f"{path.name}: objectives must come first"
    checked = {name for src in code for name in re.findall(r'check\("(ex\d\d_\w+)"\)', src)}
    mine = {name for name, ex in EXERCISES.items() if ex.notebook == path.stem}
    assert len(mine) >= 3 and mine <= checked, f"{path.name}: exercises without a check cell: {sorted(mine - checked)}"
    assert any(f'exercises.report("{path.stem}")' in src for src in code[-2:]), f"{path.name}: no check at the end"
    assert glossary.first_use_violations(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_number_left_to_fill(path):
    """Prose written before its numbers were measured carries ``{{NUM: ...}}`` placeholders; none may ship."""
    assert "{{NUM" not in path.read_text(), f"{path.name}: a {{{{NUM: ...}}}} placeholder is left"
