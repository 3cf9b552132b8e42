"""Checks of notebook 01 (collapse): effective rank by hand, what centring changes, a sentence that
lost its translation.

Each public function is one otter test case (``checks/ex01_*.py`` calls it) and raises
``AssertionError`` with a teaching message when the answer is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import metrics
from ..vectors import l2_normalize
from .feedback import (
    Choice,
    as_function,
    as_index,
    as_number,
    call,
    close,
    diagnose,
    fail,
    measured_dict,
    multiple_choice,
    predicted,
)

# -- ex01_rank: effective rank from scratch ---------------------------------------------------------

RANK_SIGNATURE = "effective_rank(X)"
RANK_HINTS = {
    "uncentred": "You did not centre X: subtract the column means (X - X.mean(0)) before the SVD, otherwise "
                 "the mean direction counts as one more direction of spread.",
    "squares": "You used squared singular values (variances, the eigenvalues of X'X); the effective rank of "
               "Roy & Vetterli normalises the singular values themselves: p = s / s.sum().",
    "entropy": "You returned the entropy H = -sum(p log p); the effective rank is exp(H).",
    "unnormalised": "Normalise the singular values into a distribution first: p = s / s.sum().",
    "matrix_rank": "That is the ordinary rank (how many singular values are not zero); the effective rank "
                   "weighs each direction by its share of the spread: exp(-sum(p log p)), p = s / s.sum().",
}
RANK_RECIPE = "centre X, take its singular values s, p = s / s.sum(), return exp(-sum(p * log p))"


def _entropy(s: np.ndarray) -> float:
    p = s[s > 0] / s.sum()
    return float(-(p * np.log(p)).sum())


def _rank_variants(x: np.ndarray) -> dict[str, float]:
    """What the usual mistakes return for x (n, d)."""
    xc = x - x.mean(0)
    s = np.linalg.svd(xc, compute_uv=False)
    s_raw = np.linalg.svd(x, compute_uv=False)
    pos = s[s > 0]
    return {
        "uncentred": float(np.exp(_entropy(s_raw))),
        "squares": float(np.exp(_entropy(s**2))),
        "entropy": _entropy(s),
        "unnormalised": float(np.exp(-(pos * np.log(pos)).sum())),
        "matrix_rank": float(np.linalg.matrix_rank(xc)),
    }


def _rank_case(fn: Any, x: np.ndarray, what: str) -> None:
    fn = as_function(fn, "effective_rank", RANK_SIGNATURE)
    expected = metrics.effective_rank(x)
    got = as_number(call(fn, "effective_rank", x), "effective_rank", "the effective rank, a float")
    if close(got, expected):
        return
    if not np.isfinite(got):
        fail(f"for {what} your effective rank is {got}. When a singular value is 0, p * log p is 0 * -inf = nan "
             "in numpy: keep only the positive singular values (the zeros carry no spread); when all are 0 (every row the same), return 1.0.")
    hint = diagnose(got, _rank_variants(x), RANK_HINTS)
    fail(f"for {what} your effective rank is {got:.4f}, expected {expected:.4f}. "
         + (hint or f"The recipe: {RANK_RECIPE}."))


def rank_random(effective_rank: Any) -> None:
    """On a random (40, 6) matrix whose columns have very different spreads."""
    x = np.random.default_rng(1).standard_normal((40, 6)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2, 0.1])
    _rank_case(effective_rank, x, "a random (40, 6) matrix")


def rank_offset(effective_rank: Any) -> None:
    """A shared offset (every row moved by the same vector) must not change the effective rank."""
    x = np.random.default_rng(2).standard_normal((30, 5)) * np.array([2.0, 1.0, 1.0, 0.5, 0.3]) + 4.0
    _rank_case(effective_rank, x, "a (30, 5) matrix whose rows all share an offset of 4")


def rank_collapsed(effective_rank: Any) -> None:
    """Every row the same (a fully collapsed space): effective rank 1."""
    x = np.tile(np.array([1.0, 2.0, -0.5, 4.0]), (8, 1))
    _rank_case(effective_rank, x, "a fully collapsed space (8 identical rows)")


# -- ex01_centring: predict what subtracting the mean embedding changes ------------------------------------

CENTRING_CHOICES = {
    "anisotropy": Choice("only the anisotropy changes"),
    "language_probe": Choice("only the language probe changes"),
    "both": Choice("both change"),
    "neither": Choice("neither changes"),
}
#: a metric "changes" when it moves by more than this
CENTRING_TOL = 0.02


def centring_prediction(pred_centring: Any, centring_measured: Any) -> None:
    """The prediction against the metrics measured before and after centring."""
    m = measured_dict(centring_measured, "centring_measured", ("anisotropy", "language_probe"),
                      "the experiment cell (the one that builds `centring_measured`)")
    try:
        pairs = {k: (float(m[k][0]), float(m[k][1])) for k in ("anisotropy", "language_probe")}
    except (TypeError, ValueError, IndexError, KeyError):
        fail("`centring_measured` should map each metric to (before, after); run the experiment cell unchanged")
    changed = {k for k, (a, b) in pairs.items() if abs(a - b) > CENTRING_TOL}
    outcome = "both" if len(changed) == 2 else "neither" if not changed else changed.pop()
    (a0, a1), (p0, p1) = pairs["anisotropy"], pairs["language_probe"]
    predicted(pred_centring, "pred_centring", CENTRING_CHOICES, [outcome],
              f"anisotropy {a0:.3f} → {a1:.3f}, language probe {p0:.3f} → {p1:.3f} (a change counts above "
              f"{CENTRING_TOL})",
              "Anisotropy is the mean cosine between rows: a direction every row shares (the mean embedding) "
              "makes every pair point the same way, and subtracting it removes that. The probe standardises "
              "its inputs and a linear classifier absorbs a shift, so it cannot see the mean at all: a "
              "collapsed space is not fixed by centring it.")


# -- ex01_neighbours: a sentence that lost its translation -------------------------------------------------

WHY_LOST = {
    "a": Choice("The students are smaller than the teacher, and smaller models collapse: size causes it.",
                "size is confounded with training here: the students differ from the teacher in size AND in "
                "how they were trained (causal LMs from scratch on a few thousand sentences vs a sentence "
                "encoder trained on translations). Nothing in this notebook holds training fixed while "
                "varying size."),
    "b": Choice("The students are causal LMs trained from scratch on a few thousand sentences: their pooled "
                "states mostly record which subwords they read, and subwords belong to one language. Size "
                "and training are confounded, so this notebook cannot say that size alone causes it."),
    "c": Choice("The teacher is wrong: the two sentences are not really translations.",
                "`pair_id` marks translations by construction, and you chose a row whose teacher neighbour "
                "IS its translation: the teacher is right about it."),
    "d": Choice("Mean pooling washes meaning out of any model, so the teacher collapses too.",
                "the teacher pools too, yet it finds the translation of this very row: pooling alone does "
                "not collapse a space."),
}
WHY_LOST_ANSWER = "b"


def nearest_neighbour(x: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """Index of each row's nearest other row by cosine. x (n, d) -> (n,) (or (len(rows),) for ``rows``)."""
    u = l2_normalize(np.asarray(x, dtype=np.float64))
    rows = np.arange(len(u)) if rows is None else np.asarray(rows)
    sims = u[rows] @ u.T
    sims[np.arange(len(rows)), rows] = -np.inf
    return sims.argmax(1)


