"""Exercises with automatic feedback (ecr_lab.exercises): every check passes on its reference
solution, fails with a teaching hint on each wrong answer, and says "not attempted yet" (without
raising) on the learner notebook's placeholders; the registry, the otter check files, the notebook
cells and docs/exercises_cells.md agree. Small stand-ins only: no teacher, no training."""

from __future__ import annotations

import ast
import json
import random
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from exercise_solutions import REFERENCES, effective_rank, stand_ins

from ecr_lab import exercises
from ecr_lab.exercises import CHECKS_DIR, EXERCISES, NotAttempted, cells, check, passed

ROOT = Path(__file__).resolve().parent.parent
NAMES = list(EXERCISES)


def _run_cells(name: str) -> dict:
    """The notebook's stand-ins, after running the exercise's cells as the learner's notebook has them
    (placeholders unchanged), as nbmake would."""
    env = stand_ins(EXERCISES[name].notebook)
    (ins,) = [i for i in cells.INSERTIONS if i.exercise == name]
    for kind, source, _ in ins.cells():
        if kind == "code":
            exec(compile(source, f"<{name} cell>", "exec"), env)
    return env


def _messages(result) -> str:
    """The failing test cases' messages of an otter result, one after another."""
    return "\n".join(r.message for r in result.test_case_results if not r.passed)


# -- the registry -----------------------------------------------------------------------------------------

def test_every_notebook_has_three_exercises_of_mixed_kinds():
    per_notebook = Counter(e.notebook for e in EXERCISES.values())
    assert set(per_notebook) == set(exercises.NOTEBOOKS)
    assert all(n >= 3 for n in per_notebook.values()), per_notebook
    for nb in exercises.NOTEBOOKS:
        kinds = {e.kind for e in EXERCISES.values() if e.notebook == nb}
        assert len(kinds) >= 2, f"{nb}: only {kinds}"
    assert {e.kind for e in EXERCISES.values()} == set(exercises.KINDS)


def test_names_and_notebooks_agree():
    for name, ex in EXERCISES.items():
        assert ex.name == name and re.fullmatch(r"ex0[1-4]_[a-z0-9_]+", name)
        assert name[2:4] == ex.notebook[:2]
        assert ex.prompt and ex.objective and ex.answers
        if ex.kind == "predict":
            assert ex.measured and any(v in ex.choices for v in ex.answers), name


def test_each_check_file_matches_a_registry_entry_and_reads_every_answer():
    files = {p.stem: p for p in CHECKS_DIR.glob("*.py")}
    assert set(files) == set(EXERCISES)
    for name, path in files.items():
        tree = ast.parse(path.read_text())
        assigned = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                    for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
        assert assigned.get("name") == name and assigned.get("OK_FORMAT") is False, path
        params = {a.arg for n in tree.body if isinstance(n, ast.FunctionDef) for a in n.args.args}
        assert set(EXERCISES[name].answers) <= params, f"{name}: the check never reads {set(EXERCISES[name].answers) - params}"


def test_unknown_exercise_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown exercise 'ex09_nothing'.*ex01_rank.*ex04_k_tokens"):
        check("ex09_nothing", {})


# -- not attempted ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_learner_cells_run_and_say_not_attempted(name):
    env = _run_cells(name)
    result = check(name, env)
    assert isinstance(result, NotAttempted) and not passed(result)
    learner_vars = [v for v in EXERCISES[name].answers if v not in EXERCISES[name].measured]
    assert result.variable == learner_vars[0]
    if EXERCISES[name].kind == "code":  # a function: the message says which bodies count as not written
        assert result.function
        assert (f"{name}: not attempted yet: write `{result.variable}` and run this cell again (a function whose "
                "body is only `...`, `pass` or returns None counts as not written yet)") in repr(result)
        assert "<code>pass</code>" in result._repr_html_()
    else:
        assert f"{name}: not attempted yet: set `{result.variable}` and run this cell again" in repr(result)
    assert "not attempted yet" in result._repr_html_()


def test_a_missing_measurement_asks_for_the_experiment_cell():
    result = check("ex01_centring", {"pred_centring": "both"})
    assert isinstance(result, NotAttempted) and result.variable == "centring_measured"
    assert "run the experiment cell that computes `centring_measured`" in result.message


def test_placeholders():
    def stub(X):
        """Docstring only."""
        ...  # your code here

    def passes(X):
        pass

    def returns_none(X):
        return None

    assert exercises.is_placeholder(...) and exercises.is_placeholder(stub) and exercises.is_placeholder(passes)
    assert exercises.is_placeholder(returns_none)
    result = check("ex01_rank", {"effective_rank": returns_none})
    assert isinstance(result, NotAttempted) and "returns None counts as not written yet" in result.message
    assert not exercises.is_placeholder(effective_rank) and not exercises.is_placeholder(None)
    assert not exercises.is_placeholder("...") and not exercises.is_placeholder(0)


