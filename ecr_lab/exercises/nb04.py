"""Checks of notebook 04 (drift and cues, live): Procrustes alignment of two maps by hand, when the
map moves most, what temperature does to the cues, and which cue tokens the model really has.

Each public function is one otter test case (``checks/ex04_*.py`` calls it) and raises
``AssertionError`` with a teaching message when the answer is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .feedback import (
    Choice,
    as_function,
    as_matrix,
    call,
    fail,
    measured_dict,
    multiple_choice,
    predicted,
    words,
)

# -- ex04_align: orthogonal Procrustes -----------------------------------------------------------------------

ALIGN_SIGNATURE = "procrustes_align(Y, X)"
ALIGN_TOL = 1e-6
ALIGN_RECIPE = "U, S, Vt = np.linalg.svd(Y.T @ X); return Y @ (U @ Vt)"


def reference_align(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Y rotated (or reflected) onto X: Y @ R with R orthogonal minimising ||Y R - X||_F.
    y, x (n, d) -> (n, d). (scipy.linalg.orthogonal_procrustes gives the same R.)"""
    u, _, vt = np.linalg.svd(y.T @ x)
    return y @ (u @ vt)


def _pairwise(a: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a[:, None, :] - a[None, :, :], axis=-1)


def _align_case(fn: Any, y: np.ndarray, x: np.ndarray, what: str) -> None:
    fn = as_function(fn, "procrustes_align", ALIGN_SIGNATURE)
    raw = call(fn, "procrustes_align", y, x)
    if np.shape(raw) == (y.shape[1], y.shape[1]) and y.shape[0] != y.shape[1]:
        fail(f"for {what} you returned a {np.shape(raw)} matrix: that is the rotation R; return the aligned map "
             "Y @ R, shape (n, d), one row per point.")
    got = as_matrix(raw, "procrustes_align", y.shape, "Y aligned onto X, one row per point")
    expected = reference_align(y, x)
    if np.allclose(got, expected, atol=ALIGN_TOL):
        return
    if np.allclose(got, y, atol=ALIGN_TOL):
        fail(f"for {what} you returned Y unchanged; rotate it onto X first: {ALIGN_RECIPE}.")
    if not np.allclose(_pairwise(got), _pairwise(y), atol=1e-5):
        fail(f"for {what} your map changed the distances between points. Procrustes may only rotate or "
             "reflect (R orthogonal), or the motion you see is your map's doing, not drift; a least-squares "
             f"R is not orthogonal. {ALIGN_RECIPE}.")
    u, _, vt = np.linalg.svd(y.T @ x)
    if np.allclose(got, y @ (u @ vt).T, atol=ALIGN_TOL):
        fail(f"for {what} you used the transpose of the rotation (e.g. the SVD of X.T @ Y, or Vt.T @ U.T): "
             f"{ALIGN_RECIPE}.")
    fail(f"for {what} your map is a rotation but not the best one: it leaves ||Y R - X|| at "
         f"{np.linalg.norm(got - x):.4f} where {np.linalg.norm(expected - x):.4f} is possible. {ALIGN_RECIPE}.")


def align_flipped(procrustes_align: Any) -> None:
    """A 2-D map whose first axis is flipped (what PCA does between checkpoints): aligned, it is X again."""
    x = np.random.default_rng(7).standard_normal((30, 2))
    x -= x.mean(0)
    _align_case(procrustes_align, x * np.array([-1.0, 1.0]), x, "a 2-D map with its first axis flipped")


