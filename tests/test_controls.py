"""Controls for ECR at inference: cue only, KD student + cue, the projector as a topic classifier."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ecr_lab import controls
from ecr_lab.anchors import AnchorSet, derive_anchors
from ecr_lab.data import Corpus
from ecr_lab.experiment import rows_of
from ecr_lab.student import make_student, train_tokenizer
from ecr_lab.training import TrainConfig, train


def _synthetic_corpus(n_topics: int = 4, units: int = 20, langs=("en", "de")) -> Corpus:
    """n_topics x units meaning units, each in every language of ``langs``."""
    recs = [{"text": f"t{t} u{u} {lang}", "lang": lang, "topic": f"topic{t}", "pair_id": f"t{t}u{u}"}
            for t in range(n_topics) for u in range(units) for lang in langs]
    return Corpus.from_records(recs, name="synthetic")


def test_one_hot_cues_shape_and_values():
    hot = controls.one_hot_cues(np.array([[0, 2], [3, 1], [2, 2]]), 4)
    assert hot.shape == (3, 4) and hot.dtype == np.float32
    assert hot.tolist() == [[1, 0, 1, 0], [0, 1, 0, 1], [0, 0, 1, 0]]
    assert controls.one_hot_cues(np.array([1, 0]), 3).tolist() == [[0, 1, 0], [1, 0, 0]]  # (n,) is m = 1
    with pytest.raises(ValueError, match=r"must lie in \[0, K=4\)"):
        controls.one_hot_cues(np.array([[0, 4]]), 4)
    with pytest.raises(ValueError, match="integer anchor ids"):
        controls.one_hot_cues(np.array([[0.0, 1.0]]), 4)
    with pytest.raises(ValueError, match=r"\(n, m\)"):
        controls.one_hot_cues(np.zeros((0, 2), dtype=int), 4)


def test_cue_only_probe_reads_a_topic_cue_and_not_a_random_one(rng):
    corpus = _synthetic_corpus()
    topic_idx = np.array([int(t[-1]) for t in corpus.topic_labels])
    # cue 1 = the topic, cue 2 = noise from the other half of the ids: the probe reads the topic
    k = 8
    informative = np.stack([topic_idx, 4 + rng.integers(0, 4, len(corpus))], axis=1)
    rep = controls.cue_only_report(informative, k, corpus, None)
    assert rep["topic_probe"] == pytest.approx(1.0)
    assert rep["cross_lingual_transfer"] == pytest.approx(1.0)
    random = rng.integers(0, k, size=(len(corpus), 2))
    chance = controls.cue_only_report(random, k, corpus, None)["topic_probe"]
    assert chance < 0.5  # chance is 0.25 (4 balanced topics)
    with pytest.raises(ValueError, match="mismatched lengths"):
        controls.cue_only_report(informative[:-1], k, corpus, None)


def test_student_plus_cue_standardises_the_student_part(rng):
    emb = rng.standard_normal((50, 6))
    emb[:, 0] *= 1e6  # one column of huge scale
    emb[:, 1] = 3.0  # a constant column
    cues = rng.integers(0, 5, size=(50, 2))
    x = controls.student_plus_cue(emb, cues, 5)
    assert x.shape == (50, 6 + 5) and x.dtype == np.float32
    sd = x[:, :6].std(0)
    assert np.allclose(sd[[0, 2, 3, 4, 5]], 1.0, atol=1e-4) and sd[1] == 0.0
    assert np.allclose(x[:, :6].mean(0), 0.0, atol=1e-4)
    assert np.array_equal(x[:, 6:], controls.one_hot_cues(cues, 5))
    with pytest.raises(ValueError, match="mismatched lengths"):
        controls.student_plus_cue(emb[:-1], cues, 5)


def _toy_anchors() -> AnchorSet:
    v = np.eye(3, 4, dtype=np.float32)  # anchor i = axis i of a 4-d teacher space
    return AnchorSet(vectors=v, sizes=np.zeros(3, dtype=np.int64))


def test_anchor_majority_topics():
    anchors = _toy_anchors()
    teacher = np.array([[1, 0, 0, 0], [1, .1, 0, 0], [.9, 0, .1, 0], [0, 1, 0, 0], [0, 1, .1, 0],
                        [.1, 1, 0, 0], [0, 0, 0, 1]], dtype=np.float32)  # the last row's top-1 is anchor 0
    topics = ["a", "a", "b", "c", "b", None, "a"]
    maj = controls.anchor_majority_topics(anchors, teacher, topics)
    assert maj.shape == (3,) and maj.dtype == object
    # anchor 0: a, a, b, a (row 6 is nearest anchor 0 by tie-break) -> a; anchor 1: c, b (tie -> b); anchor 2: none
    assert maj.tolist() == ["a", "b", None]
    with pytest.raises(ValueError, match="mismatched lengths"):
        controls.anchor_majority_topics(anchors, teacher, topics[:-1])


def test_projector_topic_accuracy():
    maj = np.array(["a", "b", None], dtype=object)
    assert controls.projector_topic_accuracy(np.array([0, 1, 1, 0]), maj, ["a", "b", "b", "a"]) == 1.0
    assert controls.projector_topic_accuracy(np.array([0, 1, 2, 0]), maj, ["a", "a", "a", None]) == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="mismatched lengths"):
        controls.projector_topic_accuracy(np.array([0, 1]), maj, ["a"])
    with pytest.raises(ValueError, match="no row has a topic"):
        controls.projector_topic_accuracy(np.array([0]), maj, [None])
    with pytest.raises(ValueError, match="one anchor per row"):
        controls.projector_topic_accuracy(np.array([[0, 1]]), maj, ["a"])


def test_student_margin():
    ecr = {"topic_probe": 0.8, "retrieval_at_1": 0.5, "anisotropy": 0.1}
    ctl = {"cue_only": {"topic_probe": 0.75, "retrieval_at_1": 0.1}, "kd_plus_cue": {"topic_probe": 0.85},
           "projector_alone": {"topic_accuracy": 0.7}}
    assert controls.student_margin(ecr, ctl) == pytest.approx({"topic_probe": -0.05, "retrieval_at_1": 0.4})


@pytest.fixture(scope="module")
def tiny_runs(corpus, corpus_embeddings):
    sub = corpus.subset(units_per_topic=8, langs=["en", "de", "zh", "ar"])
    emb = corpus_embeddings[rows_of(sub, corpus)]
    tr, te = sub.split(0.5, seed=0)
    etr, ete = emb[rows_of(tr, sub)], emb[rows_of(te, sub)]
    anchors = derive_anchors(etr, 8, seed=0)
    tok = train_tokenizer(tr.texts, vocab_size=600)
    runs = {}
    for cond in ("ecr+kd", "kd"):
        cfg = TrainConfig(condition=cond, steps=2, batch_size=8, eval_every=2, m_cues=2, progress=False, device="cpu")
        runs[cond] = train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg)
    return runs, tr, etr, te, ete


def test_control_views_end_to_end(tiny_runs):
    runs, tr, etr, te, ete = tiny_runs
    views = controls.control_views(runs["ecr+kd"], runs["kd"], te, ete, etr, tr.topic_labels)
    assert set(views) == {"cue_only", "kd_plus_cue", "projector_alone"}
    for name in ("cue_only", "kd_plus_cue"):
        assert {"topic_probe", "cross_lingual_transfer", "retrieval_at_1", "cka_to_teacher"} <= set(views[name])
    assert set(views["projector_alone"]) == {"topic_accuracy", "teacher_topic_accuracy", "topic_majority_rate"}
    assert all(math.isfinite(v) for vals in views.values() for v in vals.values())
    pa = views["projector_alone"]
    assert 0 <= pa["topic_accuracy"] <= 1 and 0 < pa["teacher_topic_accuracy"] <= 1
    # the cue-only view is the multi-hot of exactly the cues ECR at inference receives
    cues = runs["ecr+kd"].student.cues(te.texts)
    assert views["cue_only"] == controls.cue_only_report(cues, 8, te, ete)
    without_kd = controls.control_views(runs["ecr+kd"], None, te, ete, etr, tr.topic_labels)
    assert set(without_kd) == {"cue_only", "projector_alone"}


def test_control_views_errors(tiny_runs):
    runs, tr, etr, te, ete = tiny_runs
    ecr, kd = runs["ecr+kd"], runs["kd"]
    with pytest.raises(ValueError, match="mismatched lengths: corpus"):
        controls.control_views(ecr, kd, te, ete[:-1], etr, tr.topic_labels)
    with pytest.raises(ValueError, match="mismatched lengths: teacher_train"):
        controls.control_views(ecr, kd, te, ete, etr[:-1], tr.topic_labels)
    saved = ecr.student.projector
    try:
        ecr.student.projector = None
        with pytest.raises(ValueError, match=r"no fitted projection step.*fit_projector"):
            controls.control_views(ecr, kd, te, ete, etr, tr.topic_labels)
    finally:
        ecr.student.projector = saved
    kd_anchors = kd.student.anchors
    try:
        kd.student.anchors = derive_anchors(etr, 6, seed=0)
        with pytest.raises(ValueError, match="K=8 anchors but the KD run K=6"):
            controls.control_views(ecr, kd, te, ete, etr, tr.topic_labels)
    finally:
        kd.student.anchors = kd_anchors