def _short(text: str, n: int = 60) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def lost_row(i_lost: Any, spaces: Any, probe: Any) -> None:
    """Row ``i_lost`` of the probe set: the teacher's nearest neighbour is its translation, a student's is not."""
    if not isinstance(spaces, Mapping) or probe is None:
        fail("this check reads `spaces` and `probe` from the notebook: run the cells of section 2 first")
    teacher = [k for k in spaces if str(k).startswith("teacher")]
    students = [k for k in spaces if str(k).startswith("student")]
    if not teacher or not students:
        fail("`spaces` should hold the teacher's space and the students' (keys 'teacher …', 'student …'); "
             "run the cell that builds it again")
    corpus = probe.corpus
    pid, texts = corpus.pair_ids, corpus.texts
    i = as_index(i_lost, "i_lost", len(pid), "a row of the probe set")
    j = int(nearest_neighbour(spaces[teacher[0]], np.array([i]))[0])
    if pid[j] is None or pid[j] != pid[i]:
        fail(f"in the teacher's space, the nearest neighbour of row {i} ('{_short(texts[i])}') is row {j} "
             f"('{_short(texts[j])}'), which is not its translation. Choose a row whose translation the "
             "teacher does find: pair_ids[nn_teacher[i]] == pair_ids[i].")
    lost = [k for k in students if pid[int(nearest_neighbour(spaces[k], np.array([i]))[0])] != pid[i]]
    if not lost:
        fail(f"every student still finds a translation of row {i} ('{_short(texts[i])}'): this row survived "
             "the collapse. Look for a row where pair_ids[nn_student[i]] != pair_ids[i] in a student's space.")


def why_lost_answer(why_lost: Any) -> None:
    """Why the student lost the translation."""
    multiple_choice(why_lost, "why_lost", WHY_LOST, WHY_LOST_ANSWER)