# -- solutions pass, wrong answers fail with a hint --------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_solution_passes(name):
    env = _run_cells(name)
    env.update(REFERENCES[name].solution(env))
    result = check(name, env)
    assert passed(result), f"{name}: the reference solution fails:\n{_messages(result)}"
    assert "passed" in result._repr_html_()


@pytest.mark.parametrize("name,wrong", [(n, w) for n in NAMES for w in REFERENCES[n].wrong],
                         ids=lambda v: v if isinstance(v, str) else v.label)
def test_wrong_answer_fails_with_its_hint(name, wrong):
    env = _run_cells(name)
    env.update(REFERENCES[name].solution(env))
    env.update(wrong.answers(env))
    result = check(name, env)
    assert not passed(result), f"{name}: the wrong answer '{wrong.label}' passes"
    messages = _messages(result)
    assert wrong.hint in messages, f"{name} / {wrong.label}: hint {wrong.hint!r} not in\n{messages}"
    feedback = [m.split("AssertionError: ", 1)[1] for m in messages.split("❌ Test case failed") if "AssertionError: " in m]
    assert feedback and all(len(f.strip()) > 40 for f in feedback), "a failure must explain, not just fail"
    assert not any(c in f for f in feedback for c in "<>"), "otter renders messages as HTML: no angle brackets"


@pytest.mark.parametrize("name,right", [(n, r) for n in NAMES for r in REFERENCES[n].right],
                         ids=lambda v: v if isinstance(v, str) else v.label)
def test_other_right_answers_pass(name, right):
    """Answers that differ from the reference but are right (e.g. Procrustes up to a translation)."""
    env = _run_cells(name)
    env.update(right.answers(env))
    result = check(name, env)
    assert passed(result), f"{name} / {right.label}: a right answer fails:\n{_messages(result)}"


def test_procrustes_feedback_never_calls_a_better_rotation_not_the_best():
    """A learner who centres both maps (as widgets.align_frames does) leaves a smaller residual than the
    uncentred reference: that passes, and no rotation as good as the best is called "not the best one"."""
    from exercise_solutions import procrustes_align_centred

    from ecr_lab.exercises import nb04

    rng = np.random.default_rng(8)
    x = rng.standard_normal((25, 3))
    y = x @ np.linalg.qr(rng.standard_normal((3, 3)))[0] + 0.3 + 0.05 * rng.standard_normal((25, 3))  # a shift too
    nb04._align_case(procrustes_align_centred, y, x, "a shifted cloud")  # raises nothing

    def rotated_a_bit(Y, X):  # a rotation, but not the best one
        return procrustes_align_centred(Y, X) @ np.linalg.qr(np.eye(3) + 0.2 * np.ones((3, 3)))[0]

    with pytest.raises(AssertionError, match="not the best one") as err:
        nb04._align_case(rotated_a_bit, y, x, "a shifted cloud")
    res, best = (float(v) for v in re.findall(r"at (\d+\.\d+) where (\d+\.\d+)", str(err.value))[0])
    assert res > best


def test_every_exercise_has_a_wrong_answer():
    assert set(REFERENCES) == set(EXERCISES)
    assert all(len(r.wrong) >= 1 for r in REFERENCES.values())


def test_a_prediction_only_passes_when_it_matches_the_measurement():
    measured = {"anisotropy": (0.6, 0.0), "language_probe": (0.95, 0.95)}
    assert passed(check("ex01_centring", {"pred_centring": "anisotropy", "centring_measured": measured}))
    assert passed(check("ex01_centring", {"pred_centring": " Anisotropy ", "centring_measured": measured}))
    assert not passed(check("ex01_centring", {"pred_centring": "neither", "centring_measured": measured}))
    tie = {"m": 0, "cue_free": 0.3, "oracle": 0.302, "chosen": 0.3}  # oracle within tolerance: either is right
    assert passed(check("ex03_oracle_m0", {"pred_m0": "oracle", "m0_measured": tie}))
    assert passed(check("ex03_oracle_m0", {"pred_m0": "cue_free", "m0_measured": tie}))


# -- how check runs otter ---------------------------------------------------------------------------------

def test_check_reads_the_callers_globals():
    namespace = {"check": check, "effective_rank": effective_rank}
    exec("result = check('ex01_rank')", namespace)
    assert passed(namespace["result"])
    namespace = {"check": check}
    exec("result = check('ex01_rank')", namespace)
    assert isinstance(namespace["result"], NotAttempted)


def test_check_writes_and_reads_nothing_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "course.otter").write_text("not json")  # otter's own Notebook would try to load this
    (tmp_path / "lesson.ipynb").write_text("not a notebook")  # ... and read this
    (tmp_path / "tests").mkdir()  # ... and look for checks here
    before = sorted(p.name for p in tmp_path.iterdir())
    assert passed(check("ex01_rank", {"effective_rank": effective_rank}))
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no .OTTER_LOG