def align_rotated(procrustes_align: Any) -> None:
    """A 3-D cloud rotated by a random orthogonal matrix, plus a little noise."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((25, 3))
    x -= x.mean(0)
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    _align_case(procrustes_align, x @ q + 0.05 * rng.standard_normal((25, 3)), x,
                "a rotated and slightly noisy (25, 3) cloud")


# -- ex04_churn: when does the map move most? -------------------------------------------------------------

CHURN_CHOICES = {
    "early": Choice("between the first two checkpoints"),
    "late": Choice("between the last two checkpoints"),
    "same": Choice("about as much early as late"),
}
CHURN_TOL = 0.02


def churn_prediction(pred_churn: Any, churn_measured: Any) -> None:
    """The prediction against kNN churn between the first two and the last two checkpoints."""
    m = measured_dict(churn_measured, "churn_measured", ("early", "late"),
                      "the experiment cell (the one that builds `churn_measured`)")
    early, late = float(m["early"]), float(m["late"])
    outcome = "same" if abs(early - late) <= CHURN_TOL else "early" if early > late else "late"
    predicted(pred_churn, "pred_churn", CHURN_CHOICES, [outcome],
              f"kNN churn {early:.3f} between the first two checkpoints, {late:.3f} between the last two "
              f"(the same within {CHURN_TOL})",
              "kNN churn is the share of each sentence's 10 nearest neighbours that changed between two "
              "checkpoints. Early on the geometry is still being carved out of the random initialisation; "
              "late, a stable run mostly refines it. Claim C1 (ECR reduces drift) is read on the late churn.")


# -- ex04_temperature: does temperature change the cues? ---------------------------------------------------------

TEMPERATURE_CHOICES = {
    "change": Choice("the top-m cues change: a higher temperature lets other anchors in"),
    "same": Choice("the top-m cues stay the same; only the scores get sharper or flatter"),
}


def temperature_prediction(pred_temperature: Any, temperature_cues: Any) -> None:
    """The prediction against the student's cues at several temperatures."""
    if not isinstance(temperature_cues, Mapping) or len(temperature_cues) < 2:
        fail("`temperature_cues` should map at least two temperatures to the student's cues ({T: [ids]}); run "
             "the experiment cell unchanged, then this cell again")
    lists = {float(t): [int(a) for a in np.asarray(ids).reshape(-1)] for t, ids in temperature_cues.items()}
    outcome = "same" if len({tuple(v) for v in lists.values()}) == 1 else "change"
    seen = "; ".join(f"T={t:g}: [{words(v)}]" for t, v in sorted(lists.items()))
    lesson = ("Softmax(s / T) is increasing in s for every positive T, so the order of the anchors, hence the top-m, "
              "never depends on T; temperature only sharpens (low T) or flattens (high T) the scores in the chart, "
              "which is why ECR's cues are a top-m and not a sample." if outcome == "same" else
              "The raw scores keep their order at every T, so a change means the scores tied after the softmax "
              "(underflow at a very low temperature); the cues ECR uses come from the raw scores.")
    predicted(pred_temperature, "pred_temperature", TEMPERATURE_CHOICES, [outcome],
              f"the student's cues were {seen}", lesson)


# -- ex04_k_tokens: which cue tokens does the model have? -----------------------------------------------------------

WHY_K = {
    "a": Choice("The model knows the cue tokens for every K on the slider: the tokenizer adds them when needed.",
                "the tokenizer and the embedding matrix were extended once, before training, with exactly K "
                "tokens; nothing adds rows afterwards."),
    "b": Choice("The run was trained with one K. For another K the explorer derives new anchors and a new "
                "projection for illustration, but the model never saw those cue tokens: ids at or above the "
                "trained K do not exist in its vocabulary, and ids below it name different anchors than the "
                "ones it learned."),
    "c": Choice("Moving the K slider retrains the model with K anchors.",
                "the explorer never trains: it only derives anchors (k-means) and fits a projection step, which "
                "takes seconds; the model's weights do not change."),
}
WHY_K_ANSWER = "b"


def k_trained_check(k_trained: Any, run: Any) -> None:
    """``k_trained`` is the number of cue tokens the run was trained with."""
    if run is None:
        fail("this check reads `run` from the notebook: run the cell that trains or loads it first")
    k = int(run.anchors.k)
    if isinstance(k_trained, (bool, np.bool_)) or not isinstance(k_trained, (int, np.integer)):
        fail(f"`k_trained` must be an int (got {k_trained!r})")
    if int(k_trained) != k:
        fail(f"you gave {int(k_trained)}, but this run's tokenizer holds {k} cue tokens (ecr_0 … ecr_{k - 1}): "
             "read it from the run, run.anchors.k, or count them with "
             "ecr_lab.control_tokens.count_cue_tokens(run.student.tokenizer); the slider's other values are "
             "not in the model.")


def why_k_answer(why_k: Any) -> None:
    """What the K slider shows for a K the model was not trained with."""
    multiple_choice(why_k, "why_k", WHY_K, WHY_K_ANSWER)
