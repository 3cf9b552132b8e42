"""The notebook cells of every exercise, and where they go: one source for ``docs/exercises_cells.md``
(``python -m ecr_lab.exercises.cells > docs/exercises_cells.md``; a test keeps the file in sync) and for
:func:`insert`, which puts them into a notebook.

Each exercise is a markdown prompt, a learner cell with ``...`` placeholders (tagged ``exercise``),
and for predictions an experiment cell that measures and then checks. A learner cell that defines a
function holds a ``def`` on purpose: it is the learner's code, not a helper that belongs in
``ecr_lab``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from .registry import EXERCISES

#: the tag of a learner's exercise cell (metadata.tags)
TAG = "exercise"


@dataclass(frozen=True)
class Insertion:
    """The cells of one exercise and their place.

    Attributes:
        exercise: the exercise name (a key of ``EXERCISES``).
        after: the first line of the existing notebook cell they follow; exercises with the same
            ``after`` follow it in the order listed here.
        title: the heading of the prompt cell.
        body: the prompt's markdown, after the registry's prompt and objective.
        learner: the learner's code cell (``...`` placeholders).
        experiment: for predictions, the cell that measures and checks ("" for none).
    """

    exercise: str
    after: str
    title: str
    body: str
    learner: str
    experiment: str = ""

    @property
    def notebook(self) -> str:
        return EXERCISES[self.exercise].notebook

    def markdown(self) -> str:
        """The prompt cell: heading, kind, objective, question, details, choices."""
        ex = EXERCISES[self.exercise]
        kind = {"predict": "predict, then run", "code": "write code", "interpret": "interpret"}[ex.kind]
        parts = [f"### {self.title} ({kind})", "", f"*After this exercise you can {ex.objective}.*", "",
                 ex.prompt]
        if self.body:
            parts += ["", self.body]
        for var, choices in ex.choices.items():
            parts += ["", f"Choices for `{var}`:", ""]
            parts += [f'- `"{key}"`: {c.text}' for key, c in choices.items()]
        return "\n".join(parts)

    def cells(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(cell type, source, tags) of each cell, in order."""
        out = [("markdown", self.markdown(), ()), ("code", self.learner, (TAG,))]
        if self.experiment:
            out.append(("code", self.experiment, ()))
        return out


_CHECK_IMPORT = "from ecr_lab.exercises import check\n"

