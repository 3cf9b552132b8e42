"""The exercises: one :class:`Exercise` per check file in ``checks/``, in notebook order.

Three kinds:

- ``predict``: the learner writes a prediction (one of listed choices) *before* running an
  experiment cell; the experiment cell stores what it measured in a variable (also an answer, listed
  in ``measured``), and the check passes only when the prediction matches the measurement, saying
  what was measured when it does not.
- ``code``: the learner writes a small function; the check runs it on small arrays it makes with a
  fixed seed (edge cases included) against the library, and names the likely mistake when it differs.
- ``interpret``: a row or anchor to find in the notebook's own arrays (checked there), and a
  multiple-choice "why".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from . import nb01, nb02, nb03, nb04
from .feedback import Choice

KINDS = ("predict", "code", "interpret")
NOTEBOOKS = ("01_collapse", "02_anchors", "03_training", "04_drift_widgets")


@dataclass(frozen=True)
class Exercise:
    """One exercise with automatic feedback.

    Attributes:
        name: ``exNN_word``; the check file is ``checks/<name>.py``.
        notebook: the notebook's file stem (``"01_collapse"``).
        kind: ``"predict"``, ``"code"`` or ``"interpret"``.
        answers: the variables the check reads from the notebook; while any is missing or still
            ``...`` the check says "not attempted yet".
        prompt: the question, as the learner reads it.
        objective: what the learner can do after it (maps to the notebook's objectives).
        measured: the answers an experiment cell computes (not typed by the learner).
        choices: for each multiple-choice or prediction variable, its options.
    """

    name: str
    notebook: str
    kind: str
    answers: tuple[str, ...]
    prompt: str
    objective: str
    measured: tuple[str, ...] = ()
    choices: Mapping[str, Mapping[str, Choice]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.notebook not in NOTEBOOKS:
            raise ValueError(f"{self.name}: unknown notebook {self.notebook!r}; one of {NOTEBOOKS}")
        unknown = (set(self.measured) | set(self.choices)) - set(self.answers)
        if unknown:
            raise ValueError(f"{self.name}: {sorted(unknown)} are not among the answers {self.answers}")


_ALL = (
    # -- 01 collapse --------------------------------------------------------------------------------
    Exercise(
        "ex01_rank", "01_collapse", "code", ("effective_rank",),
        "Write `effective_rank(X)`: centre X (n, d), take its singular values s, p = s / s.sum(), and return "
        "exp(-sum(p log p)). Compare it with the `effective_rank` column of the table.",
        "compute effective rank from its definition and say why a collapsed space has a low one",
    ),
    Exercise(
        "ex01_centring", "01_collapse", "predict", ("pred_centring", "centring_measured"),
        "Subtract the mean embedding from the smallest student's space. Which metric changes: its anisotropy, "
        "its language probe, both or neither? Predict, then run the experiment.",
        "tell a metric that sees a shared offset (anisotropy) from one that cannot (a probe)",
        measured=("centring_measured",), choices={"pred_centring": nb01.CENTRING_CHOICES},
    ),
    Exercise(
        "ex01_neighbours", "01_collapse", "interpret", ("i_lost", "why_lost"),
        "Find a probe sentence whose nearest neighbour is its translation in the teacher's space but not in a "
        "student's, then say why the student lost it.",
        "read collapse on one sentence, and keep size and training apart when explaining it",
        choices={"why_lost": nb01.WHY_LOST},
    ),
    # -- 02 anchors --------------------------------------------------------------------------------
    Exercise(
        "ex02_shuffled", "02_anchors", "predict", ("pred_shuffled", "shuffled_purity"),
        "Shuffle the topic labels, so they mean nothing, and measure the anchors' topic purity at the smallest "
        "and the largest K of the sweep. Does it rise with K, stay flat near 1/12, or fall? Predict, then run.",
        "read topic purity against its chance baseline, which rises with K",
        measured=("shuffled_purity",), choices={"pred_shuffled": nb02.SHUFFLED_CHOICES},
    ),
    Exercise(
        "ex02_lloyd", "02_anchors", "code", ("lloyd_step",),
        "Write `lloyd_step(X, C)`, one spherical Lloyd step: assign each unit row of X (n, d) to the centroid "
        "of C (k, d) with the largest cosine, move each centroid to the normalised mean of its rows, and "
        "re-seed a centroid that owns no row on the worst-served row. Return (k, d).",
        "take one step of spherical k-means by hand, as derive_anchors does",
    ),
    Exercise(
        "ex02_read_anchor", "02_anchors", "interpret", ("meaning_anchor", "why_mixed"),
        "In `described`, find an anchor that carries meaning, not language: sentences in every language, one "
        "topic holding at least half of them. Then say why ECR wants such anchors.",
        "read an anchor's make-up and say what makes it useful as a cue",
        choices={"why_mixed": nb02.WHY_MIXED},
    ),
    Exercise(
        "ex02_translations", "02_anchors", "predict", ("pred_translations", "translation_cues"),
        "Take one sentence and its 7 translations. Do they all get the same top-1 anchor (the same cue)? "
        "Predict, then run.",
        "check that teacher cues follow meaning across languages",
        measured=("translation_cues",), choices={"pred_translations": nb02.TRANSLATION_CHOICES},
    ),
    # -- 03 training -------------------------------------------------------------------------------
    Exercise(
        "ex03_agreement", "03_training", "code", ("agreement",),
        "Write `agreement(projected, teacher)`: the share of rows whose projected top-1 anchor equals the "
        "teacher's; it must accept (n, 1) arrays as `cues(..., m=1)` returns them and refuse mismatched lengths.",
        "compute anchor agreement and compare it with chance (1/K)",
    ),
    Exercise(
        "ex03_disagree", "03_training", "interpret", ("i_disagree", "why_disagree"),
        "Find a test sentence where the projection step and the teacher pick different anchors, and say why "
        "they can disagree.",
        "explain why ECR at inference gets only part of what the oracle shows",
        choices={"why_disagree": nb03.WHY_DISAGREE},
    ),
    Exercise(
        "ex03_oracle_m0", "03_training", "predict", ("pred_m0", "m0_measured"),
        "Set m_cues = 0: the oracle view now prepends zero teacher cues. What happens to the oracle bar's topic "
        "probe? Predict, then run it.",
        "say where the oracle's advantage comes from (the cue tokens, not the weights alone)",
        measured=("m0_measured",), choices={"pred_m0": nb03.M0_CHOICES},
    ),
    # -- 04 drift widgets ------------------------------------------------------------------------------
    Exercise(
        "ex04_align", "04_drift_widgets", "code", ("procrustes_align",),
        "Write `procrustes_align(Y, X)`: rotate (or reflect) map Y (n, d) onto map X (n, d) with the orthogonal "
        "R minimising ||Y R - X||, so that motion between two checkpoints' maps is drift, not a flipped axis.",
        "align two embedding maps with orthogonal Procrustes before reading motion as drift",
    ),
    Exercise(
        "ex04_churn", "04_drift_widgets", "predict", ("pred_churn", "churn_measured"),
        "Does the map change more in the first half of training or in the second half (kNN churn between "
        "successive checkpoints)? Predict, then run.",
        "measure drift between checkpoints and read it over training",
        measured=("churn_measured",), choices={"pred_churn": nb04.CHURN_CHOICES},
    ),
    Exercise(
        "ex04_temperature", "04_drift_widgets", "predict", ("pred_temperature", "temperature_measured"),
        "Move the temperature from 0.1 to 1.0: do the student's top-m cues change? Predict, then run.",
        "say what temperature does to the scores and why it cannot change the cues",
        measured=("temperature_measured",), choices={"pred_temperature": nb04.TEMPERATURE_CHOICES},
    ),
    Exercise(
        "ex04_k_tokens", "04_drift_widgets", "interpret", ("k_trained", "why_k"),
        "How many cue tokens does this run's model have? And what does the explorer show when you move K to "
        "another value?",
        "tell the cue tokens a model was trained with from an illustration",
        choices={"why_k": nb04.WHY_K},
    ),
)

#: every exercise by name, in notebook order
EXERCISES: dict[str, Exercise] = {e.name: e for e in _ALL}
