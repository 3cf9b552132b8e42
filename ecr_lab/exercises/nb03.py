"""Checks of notebook 03 (training): anchor agreement by hand, the oracle without its cues, and a
sentence where the projection step and the teacher disagree.

Each public function is one otter test case (``checks/ex03_*.py`` calls it) and raises
``AssertionError`` with a teaching message when the answer is wrong.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import metrics
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

# -- ex03_agreement: anchor agreement from scratch --------------------------------------------------------------

AGREEMENT_SIGNATURE = "agreement(projected, teacher)"
AGREEMENT_HINTS = {
    "count": "You returned how many rows agree; anchor agreement is the SHARE of rows that agree: divide by n.",
    "disagree": "You returned the share of rows that DISAGREE; anchor agreement is the share that agree.",
    "broadcast": "Your function compared every row with every other row: an (n, 1) array == an (n,) array "
                 "broadcasts to (n, n). ECRModel.cues(texts, m=1) returns shape (n, 1): flatten both sides with "
                 ".reshape(-1) first.",
}


def _agreement_case(fn: Any, projected: np.ndarray, teacher: np.ndarray, what: str) -> None:
    fn = as_function(fn, "agreement", AGREEMENT_SIGNATURE)
    expected = metrics.anchor_agreement(projected, teacher)
    got = as_number(call(fn, "agreement", projected, teacher), "agreement", "the share of rows that agree")
    if close(got, expected, 1e-9):
        return
    a, b = np.asarray(projected), np.asarray(teacher)
    variants = {"count": float((a.reshape(-1) == b.reshape(-1)).sum()), "disagree": 1.0 - expected,
                "broadcast": float(np.mean(a == b)) if a.shape != b.shape else np.nan}
    hint = diagnose(got, variants, AGREEMENT_HINTS, 1e-9)
    fail(f"for {what} your agreement is {got:.4f}, expected {expected:.4f}. "
         + (hint or "Anchor agreement is the share of rows whose projected top-1 anchor equals the teacher's: "
                    "np.mean(projected == teacher) on flat arrays."))


def agreement_random(agreement: Any) -> None:
    """50 random anchor ids out of K = 6 on each side."""
    rng = np.random.default_rng(5)
    _agreement_case(agreement, rng.integers(0, 6, 50), rng.integers(0, 6, 50), "50 random anchor ids (K = 6)")


def agreement_column(agreement: Any) -> None:
    """Projected cues as ECRModel.cues(texts, m=1) returns them: shape (n, 1), against (n,) teacher ids."""
    rng = np.random.default_rng(6)
    teacher = rng.integers(0, 4, 40)
    projected = np.where(rng.random(40) < 0.6, teacher, rng.integers(0, 4, 40))[:, None]
    _agreement_case(agreement, projected, teacher, "projected ids of shape (40, 1) (as cues(..., m=1) returns "
                    "them) against teacher ids of shape (40,)")


def agreement_mismatch(agreement: Any) -> None:
    """Rows that cannot be paired (5 projected, 6 teacher ids) must be an error, not a number."""
    fn = as_function(agreement, "agreement", AGREEMENT_SIGNATURE)
    try:
        got = fn(np.array([0, 1, 2, 0, 1]), np.array([0, 1, 2, 0, 1, 2]))
    except Exception:  # any error is right: the rows cannot be paired
        return
    fail(f"with 5 projected and 6 teacher anchors your function returned {got!r}; the rows must pair one to "
         "one, so mismatched lengths should raise an error (e.g. ValueError) instead of giving a number.")


# -- ex03_oracle_m0: the oracle without its cues -------------------------------------------------------------

M0_CHOICES = {
    "cue_free": Choice("the same as the cue-free view"),
    "oracle": Choice("the same as the oracle with the trained number of cues"),
    "between": Choice("between the cue-free view and the oracle"),
    "outside": Choice("below both or above both"),
}
#: two topic probe accuracies "are the same" within this
M0_TOL = 0.005


def m0_outcomes(m: dict[str, float]) -> list[str]:
    """The choices a measurement {"cue_free", "oracle", "chosen"} supports (two on a tie)."""
    v, free, oracle = m["chosen"], m["cue_free"], m["oracle"]
    same = [k for k, ref in (("cue_free", free), ("oracle", oracle)) if abs(v - ref) <= M0_TOL]
    if same:
        return same
    return ["between"] if min(free, oracle) < v < max(free, oracle) else ["outside"]


def m0_prediction(pred_m0: Any, m0_measured: Any) -> None:
    """The prediction against the topic probe of the oracle view with ``m`` teacher cues."""
    m = measured_dict(m0_measured, "m0_measured", ("m", "cue_free", "oracle", "chosen"),
                      "the experiment cell (the one that builds `m0_measured`)")
    try:
        vals = {k: float(m[k]) for k in ("cue_free", "oracle", "chosen")}
        n_cues = int(m["m"])
    except (TypeError, ValueError):
        fail("`m0_measured` should hold numbers; run the experiment cell unchanged")
    lesson = ("With m = 0 no cue token is prepended, so the 'oracle' input is the bare text and the student "
              "computes exactly its cue-free embedding: the oracle's whole advantage lies in the cue tokens it "
              "reads, and none of it in the weights alone." if n_cues == 0 else
              "The student was trained with a fixed number of cues; at test time it reads whatever it is given, "
              "and the topic probe tells how much meaning those cue tokens carry into its embedding.")
    predicted(pred_m0, "pred_m0", M0_CHOICES, m0_outcomes(vals),
              f"with m = {n_cues} the topic probe is {vals['chosen']:.3f} (cue-free {vals['cue_free']:.3f}, "
              f"oracle with the trained m {vals['oracle']:.3f}; equal means within {M0_TOL})", lesson)


# -- ex03_disagree: where the projection step and the teacher part ways ------------------------------------------

WHY_DISAGREE = {
    "a": Choice("The projection step reads a cheap student feature (the mean of the input token embeddings, a "
                "bag of subwords) and a classifier maps it to an anchor; where that feature carries little "
                "meaning, the classifier guesses wrong."),
    "b": Choice("The teacher's anchor is wrong for this sentence.",
                "the anchors are the teacher's own clusters, and the teacher cue is the reference the projection "
                "step was fitted to imitate: by definition it is the right answer here."),
    "c": Choice("The student was trained with the wrong cue tokens.",
                "in the ecr condition it trained with the teacher's cues; training does not choose the cues at "
                "inference, the projection step does."),
    "d": Choice("Cues are drawn at random at inference.",
                "the projection step is deterministic: the same sentence always gets the same cues; random cues "
                "are a separate control condition."),
}
WHY_DISAGREE_ANSWER = "a"


def disagree_row(i_disagree: Any, projected: Any, teacher_top: Any) -> None:
    """Row ``i_disagree`` of the test split: the projected top-1 anchor differs from the teacher's."""
    if projected is None or teacher_top is None:
        fail("this check reads `projected` and `teacher_top` from the notebook: run the projection-step cell "
             "first")
    p, t = np.asarray(projected).reshape(-1), np.asarray(teacher_top).reshape(-1)
    i = as_index(i_disagree, "i_disagree", len(p), "a row of the test split")
    if p[i] == t[i]:
        n = int((p != t).sum())
        fail(f"on row {i} the projection step and the teacher both pick anchor {int(p[i])}: they agree there. "
             f"They disagree on {n} of the {len(p)} rows; np.flatnonzero(projected != teacher_top) lists them.")


def why_disagree_answer(why_disagree: Any) -> None:
    """Why the projection step disagrees with the teacher."""
    multiple_choice(why_disagree, "why_disagree", WHY_DISAGREE, WHY_DISAGREE_ANSWER)
