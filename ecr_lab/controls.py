"""Controls for ECR at inference: how much of its score is the projector's, how much the student's?

At inference ECR runs a small supervised classifier (the projection step,
:class:`~ecr_lab.projection.AnchorProjector`) that picks m anchors for each text and writes them
into the input as cue tokens ``<ecr_i>``. Anchors are clusters of the teacher's space, and most of
them are nearly pure in topic. So a good topic probe on ECR's embedding could come from two places:

- the **student** has learned a better representation of meaning, or
- the **projector** has already classified the text, and the student only carries its answer
  (the cue tokens) through to the output.

Each control below answers one question:

``cue_only``
    *How far do the cues alone go, with no student at all?* The projected anchor ids of each text,
    as a multi-hot vector of length K (1 at each of the m cues), scored with every metric of
    :func:`ecr_lab.metrics.geometry_report`. If ECR at inference scores no higher, the student
    adds nothing the projector did not already say.
``kd_plus_cue``
    *Does ECR beat a student that never saw cues, handed the same cues afterwards?* The KD
    student's cue-free embedding (standardised per column) placed beside the same multi-hot cue.
    This is the fair rival of ECR+KD: the same teacher signal, the same classifier output, but
    the two are only put side by side, never mixed inside a network.
``projector_alone``
    *How good is the projector as a topic classifier?* Its top-1 anchor mapped to that anchor's
    majority topic (counted on the training rows), against the true topic. Beside it, the same
    for the teacher's own top-1 anchor: the ceiling, i.e. how topic-pure the anchors are on
    these rows.

**Reading rule.** ECR at inference is credited with what the student adds only where it beats
both ``cue_only`` and ``kd_plus_cue`` (:func:`student_margin` computes that margin). When it does
not, the gain at inference belongs to the projector (a supervised classifier), not to the student.

Two cautions when reading the numbers:

- ``topic_probe`` is a logistic probe trained on some meaning units of the evaluated rows and
  tested on the others; ``projector_alone`` uses no probe at all (majority topics come from the
  training split) and counts every evaluated row. They answer close questions on different rows:
  compare each with its own kind.
- On a multi-hot matrix, geometry metrics (anisotropy, effective rank, silhouette, retrieval) are
  properties of the 0/1 encoding (rows with no shared cue are orthogonal, rows with the same cues
  are identical); only the probes compare directly with the student's views.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from . import metrics
from .vectors import check_embeddings

#: probe metrics (higher is better) on which :func:`student_margin` credits the student
CREDIT_METRICS = ("topic_probe", "cross_lingual_transfer", "retrieval_at_1")


def _check_cues(cues, k: int) -> np.ndarray:
    """Validate (n, m) anchor ids in [0, k); a (n,) vector is read as m = 1."""
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"K (number of anchors) must be a positive int, got {k!r}")
    c = np.asarray(cues)
    if c.ndim == 1:
        c = c[:, None]
    if c.ndim != 2 or c.shape[0] == 0 or c.shape[1] == 0:
        raise ValueError(f"cues must be an (n, m) array of anchor ids with n, m >= 1; got shape {np.shape(cues)}")
    if not np.issubdtype(c.dtype, np.integer):
        raise ValueError(f"cues must be integer anchor ids, got dtype {c.dtype}")
    if c.min() < 0 or c.max() >= k:
        raise ValueError(f"cue ids must lie in [0, K={k}); found {int(c.min())}..{int(c.max())}. "
                         "Were the cues picked with another anchor set?")
    return c.astype(np.int64, copy=False)


def one_hot_cues(cues, k: int) -> np.ndarray:
    """The "cue only" representation: a multi-hot vector of the m cue ids of each row.

    Args:
        cues: (n, m) int anchor ids (an (n,) vector is m = 1), each in [0, k).
        k: K, the number of anchors.

    Returns:
        (n, k) float32, 1.0 at each cue of the row, 0.0 elsewhere (row sums = number of distinct cues).
    """
    c = _check_cues(cues, k)
    out = np.zeros((len(c), k), dtype=np.float32)
    np.put_along_axis(out, c, 1.0, axis=1)
    return out


def cue_only_report(cues, k: int, corpus, teacher_embeddings: np.ndarray | None = None,
                    seed: int = 0) -> dict[str, float]:
    """:func:`ecr_lab.metrics.geometry_report` of the multi-hot cues alone: no student at all.

    Args:
        cues: (n, m) projected anchor ids of the n rows of ``corpus``.
        k: K, the number of anchors.
        corpus: the :class:`~ecr_lab.data.Corpus` the rows come from (labels for the probes).
        teacher_embeddings: (n, d_t) teacher rows (CKA and k-NN overlap to the teacher), or None.

    Returns:
        {metric: value}, the same names as every other view.
    """
    x = one_hot_cues(cues, k)
    _check_rows(len(x), corpus, teacher_embeddings)
    return metrics.geometry_report(x, corpus, teacher_embeddings, seed=seed)


def standardise_columns(x: np.ndarray) -> np.ndarray:
    """Z-score each column over the rows: (x - mean) / std; a constant column becomes 0. (n, h) -> (n, h) float32."""
    x = check_embeddings(x, "embeddings", dtype=np.float64, nonzero_rows=False)
    sd = x.std(0)
    z = (x - x.mean(0)) / np.where(sd > 0, sd, 1.0)
    return z.astype(np.float32)


def student_plus_cue(embeddings: np.ndarray, cues, k: int) -> np.ndarray:
    """A student's cue-free embedding placed beside the multi-hot cue.

    The student part is standardised per column (:func:`standardise_columns`), so no column wins by
    its scale alone; the cue part stays 0/1. (The probes standardise every column again, so there
    each cue column weighs as much as a student column; cosine-based metrics see mostly the h
    student columns.)

    Args:
        embeddings: (n, h) the student's cue-free embeddings of the n rows.
        cues: (n, m) projected anchor ids of the same rows.
        k: K, the number of anchors.

    Returns:
        (n, h + k) float32: [z-scored embedding | multi-hot cue].
    """
    hot = one_hot_cues(cues, k)
    z = standardise_columns(embeddings)
    if len(z) != len(hot):
        raise ValueError(f"mismatched lengths: embeddings {len(z)} rows, cues {len(hot)} rows; the rows must be the same texts")
    return np.concatenate([z, hot], axis=1)


def student_plus_cue_report(embeddings: np.ndarray, cues, k: int, corpus,
                            teacher_embeddings: np.ndarray | None = None, seed: int = 0) -> dict[str, float]:
    """:func:`ecr_lab.metrics.geometry_report` of :func:`student_plus_cue` (n, h + k) on ``corpus``'s n rows."""
    x = student_plus_cue(embeddings, cues, k)
    _check_rows(len(x), corpus, teacher_embeddings)
    return metrics.geometry_report(x, corpus, teacher_embeddings, seed=seed)