INSERTIONS: tuple[Insertion, ...] = (
    # -- 01 collapse -----------------------------------------------------------------------------------
    Insertion(
        "ex01_neighbours",
        'viz.maps_side_by_side(spaces, probe.corpus, color="lang", method=profile.map_method, '
        "max_points=profile.max_points)",
        "Exercise 1.1 · A sentence that lost its translation",
        "`exercises.nearest_neighbour(X)` gives each row's nearest other row by cosine, and rows with the same "
        "`probe.corpus.pair_ids` are translations. Once you have a row, print its text and its neighbour's "
        "in each space (`probe.corpus.texts[i]`) before answering why.",
        "import numpy as np\n\nfrom ecr_lab import exercises\n" + _CHECK_IMPORT + "\n"
        "pid = probe.corpus.pair_ids\n"
        'nn_teacher = exercises.nearest_neighbour(spaces["teacher (USE v3)"])\n'
        'nn_student = exercises.nearest_neighbour(spaces[f"student {profile.collapse_presets[-1]}"])  # the smallest\n'
        "\n"
        "i_lost = ...    # a row i with pid[nn_teacher[i]] == pid[i] but pid[nn_student[i]] != pid[i]\n"
        'why_lost = ...  # "a", "b", "c" or "d"\n'
        'check("ex01_neighbours")',
    ),
    Insertion(
        "ex01_rank",
        "table = experiment.space_metrics({",
        "Exercise 1.2 · Effective rank by hand",
        "It is 1 when all the spread lies along one direction and min(n - 1, d) when it is spread evenly over every direction (centring removes one). Keep only "
        "s > 0 (0 · log 0 is nan in numpy) and return 1.0 when every row is the same. Once it passes, compare "
        "`effective_rank(spaces[name])` with the table's column.",
        "import numpy as np\n\n" + _CHECK_IMPORT + "\n\n"
        "def effective_rank(X):\n"
        '    """exp of the entropy of the normalised singular values of the centred X. (n, d) -> float."""\n'
        "    ...  # your code here\n"
        "\n\n"
        'check("ex01_rank")',
    ),
    Insertion(
        "ex01_centring",
        'viz.metric_table_chart(table.drop(columns="rows"))',
        "Exercise 1.3 · What centring changes",
        "Write your prediction in the first cell, then run the second: it subtracts the mean embedding from "
        "the smallest student's space and measures both metrics before and after. A metric changes when it "
        "moves by more than 0.02.",
        _CHECK_IMPORT + "\n"
        'pred_centring = ...  # "anisotropy", "language_probe", "both" or "neither"',
        "from ecr_lab import metrics\n"
        "\n"
        'X = spaces[f"student {profile.collapse_presets[-1]}"]  # the smallest student\n'
        "Xc = X - X.mean(0)                                      # the mean embedding subtracted\n"
        "langs, units = probe.corpus.langs, probe.corpus.pair_ids\n"
        "centring_measured = {\n"
        '    "anisotropy": (metrics.anisotropy(X), metrics.anisotropy(Xc)),\n'
        '    "language_probe": (metrics.language_probe(X, langs, units), metrics.language_probe(Xc, langs, units)),\n'
        "}\n"
        "print(centring_measured)\n"
        'check("ex01_centring")',
    ),
    # -- 02 anchors ------------------------------------------------------------------------------------
    Insertion(
        "ex02_shuffled",
        "viz.sweep_chart(sweep)",
        "Exercise 2.1 · Topic purity of labels that mean nothing",
        "Write your prediction, then run the experiment: it shuffles the topic labels and measures the purity "
        "of anchors derived for the smallest and the largest K of the sweep (one k-means restart each, a few "
        "seconds).",
        _CHECK_IMPORT + "\n"
        'pred_shuffled = ...  # "rises", "flat" or "falls"',
        "import numpy as np\n"
        "\n"
        "shuffled_topics = np.random.default_rng(0).permutation(corpus.topic_labels)  # labels that mean nothing\n"
        "shuffled_purity = {k: anc.purity(shuffled_topics, anc.derive_anchors(emb, k, seed=session.seed, n_init=1).labels)\n"
        "                   for k in (min(profile.k_sweep), max(profile.k_sweep))}\n"
        'print({k: round(v, 3) for k, v in shuffled_purity.items()}, "| 1 / topics =", round(1 / len(corpus.topics), 3))\n'
        'check("ex02_shuffled")',
    ),
    Insertion(
        "ex02_lloyd",
        "A = anc.derive_anchors(emb, profile.k_anchors, seed=session.seed, n_init=profile.kmeans_restarts,",
        "Exercise 2.2 · One spherical Lloyd step by hand",
        "`derive_anchors` repeats this step after scikit-learn's seeding. Labels: `(X @ C.T).argmax(1)`. New "
        "centroid j: the sum of its rows divided by its norm (the same direction as their mean). A centroid "
        "that owns no row is re-seeded on the row worst served by its own centroid, the one whose largest "
        "cosine `(X @ C.T).max(1)` is smallest (the 2nd worst for a 2nd empty centroid, and so on).",
        "import numpy as np\n\n" + _CHECK_IMPORT + "\n\n"
        "def lloyd_step(X, C):\n"
        '    """One spherical Lloyd step. X (n, d) unit rows, C (k, d) unit centroids -> new centroids (k, d)."""\n'
        "    ...  # your code here\n"
        "\n\n"
        'check("ex02_lloyd")',
    ),
    Insertion(
        "ex02_read_anchor",
        "for _, row in described.head(3).iterrows():",
        "Exercise 2.3 · An anchor that carries meaning",
        "All the anchors are in `described` (the table above shows 12): its columns `n_langs` and "
        "`topic_purity` say what you need, and `exemplars` lets you read the anchor.",
        _CHECK_IMPORT + "\n"
        "meaning_anchor = ...  # an anchor id\n"
        'why_mixed = ...       # "a", "b" or "c"\n'
        'check("ex02_read_anchor")',
    ),
    Insertion(
        "ex02_translations",
        "import pandas as pd",
        "Exercise 2.4 · Do translations share a cue?",
        "Write your prediction, then run the experiment: it takes the corpus's first sentence and its "
        "translations (same `pair_id`) and gives each its teacher cue (top-1 anchor).",
        _CHECK_IMPORT + "\n"
        'pred_translations = ...  # "all", "most" or "few"',
        "import numpy as np\n"
        "\n"
        "rows = np.flatnonzero(corpus.pair_ids == corpus.pair_ids[0])  # the first sentence and its translations\n"
        'translation_cues = pd.Series(A.assign(emb[rows], 1)[0][:, 0], index=corpus.langs[rows], name="top-1 anchor")\n'
        "print(corpus.texts[rows[0]])\n"
        "print(translation_cues.to_dict())\n"
        'check("ex02_translations")',
    ),
    # -- 03 training -----------------------------------------------------------------------------------
    Insertion(
        "ex03_agreement",
        "from ecr_lab.control_tokens import cue_token",
        "Exercise 3.1 · Anchor agreement by hand",
        "Once it passes, compare `agreement(projected, teacher_top)` with the number printed above and with "
        "chance, `1 / setup.anchors.k`.",
        "import numpy as np\n\n" + _CHECK_IMPORT + "\n\n"
        "def agreement(projected, teacher):\n"
        '    """Share of rows whose projected top-1 anchor equals the teacher\'s. (n,) or (n, 1) each -> float."""\n'
        "    ...  # your code here\n"
        "\n\n"
        'check("ex03_agreement")',
    ),
    Insertion(
        "ex03_disagree",
        "from ecr_lab.control_tokens import cue_token",
        "Exercise 3.2 · Where the projection step and the teacher part ways",
        "`projected` and `teacher_top` (the cell above) hold each test sentence's top-1 anchor from the student's "
        "projection step and from the teacher. Read the sentence (`setup.test.texts[i]`) and both anchors "
        "(notebook 02's `described` says what they are about) before answering why.",
        _CHECK_IMPORT + "\n"
        "i_disagree = ...    # a row i of the test split with projected[i] != teacher_top[i]\n"
        'why_disagree = ...  # "a", "b", "c" or "d"\n'
        'check("ex03_disagree")',
    ),
    Insertion(
        "ex03_oracle_m0",
        "# ECR at inference beside the cue-only controls: the cue alone, and the KD student + the cue",
        "Exercise 3.3 · The oracle without its cues",
        "Write your prediction, then run the experiment: it embeds the test sentences with the ECR student three "
        "ways (no cues; the teacher's cues, m as trained; the first `m_cues` of them) and measures each "
        "topic probe (equal means within 0.005). Then set `m_cues = 1` and run it again.",
        _CHECK_IMPORT + "\n"
        'pred_m0 = ...  # "cue_free", "oracle", "between" or "outside"',
        "from ecr_lab import metrics\n"
        "\n"
        "m_cues = 0  # the setting you predicted for; then try 1 (at most ecr.m, the number it trained with)\n"
        "texts, topics, units = setup.test.texts, setup.test.topic_labels, setup.test.pair_ids\n"
        "teacher_cues = setup.anchors.assign(setup.teacher_test, ecr.m)[0]  # (n, m): the oracle's cue ids\n"
        "m0_measured = {\n"
        '    "m": m_cues,\n'
        '    "cue_free": metrics.topic_probe(ecr.encode(texts), topics, units),\n'
        '    "oracle": metrics.topic_probe(ecr.encode(texts, cues=teacher_cues), topics, units),\n'
        '    "chosen": metrics.topic_probe(ecr.encode(texts, cues=teacher_cues[:, :m_cues]), topics, units),\n'
        "}\n"
        "print({k: round(v, 3) for k, v in m0_measured.items()})\n"
        'check("ex03_oracle_m0")',
    ),
    # -- 04 drift widgets ------------------------------------------------------------------------------
    Insertion(
        "ex04_align",
        "drift = DriftDashboard(run, setup.eval_set().corpus, baseline=baseline)",
        "Exercise 4.1 · Align two maps before reading motion",
        "PCA fixes each axis only up to its sign (and nearly equal components up to a rotation), so two "
        "checkpoints' maps can differ by a flip that is not drift. Orthogonal Procrustes: with "
        "U, S, Vt = np.linalg.svd(Y.T @ X), the best R is U @ Vt.",
        "import numpy as np\n\n" + _CHECK_IMPORT + "\n\n"
        "def procrustes_align(Y, X):\n"
        '    """Y (n, d) rotated or reflected onto X (n, d): Y @ R with R orthogonal, minimising ||Y @ R - X||."""\n'
        "    ...  # your code here\n"
        "\n\n"
        'check("ex04_align")',
    ),
    Insertion(
        "ex04_churn",
        "drift = DriftDashboard(run, setup.eval_set().corpus, baseline=baseline)",
        "Exercise 4.2 · When does the map move most?",
        "Write your prediction, then run the experiment: kNN churn is the share of each probe sentence's 10 "
        "nearest neighbours that changed between two checkpoints (0: none, 1: all). The run logged it at every "
        "evaluation against the one before; `drift.churn()` averages it over the first and over the second "
        "half of training. Equal means within 0.02.",
        _CHECK_IMPORT + "\n"
        'pred_churn = ...  # "early", "late" or "same"',
        "churn_measured = drift.churn()  # the ECR run: mean kNN churn in each half of training\n"
        'print({k: round(v, 3) for k, v in churn_measured.items()})\n'
        'check("ex04_churn")',
    ),
    Insertion(
        "ex04_temperature",
        'cues = CueExplorer(setup, run, get_teacher("usem3"), text="The referee blew the whistle and the match '
        'was over.")',
        "Exercise 4.3 · What temperature does to the cues",
        "Write your prediction, then run the experiment: for every watched validation sentence it takes the top m "
        "anchors of the projection step's scores, softmax(score / T), at T = 0.1 and at T = 1.0, and counts the "
        "sentences whose cues differ. Then move the slider and watch the chart.",
        _CHECK_IMPORT + "\n"
        'pred_temperature = ...  # "change" or "same"',
        "features = run.student.cue_features(drift.probe.texts)  # (n, hidden): what the projection step reads\n"
        "m_cues = run.config.m_cues\n"
        "top_m = {t: np.argsort(-run.projector.scores(features, t), axis=1, kind=\"stable\")[:, :m_cues]  # (n, m) each\n"
        "         for t in (0.1, 1.0)}  # the top m of softmax(score / T)\n"
        "temperature_measured = {\"sentences\": len(features), \"m\": m_cues,\n"
        "                        \"changed\": int((top_m[0.1] != top_m[1.0]).any(axis=1).sum())}\n"
        "print(temperature_measured)\n"
        'check("ex04_temperature")',
    ),
    Insertion(
        "ex04_k_tokens",
        'print("teacher:", cues.result["teacher"], "student:", cues.result["student"], "cues:", cues.result["cues"])',
        "Exercise 4.4 · Which cue tokens does the model have?",
        "The K slider offers `cues.k.options`; the run was trained once, with one anchor set.",
        _CHECK_IMPORT + "\n"
        'print("K offered by the explorer:", cues.k.options)\n'
        "k_trained = ...  # how many cue tokens this run's model has\n"
        'why_k = ...      # "a", "b" or "c"\n'
        'check("ex04_k_tokens")',
    ),
)