def test_our_notebook_sets_what_otters_sets(tmp_path, monkeypatch):
    """Our otter.Notebook skips otter's __init__ (file side effects): it must still set every
    attribute otter's sets, or a new otter version broke the assumption."""
    from otter import Notebook

    monkeypatch.chdir(tmp_path)
    theirs = Notebook(tests_dir=str(CHECKS_DIR))
    ours = exercises._notebook()
    assert isinstance(ours, Notebook)
    assert set(vars(theirs)) <= set(vars(ours))


def test_rendering_a_passed_check_leaves_random_alone():
    result = check("ex01_rank", {"effective_rank": effective_rank})
    random.seed(0)
    expected = random.random()
    random.seed(0)
    assert "passed" in result._repr_html_()
    assert random.random() == expected


# -- notebook cells and their document --------------------------------------------------------------------------

def test_cells_cover_every_exercise_once():
    assert sorted(i.exercise for i in cells.INSERTIONS) == sorted(EXERCISES)
    for ins in cells.INSERTIONS:
        ex = EXERCISES[ins.exercise]
        learner = ins.learner + ins.experiment
        assert f'check("{ins.exercise}")' in learner
        for var in ex.answers:
            if var not in ex.measured:
                assert re.search(rf"^{var} = \.\.\.|^def {var}\(", ins.learner, re.M), f"{ins.exercise}: no placeholder for {var}"
            else:
                assert re.search(rf"^{var} = ", ins.experiment, re.M), f"{ins.exercise}: the experiment never sets {var}"
        for choices in ex.choices.values():
            assert all(f'"{k}"' in ins.learner for k in choices), f"{ins.exercise}: the learner cell omits a choice"


@pytest.mark.parametrize("notebook", exercises.NOTEBOOKS)
def test_cells_fit_the_notebook(notebook):
    """Before the cells are inserted, each goes after exactly one existing cell; once inserted, every
    exercise of the registry is in the notebook."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    present = {n for n in EXERCISES if any(f'check("{n}")' in c.source for c in nb.cells)}
    mine = {n for n, e in EXERCISES.items() if e.notebook == notebook}
    if not present:
        n_before = len(nb.cells)
        cells.insert(nb, notebook)
        tagged = [c for c in nb.cells if cells.TAG in c.metadata.get("tags", [])]
        assert len(tagged) == len(mine) and len(nb.cells) > n_before
        json.loads(nbformat.writes(nb))
    else:
        assert present == mine, f"{notebook}: exercises missing from the notebook: {mine - present}"


@pytest.mark.parametrize("notebook", exercises.NOTEBOOKS)
def test_notebook_exercise_cells_are_the_cells_of_cells_py(notebook):
    """Every exercise's cells in the notebook (prompt, learner cell with its tag, experiment cell) are, in
    order and one after another, exactly the sources of ``ecr_lab.exercises.cells``, right after the cell
    they follow (or after the previous exercise's cells that follow the same cell)."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    have = [(c.cell_type, c.source, tuple(c.metadata.get("tags", ()))) for c in nb.cells]
    previous_end = {}
    for ins in cells.insertions(notebook):
        want = [(kind, source, tuple(tags)) for kind, source, tags in ins.cells()]
        starts = [i for i, c in enumerate(have) if c == want[0]]
        assert len(starts) == 1, f"{notebook}: the prompt of {ins.exercise} is {len(starts)} times in the notebook, " \
                                 "as cells.py has it (edit cells.py, then the notebook)"
        i = starts[0]
        for j, (got, expected) in enumerate(zip(have[i:i + len(want)], want, strict=False)):
            assert got == expected, f"{notebook}: cell {i + j} ({ins.exercise}) differs from cells.py"
        assert len(have[i:i + len(want)]) == len(want), f"{notebook}: {ins.exercise} ends the notebook too early"
        before = have[i - 1][1].split("\n", 1)[0]
        assert previous_end.get(ins.after) == i or before == ins.after, \
            f"{notebook}: {ins.exercise} does not follow the cell starting {ins.after!r}"
        previous_end[ins.after] = i + len(want)


def test_docs_in_sync():
    doc = ROOT / "docs" / "exercises_cells.md"
    assert doc.read_text() == cells.markdown(), "run: python -m ecr_lab.exercises.cells > docs/exercises_cells.md"


def test_nearest_neighbour():
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 1.0]])
    assert exercises.nearest_neighbour(x).tolist() == [1, 0, 3, 2]


def test_report_lists_every_exercise_of_a_notebook_with_its_status():
    from ecr_lab.exercises import EXERCISES, report

    table = report("01_collapse", {})
    names = [e.name for e in EXERCISES.values() if e.notebook == "01_collapse"]
    assert table.exercise.tolist() == names and (table.status == "not attempted yet").all()
    assert table.objective.str.len().min() > 10
    env = _run_cells(names[0])
    env.update(REFERENCES[names[0]].solution(env))
    assert report("01_collapse", env).status.iloc[0] == "passed"
    env.update(REFERENCES[names[0]].wrong[0].answers(env))
    assert report("01_collapse", env).status.iloc[0].startswith("not yet")
    with pytest.raises(ValueError, match="01_collapse"):
        report("05_missing", {})