def anchor_majority_topics(anchors, teacher_train: np.ndarray, train_topics: Sequence) -> np.ndarray:
    """The topic each anchor stands for: the majority topic of the training rows whose teacher
    top-1 anchor it is.

    Args:
        anchors: the :class:`~ecr_lab.anchors.AnchorSet` (K anchors).
        teacher_train: (n_tr, d_t) teacher rows of the training split.
        train_topics: (n_tr,) their topics (None where unknown; those rows are not counted).

    Returns:
        (K,) object array: the majority topic of anchor i, or None when no labelled training row
        has it as top-1. Ties go to the topic first in sorted order.
    """
    topics = np.asarray(train_topics, dtype=object)
    if len(topics) != len(teacher_train):
        raise ValueError(f"mismatched lengths: teacher_train {len(teacher_train)} rows, train_topics {len(topics)}")
    top1 = anchors.assign(teacher_train, 1)[0][:, 0]
    frame = pd.DataFrame({"anchor": top1, "topic": topics}).dropna()
    out = np.full(anchors.k, None, dtype=object)
    for a, grp in frame.groupby("anchor"):
        counts = grp["topic"].astype(str).value_counts()
        best = counts[counts == counts.max()].index
        out[int(a)] = sorted(best)[0]
    return out


def projector_topic_accuracy(cue_top1, majority: np.ndarray, topics: Sequence) -> float:
    """A top-1 anchor read as a topic classifier: share of rows whose anchor's majority topic is
    their true topic.

    With the projector's top-1 cue this is the projector as a topic classifier; with the teacher's
    own top-1 anchor it is the ceiling (how topic-pure the anchors are on these rows).

    Args:
        cue_top1: (n,) anchor ids (e.g. ``cues[:, 0]``).
        majority: (K,) majority topic of each anchor (:func:`anchor_majority_topics`); None counts as wrong.
        topics: (n,) true topics; rows with None are left out.

    Returns:
        accuracy in [0, 1] over the rows with a known topic.
    """
    majority = np.asarray(majority, dtype=object)
    c = _check_cues(cue_top1, len(majority))
    if c.shape[1] != 1:
        raise ValueError(f"cue_top1 must be one anchor per row (n,); got shape {c.shape}: pass cues[:, 0]")
    y = np.asarray(topics, dtype=object)
    if len(y) != len(c):
        raise ValueError(f"mismatched lengths: cue_top1 {len(c)} rows, topics {len(y)}")
    known = np.array([t is not None for t in y])
    if not known.any():
        raise ValueError("no row has a topic; topic accuracy needs labelled rows")
    pred = majority[c[known, 0]]
    truth = y[known]
    return float(np.mean([p is not None and str(p) == str(t) for p, t in zip(pred, truth, strict=True)]))


def _check_rows(n: int, corpus, teacher_embeddings) -> None:
    if len(corpus) != n:
        raise ValueError(f"mismatched lengths: corpus {len(corpus)} rows, {n} rows of cues/embeddings")
    if teacher_embeddings is not None and len(teacher_embeddings) != n:
        raise ValueError(f"mismatched lengths: corpus {n} rows, teacher_embeddings {len(teacher_embeddings)}")