def insertions(notebook: str) -> list[Insertion]:
    """The insertions of one notebook (its file stem), in order."""
    return [i for i in INSERTIONS if i.notebook == notebook]


def _first_line(cell) -> str:
    src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return src.split("\n", 1)[0]


def insert(nb, notebook: str):
    """Insert the exercise cells of ``notebook`` (its file stem) into ``nb`` (an ``nbformat`` notebook,
    changed in place and returned). Raises ValueError when an ``after`` line is not the first line of
    exactly one cell, or when the exercise cells are already there."""
    import nbformat

    for ins in insertions(notebook):
        if any(f'check("{ins.exercise}")' in "".join(c["source"]) for c in nb.cells):
            raise ValueError(f"{notebook}: the cells of {ins.exercise} are already in the notebook")
    for ins in reversed(insertions(notebook)):  # reversed: exercises sharing an anchor keep their order
        hits = [i for i, c in enumerate(nb.cells) if _first_line(c) == ins.after]
        if len(hits) != 1:
            raise ValueError(f"{notebook}: {len(hits)} cells start with {ins.after!r}; expected exactly one")
        new = []
        for kind, source, tags in ins.cells():
            cell = nbformat.v4.new_markdown_cell(source) if kind == "markdown" else nbformat.v4.new_code_cell(source)
            if tags:
                cell.metadata["tags"] = list(tags)
            new.append(cell)
        nb.cells[hits[0] + 1 : hits[0] + 1] = new
    return nb


