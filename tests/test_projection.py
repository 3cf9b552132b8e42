"""The projection step: ridge and Procrustes maps, scores, cues, persistence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import clustered

from ecr_lab.anchors import AnchorSet, derive_anchors
from ecr_lab.metrics import anchor_agreement
from ecr_lab.projection import AnchorProjector, NotFittedError, load_bundle


def _student_of(teacher, d_s, noise=0.05, seed=0):
    r = np.random.default_rng(seed)
    mix = r.standard_normal((teacher.shape[1], d_s))
    return teacher @ mix + noise * r.standard_normal((len(teacher), d_s)) + 3.0


@pytest.mark.parametrize("method", ["ridge", "procrustes", "classifier"])
@pytest.mark.parametrize("d_s", [8, 24])
def test_recovers_teacher_anchors(method, d_s):
    t, _ = clustered(k=5, d=16, n_per=60, noise=0.1)
    a = derive_anchors(t, 5)
    s = _student_of(t, d_s)
    p = AnchorProjector(a, method=method, alpha=1e-3).fit(s[::2], t[::2])
    agree = anchor_agreement(p.cues(s[1::2], m=1)[:, 0], a.assign(t[1::2])[0][:, 0])
    assert agree > 0.9, agree


def test_scores_are_softmax_with_temperature():
    t, _ = clustered(k=4, d=8)
    a = derive_anchors(t, 4)
    p = AnchorProjector(a).fit(t, t)
    hot, cold = p.scores(t[:5], temperature=1.0), p.scores(t[:5], temperature=0.01)
    assert hot.shape == (5, 4) and np.allclose(hot.sum(1), 1, atol=1e-5)
    assert (cold.max(1) > hot.max(1)).all()
    assert np.array_equal(p.cues(t[:5], m=2)[:, 0], cold.argmax(1))
    with pytest.raises(ValueError, match="temperature"):
        p.scores(t[:5], temperature=0)


def test_errors():
    t, _ = clustered(k=3, d=8)
    a = derive_anchors(t, 3)
    with pytest.raises(ValueError, match="unknown projection method"):
        AnchorProjector(a, method="magic")
    p = AnchorProjector(a)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        p.cues(t)
    assert not hasattr(p, "W") and p.W_ is None  # fitted attributes end in "_"
    with pytest.raises(ValueError, match="mismatched lengths"):
        p.fit(t, t[:-1])
    with pytest.raises(ValueError, match="dimension mismatch"):
        p.fit(t, np.ones((len(t), 5)))
    p.fit(t, t)
    with pytest.raises(ValueError, match="dimension mismatch"):
        p.cues(np.ones((2, 3)))
    with pytest.raises(ValueError, match="between 1 and K=3"):
        p.cues(t, m=4)
    with pytest.raises(ValueError, match="NaN"):
        p.cues(np.full((1, 8), np.nan))


def test_classifier_handles_anchors_never_chosen():
    t, _ = clustered(k=3, d=8, n_per=30)
    extra = np.eye(8, dtype=np.float32)[[7]]  # an anchor no row is closest to
    a = derive_anchors(t, 3)
    a.vectors = np.vstack([a.vectors, extra])
    p = AnchorProjector(a, method="classifier").fit(t, t)
    assert (p.cues(t, 1)[:, 0] != 3).all()


def test_saved_with_the_anchors(tmp_path):
    t, _ = clustered(k=3, d=8)
    a = derive_anchors(t, 3)
    s = _student_of(t, 6)
    p = AnchorProjector(a, method="procrustes", temperature=0.2).fit(s, t)
    p.save(tmp_path / "bundle")
    anchors, q = load_bundle(tmp_path / "bundle")
    assert q.method == "procrustes" and q.temperature == 0.2
    assert np.allclose(p.scores(s), q.scores(s), atol=1e-6)
    other = AnchorSet(vectors=np.eye(4, 8, dtype=np.float32), sizes=np.ones(4, dtype=np.int64))
    with pytest.raises(ValueError, match="refit the projector"):
        AnchorProjector.load(tmp_path / "bundle", other)


@pytest.mark.parametrize("method", ["ridge", "procrustes", "classifier"])
def test_cues_torch_matches_numpy(method):
    import torch

    t, _ = clustered(k=5, d=16, n_per=30, noise=0.2)
    a = derive_anchors(t, 5)
    s = _student_of(t, 12, noise=0.5)
    p = AnchorProjector(a, method=method).fit(s, t)
    assert np.array_equal(p.cues(s, m=3), p.cues_torch(torch.as_tensor(s, dtype=torch.float32), m=3).numpy())


def test_classifier_projection_scores_and_persistence(tmp_path):
    t, _ = clustered(k=4, d=8, n_per=40, noise=0.3)
    a = derive_anchors(t, 4)
    s = _student_of(t, 6, noise=0.3)
    p = AnchorProjector(a, method="classifier", alpha=0.1).fit(s, t)
    own = p.scores(s[:5], temperature=0.1)
    assert np.allclose(own.sum(1), 1, atol=1e-5) and (own.argmax(1) == p.cues(s[:5], 1)[:, 0]).all()
    with pytest.raises(ValueError, match="no map into the teacher space"):
        p.transform(s)
    p.save(tmp_path / "b")
    q = AnchorProjector.load(tmp_path / "b")
    assert q.method == "classifier" and np.allclose(q.scores(s), p.scores(s), atol=1e-6)


def test_reloaded_projector_picks_exactly_the_same_cues(tmp_path):
    t, _ = clustered(k=3, d=8)
    s = _student_of(t, 6)
    p = AnchorProjector(derive_anchors(t, 3), method="classifier").fit(s, t)
    assert {a.dtype for a in (p.W_, p.mu_s_, p.sigma_s_, p.mu_t_)} == {np.dtype(np.float32)}
    q = AnchorProjector.load(p.save(tmp_path / "p"))
    assert np.array_equal(p.cues(s, 2), q.cues(s, 2)) and np.array_equal(p.scores(s), q.scores(s))