def _check_projector(run, role: str) -> None:
    proj = run.student.projector
    if proj is None or not proj.fitted:
        raise ValueError(
            f"the {role} run {getattr(run, 'name', run)!r} has no fitted projection step, so it picks no cues; fit it "
            "with run.student.fit_projector(train_texts, teacher_train) (training.train fits it at the end of "
            "every finished run)")


def control_views(ecr_run, kd_run, corpus, teacher_embeddings: np.ndarray, teacher_train: np.ndarray,
                  train_topics: Sequence, seed: int = 0, progress: bool = False,
                  cues: np.ndarray | None = None) -> dict[str, dict[str, float]]:
    """The control views to put beside ECR at inference, for one ECR run (and its KD twin).

    Args:
        ecr_run: the ECR run (:class:`~ecr_lab.runs.Run`, e.g. condition "ecr+kd") whose projected
            cues are tested; its projection step must be fitted.
        kd_run: a run of the same preset and seed trained without cues (condition "kd"), or None
            to skip ``kd_plus_cue``. Its anchors must have the same K.
        corpus: the held-out :class:`~ecr_lab.data.Corpus` (n rows) ECR is evaluated on.
        teacher_embeddings: (n, d_t) teacher rows of ``corpus``.
        teacher_train: (n_tr, d_t) teacher rows of the training split (the anchors' majority topics).
        train_topics: (n_tr,) topics of the training split.
        cues: (n, m) the ECR run's projected cues of ``corpus`` when the caller has them already
            (``ecr_run.student.cues(texts)``; a hidden-state feature costs a forward pass).

    Returns:
        {view: {metric: value}}:
        ``"cue_only"`` (geometry report of the ECR run's projected cues of ``corpus``, multi-hot),
        ``"kd_plus_cue"`` (geometry report of the KD run's cue-free embedding ⊕ the same cues; absent
        when ``kd_run`` is None), ``"projector_alone"`` ({"topic_accuracy", "teacher_topic_accuracy",
        "topic_majority_rate"}). The cues are ``ecr_run.student.cues(texts)``: exactly what ECR
        at inference receives.
    """
    if len(corpus) != len(teacher_embeddings):
        raise ValueError(f"mismatched lengths: corpus {len(corpus)} rows, teacher_embeddings {len(teacher_embeddings)}")
    if len(teacher_train) != len(train_topics):
        raise ValueError(f"mismatched lengths: teacher_train {len(teacher_train)} rows, train_topics {len(train_topics)}")
    _check_projector(ecr_run, "ECR")
    ecr = ecr_run.student
    k = ecr.anchors.k
    if kd_run is not None and kd_run.student.anchors.k != k:
        raise ValueError(f"the ECR run has K={k} anchors but the KD run K={kd_run.student.anchors.k}; pair runs "
                         "of the same set-up (same anchors, preset and seed)")
    texts = corpus.texts
    cues = ecr.cues(texts) if cues is None else np.asarray(cues)  # (n, m): what ECR at inference prepends
    if len(cues) != len(texts):
        raise ValueError(f"mismatched lengths: {len(texts)} texts but {len(cues)} rows of cues")
    views: dict[str, dict[str, float]] = {"cue_only": cue_only_report(cues, k, corpus, teacher_embeddings, seed=seed)}
    if kd_run is not None:
        x_kd = kd_run.student.encode(texts, cues=None, progress=progress)  # (n, h) cue-free
        views["kd_plus_cue"] = student_plus_cue_report(x_kd, cues, k, corpus, teacher_embeddings, seed=seed)
    topics = corpus.topic_labels
    if len({t for t in topics if t is not None}) < 2:  # no topics (your own data): no topic accuracy to read
        return views
    majority = anchor_majority_topics(ecr.anchors, teacher_train, train_topics)
    teacher_top1 = ecr.anchors.assign(teacher_embeddings, 1)[0][:, 0]
    views["projector_alone"] = {
        "topic_accuracy": projector_topic_accuracy(cues[:, 0], majority, topics),
        "teacher_topic_accuracy": projector_topic_accuracy(teacher_top1, majority, topics),
        "topic_majority_rate": metrics.majority_rate(topics),
    }
    return views


def student_margin(ecr_inference: dict[str, float], controls: dict[str, dict[str, float]],
                   metric_names: Iterable[str] = CREDIT_METRICS) -> dict[str, float]:
    """The reading rule as numbers: ECR at inference minus the best of ``cue_only`` and ``kd_plus_cue``.

    Args:
        ecr_inference: {metric: value} of the ``ecr_inference`` view.
        controls: :func:`control_views` of the same run.
        metric_names: higher-is-better metrics to compare (default :data:`CREDIT_METRICS`).

    Returns:
        {metric: margin} for the metrics present in ``ecr_inference`` and in at least one control.
        Positive: the student adds something beyond the projector's classification; <= 0: it does not.
    """
    out = {}
    rivals = [controls[v] for v in ("cue_only", "kd_plus_cue") if v in controls]
    for name in metric_names:
        best = [r[name] for r in rivals if name in r]
        if name in ecr_inference and best:
            out[name] = float(ecr_inference[name] - max(best))
    return out