def markdown() -> str:
    """``docs/exercises_cells.md``: every notebook's exercise cells and where they go."""
    from .registry import NOTEBOOKS

    out = [
        "# Exercise cells for the notebooks",
        "",
        "Generated by `python -m ecr_lab.exercises.cells > docs/exercises_cells.md` from",
        "`ecr_lab/exercises/cells.py` (a test keeps this file in sync); `ecr_lab.exercises.cells.insert(nb, stem)`",
        "inserts them into a notebook read with `nbformat`.",
        "",
        "Each exercise is a markdown prompt, a learner cell with `...` placeholders (give it the cell tag",
        f"`{TAG}`; it may define a function: that is the learner's code, not a helper), and for a prediction",
        "an experiment cell that measures and checks. Until the learner fills the placeholders,",
        "`check(...)` returns \"not attempted yet\" and raises nothing, so the notebook runs under nbmake.",
        "The checks are otter-grader test files in `ecr_lab/exercises/checks/`; their feedback lives in",
        "`ecr_lab/exercises/nb0*.py`; `tests/test_exercises.py` runs each against a reference solution",
        "and a wrong answer (`tests/exercise_solutions.py`).",
    ]
    for nb in NOTEBOOKS:
        out += ["", f"## notebooks/{nb}.ipynb", ""]
        last = None
        for ins in insertions(nb):
            where = (f"Insert after the cells of `{last.exercise}`, which follow the cell starting"
                     if last is not None and last.after == ins.after else "Insert after the cell starting")
            out += [f"### `{ins.exercise}`", "", f"{where}:", "", "```python", ins.after, "```", ""]
            for kind, source, tags in ins.cells():
                label = {"markdown": "Markdown cell", "code": "Code cell"}[kind]
                tag = f" (tag `{tags[0]}`)" if tags else ""
                out += [f"{label}{tag}:", "", "````" + ("markdown" if kind == "markdown" else "python"), source,
                        "````", ""]
            last = ins
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    sys.stdout.write(markdown())
