"""Checks of notebook 04 (drift and cues, live): Procrustes alignment of two maps by hand, when the
map moves most, what temperature does to the cues, and which cue tokens the model really has.

Each public function is one otter test case (``checks/ex04_*.py`` calls it) and raises
``AssertionError`` with a teaching message when the answer is wrong.
"""

from __future__ import annotations

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
)

# -- ex04_align: orthogonal Procrustes -----------------------------------------------------------------------

ALIGN_SIGNATURE = "procrustes_align(Y, X)"
ALIGN_TOL = 1e-6
ALIGN_RECIPE = "U, S, Vt = np.linalg.svd(Y.T @ X); return Y @ (U @ Vt)"


def _pairwise(a: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a[:, None, :] - a[None, :, :], axis=-1)


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(0)


def _align_case(fn: Any, y: np.ndarray, x: np.ndarray, what: str) -> None:
    """The learner's map of ``y`` onto ``x`` against the library's (:func:`ecr_lab.widgets.procrustes_align`).

    Accepted up to a translation: the library's answer ``Y R``, or the one a learner gets who centres
    both maps first (as :func:`ecr_lab.widgets.align_frames` does), ``(Y - mean Y) R_c``, shifted anywhere.
    A rotation is called "not the best one" only when its residual is worse than the best one's, both
    with and without centring.
    """
    from ..widgets import procrustes_align as library_align

    fn = as_function(fn, "procrustes_align", ALIGN_SIGNATURE)
    raw = call(fn, "procrustes_align", y, x)
    if np.shape(raw) == (y.shape[1], y.shape[1]) and y.shape[0] != y.shape[1]:
        fail(f"for {what} you returned a {np.shape(raw)} matrix: that is the rotation R; return the aligned map "
             "Y @ R, shape (n, d), one row per point.")
    got = as_matrix(raw, "procrustes_align", y.shape, "Y aligned onto X, one row per point")
    yc, xc, got_c = _centred(y), _centred(x), _centred(got)
    expected = library_align(y, x)  # Y R, neither map centred
    expected_c = library_align(yc, xc)  # both centred first: the best rotation once a shift is free
    if np.allclose(got, expected, atol=ALIGN_TOL) or np.allclose(got_c, expected_c, atol=ALIGN_TOL):
        return
    if np.allclose(got, y, atol=ALIGN_TOL) or np.allclose(got_c, yc, atol=ALIGN_TOL):
        fail(f"for {what} you returned Y unchanged (or only shifted); rotate it onto X first: {ALIGN_RECIPE}.")
    if not np.allclose(_pairwise(got), _pairwise(y), atol=1e-5):
        fail(f"for {what} your map changed the distances between points. Procrustes may only rotate or "
             "reflect (R orthogonal), or the motion you see is your map's doing, not drift; a least-squares "
             f"R, or a rescaled map (scipy.spatial.procrustes standardises both), is not a rotation. {ALIGN_RECIPE}.")
    u, _, vt = np.linalg.svd(y.T @ x)
    uc, _, vtc = np.linalg.svd(yc.T @ xc)
    if np.allclose(got, y @ (u @ vt).T, atol=ALIGN_TOL) or np.allclose(got_c, yc @ (uc @ vtc).T, atol=ALIGN_TOL):
        fail(f"for {what} you used the transpose of the rotation (e.g. the SVD of X.T @ Y, or Vt.T @ U.T): "
             f"{ALIGN_RECIPE}.")
    # a rotation (and perhaps a shift) that is neither optimum: is it worse than both?
    res, best = np.linalg.norm(got - x), np.linalg.norm(expected - x)
    res_c, best_c = np.linalg.norm(got_c - xc), np.linalg.norm(expected_c - xc)
    if res <= best * (1 + 1e-9) + ALIGN_TOL or res_c <= best_c * (1 + 1e-9) + ALIGN_TOL:
        return  # as good as the best rotation (rounding, or ties): nothing to teach
    fail(f"for {what} your map is a rotation but not the best one: it leaves ||Y R - X|| at {res:.4f} where "
         f"{best:.4f} is possible (with both maps centred first, {res_c:.4f} where {best_c:.4f} is possible). "
         f"{ALIGN_RECIPE}.")


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
    "early": Choice("in the first half of training"),
    "late": Choice("in the second half of training"),
    "same": Choice("about as much in both halves"),
}
CHURN_TOL = 0.02


def churn_prediction(pred_churn: Any, churn_measured: Any) -> None:
    """The prediction against the mean kNN churn between successive evaluations in the first and the
    second half of training (:meth:`ecr_lab.widgets.DriftDashboard.churn`)."""
    m = measured_dict(churn_measured, "churn_measured", ("early", "late"),
                      "the experiment cell (the one that builds `churn_measured`)")
    early, late = float(m["early"]), float(m["late"])
    outcome = "same" if abs(early - late) <= CHURN_TOL else "early" if early > late else "late"
    predicted(pred_churn, "pred_churn", CHURN_CHOICES, [outcome],
              f"mean kNN churn between successive checkpoints {early:.3f} in the first half of training, "
              f"{late:.3f} in the second (the same within {CHURN_TOL})",
              "kNN churn is the share of each sentence's 10 nearest neighbours that changed between two "
              "checkpoints. Early on the geometry is still being carved out of the random initialisation; "
              "late, a stable run mostly refines it. Claim C1 (ECR reduces drift) is read on the late churn.")


# -- ex04_temperature: does temperature change the cues? ---------------------------------------------------------

TEMPERATURE_CHOICES = {
    "change": Choice("the top-m cues change: a higher temperature lets other anchors in"),
    "same": Choice("the top-m cues stay the same; only the scores get sharper or flatter"),
}
TEMPERATURE_KEYS = ("sentences", "m", "changed")


def temperature_prediction(pred_temperature: Any, temperature_measured: Any) -> None:
    """The prediction against the experiment: over a set of sentences, how many get other top-m anchors from
    the projection step's scores softmax(s / T) at T = 0.1 than at T = 1.0."""
    m = measured_dict(temperature_measured, "temperature_measured", TEMPERATURE_KEYS,
                      "the experiment cell (the one that builds `temperature_measured`)")
    try:
        n, m_cues, changed = (int(m[k]) for k in TEMPERATURE_KEYS)
    except (TypeError, ValueError):
        fail("`temperature_measured` should hold counts ({'sentences': n, 'm': m, 'changed': count}); run the "
             "experiment cell unchanged, then this cell again")
    if n < 1 or not 0 <= changed <= n:
        fail(f"`temperature_measured` says {changed} of {n} sentences changed, which cannot be; run the experiment "
             "cell unchanged, then this cell again")
    outcome = "change" if changed else "same"
    predicted(pred_temperature, "pred_temperature", TEMPERATURE_CHOICES, [outcome],
              f"{changed} of the {n} sentences got other top-{m_cues} anchors at T = 1.0 than at T = 0.1",
              "Softmax(s / T) is increasing in s for every positive T, so it keeps the order of the anchors, "
              "hence the top-m, at every T (only two scores that round to the same float could swap); "
              "temperature only sharpens (low T) or flattens (high T) the scores in the chart, which is why "
              "ECR's cues are a top-m and not a sample.")


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
