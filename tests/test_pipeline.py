"""Integration: the whole pipeline on a tiny profile, evaluation views, claims verdicts, the CLI."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ecr_lab.cli import main
from ecr_lab.config import get_profile
from ecr_lab.evaluation import claims_table, metric_verdict
from ecr_lab.pipeline import run_pipeline

# 20 units per topic: 4 per topic in the test split, the fewest a topic probe split by unit accepts
TINY = get_profile("fast").replace(units_per_topic=20, languages=("en", "de", "zh", "ar"), train_steps=6,
                                   eval_every=3, k_anchors=6, batch_size=8, kmeans_restarts=1)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, cache_root):
    out = tmp_path_factory.mktemp("pipe")
    return run_pipeline(TINY, out, seeds=2, progress=False)


def test_pipeline_writes_everything(pipeline):
    out = pipeline["out"]
    assert (out / "report.html").stat().st_size > 10_000
    html = (out / "report.html").read_text()
    assert "data:image/png;base64" in html and "C5" in html
    data = json.loads((out / "results.json").read_text())
    assert {"summary", "claims", "results"} <= set(data)
    res = pd.read_csv(out / "results.csv")
    # 2 seeds x (5 conditions on nano + baseline, kd and ecr+kd on micro)
    assert res["run"].nunique() == 16
    assert set(res["view"]) == {"cue_free", "ecr_inference", "oracle", "projection", "training", "inference",
                                "cue_only", "kd_plus_cue", "projector_alone"}
    # the cue-only controls sit beside every run with cues; KD + cue needs the KD run of the same size and seed
    for cond in ("ecr", "random_cues", "ecr+kd"):
        views = set(res[res.condition == cond].view)
        assert {"cue_only", "kd_plus_cue", "projector_alone"} <= views, cond
    acc = res[(res.view == "projector_alone") & (res.metric == "topic_accuracy")]["value"]
    assert acc.between(0, 1).all()
    ecr = res[(res.condition == "ecr") & (res.view == "ecr_inference")]
    assert {"topic_probe", "retrieval_at_1", "cross_lingual_transfer", "cka_to_teacher"} <= set(ecr.metric)
    assert res[(res.condition == "baseline")]["view"].isin(["cue_free", "projection", "training"]).all()


def test_claims_table_covers_c1_to_c6(pipeline):
    claims = pipeline["claims"]
    assert list(dict.fromkeys(claims["claim"])) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert (claims["seeds"] == 2).all()
    c5 = claims[claims.claim == "C5"].iloc[0]
    assert "nano" in c5["comparison"] and "micro" in c5["comparison"]


def test_rerun_reuses_finished_runs(pipeline, monkeypatch):
    import ecr_lab.experiment as exp

    def no_training(*a, **k):
        raise AssertionError("a finished run was retrained")

    monkeypatch.setattr(exp, "train", no_training)
    again = run_pipeline(TINY, pipeline["out"], seeds=2, progress=False)
    assert again["results"]["value"].notna().any()


def test_metric_verdict_rules():
    assert metric_verdict(np.array([0.2, 0.3, 0.25])) == "supported"  # the 95 % t interval excludes 0
    assert metric_verdict(np.array([0.2, -0.1, 0.05])) == "inconclusive"
    assert metric_verdict(np.array([-0.2, -0.1, 0.0])) == "inconclusive"  # 3 seeds: too wide to contradict
    assert metric_verdict(np.array([-0.3, -0.31, -0.29])) == "contradicted"
    assert metric_verdict(np.array([0.0])) == "indicative against"  # one seed is never "supported"
    assert metric_verdict(np.array([0.4])) == "indicative"
    assert metric_verdict(np.array([])) == "n/a"


def test_claims_table_from_synthetic_results():
    rows = []
    for seed in range(3):
        for cond, preset, params, topic in [("baseline", "s", 1, 0.30), ("ecr", "s", 1, 0.50), ("baseline", "l", 3, 0.40)]:
            for view in ("cue_free", "ecr_inference"):
                rows.append(dict(run=f"{preset}{cond}{seed}", condition=cond, preset=preset, params=params, seed=seed,
                                 view=view, metric="topic_probe", value=topic + 0.01 * seed))
        rows.append(dict(run=f"secr{seed}", condition="ecr", preset="s", params=1, seed=seed, view="inference",
                         metric="latency_ratio", value=1.02))
    claims = claims_table(pd.DataFrame(rows))
    c5 = claims[(claims.claim == "C5") & (claims.metric == "ecr_inference/topic_probe")].iloc[0]
    assert c5["metric_verdict"] == "supported" and c5["other"].startswith("0.410")
    assert claims[claims.claim == "C6"].iloc[0]["verdict"] == "supported"
    assert claims[claims.claim == "C1"].iloc[0]["verdict"] == "n/a"


def test_cli_demo_summary_only(capsys, cache_root):
    assert main(["demo", "--summary-only"]) == 0
    out = capsys.readouterr().out
    assert "6144 rows" in out and "mean_cos_translations" in out


def test_cli_rejects_unknown_profile():
    with pytest.raises(SystemExit):
        main(["run", "--profile", "turbo"])


def test_rows_of_and_probe_subset(corpus):
    from ecr_lab.experiment import probe_subset, rows_of

    sub = probe_subset(corpus, 384)
    assert len(sub) == 384 and set(sub.languages) == set(corpus.languages)
    idx = rows_of(sub, corpus)
    assert corpus.frame.iloc[idx]["text"].tolist() == sub.texts


def test_study_smoke(tmp_path, cache_root, monkeypatch):
    from ecr_lab.study import projection_table, run_study, variant_table
    from ecr_lab.tables import markdown_table

    out = run_study(TINY, tmp_path, seeds=1, variants=("baseline", "ecr", "ecr_soft"), km_sweep=False, progress=False)
    res = out["results"]
    # the larger student trains what it trains in the pipeline: the baseline, KD and the claim condition
    assert set(zip(res.preset, res.variant, strict=True)) == {
        ("nano", "baseline"), ("nano", "ecr"), ("nano", "ecr_soft"), ("micro", "baseline"), ("micro", "kd"),
        ("micro", "ecr+kd")}
    assert set(res.split) == {"val", "test"} and set(out["projections"].split) == {"val", "test"}
    assert out["choices"]["variant"]["choice"] in ("ecr", "ecr_soft")  # chosen on validation, small student
    # claim C3's stress regime: the deep student at three learning rates, every run accounted for
    stress = out["stress"]
    assert set(stress.learning_rate) == {3e-3, 1e-2, 3e-2} and set(stress.preset) == {"deep"}
    assert set(stress.variant) == {"baseline", "kd", "ecr+kd"} and stress["loss_spikes"].notna().all()
    from ecr_lab.report import study_markdown
    from ecr_lab.study import stress_claims

    c3 = stress_claims(stress)
    assert (c3.claim == "C3").all() and len(c3) == 3 * 2 * 2  # rates x controls x (spikes, divergence)
    text = study_markdown(out, "study", "here")
    assert "## Chosen on validation" in text and "stress regime" in text and "cue_only" in text
    proj = out["projections"]
    assert set(zip(proj.method, proj.feature, strict=True)) == {(m, f) for m in ("ridge", "procrustes", "classifier")
                                                  for f in ("tokens", "hidden")}
    assert proj["anchor_agreement"].between(0, 1).all()
    table = variant_table(res)
    assert {"preset", "variant", "view", "topic_probe"} <= set(table.columns)
    md = markdown_table(projection_table(proj))
    assert md.startswith("| variant | feature | method |") and "±" in md
    assert (tmp_path / "study.csv").exists()
    # every run's tables are cached under a key of the saved run: a second study evaluates nothing
    cached = sorted(p.name for p in (tmp_path / "tables").iterdir())
    assert len([c for c in cached if "-eval-" in c]) == len(set(res.run)) and any("-projections-" in c for c in cached)
    import ecr_lab.study as study_module

    def refuse(*a, **k):
        raise AssertionError("evaluated again")

    monkeypatch.setattr(study_module, "evaluate_splits", refuse)
    monkeypatch.setattr(study_module, "projection_variants", refuse)
    again = run_study(TINY, tmp_path, seeds=1, variants=("baseline", "ecr", "ecr_soft"), km_sweep=False, stress=False,
                      progress=False)
    pd.testing.assert_frame_equal(again["results"], res)


def test_eval_set_is_balanced_across_topics_and_languages(corpus, corpus_embeddings):
    """Setup.eval_set once kept the first units in pair_id order: 5 of 12 topics in the full profile."""
    from collections import Counter

    from ecr_lab.experiment import Setup

    train_c, test_c = corpus.split(0.2, seed=0)
    test_rows = np.flatnonzero(corpus.frame["pair_id"].isin(set(test_c.pair_ids)).to_numpy())
    setup = Setup(profile=get_profile("full"), corpus=corpus, train=train_c, test=test_c, teacher_name="usem3",
                  teacher_train=None, teacher_test=corpus_embeddings[test_rows], anchors=None, tokenizer=None)
    es = setup.eval_set(max_rows=480)
    topics = Counter(es.corpus.topic_labels)
    langs = Counter(es.corpus.langs)
    assert set(topics) == set(corpus.topics) and len(set(topics.values())) == 1
    assert set(langs) == set(corpus.languages) and len(set(langs.values())) == 1
    assert len(es.corpus) <= 480
    assert np.allclose(es.teacher_embeddings, corpus_embeddings[experiment_rows(es.corpus, corpus)])


def experiment_rows(sub, corpus):
    from ecr_lab.experiment import rows_of

    return rows_of(sub, corpus)


def test_probe_subset_refuses_too_few_units_per_topic(corpus):
    from ecr_lab.experiment import probe_subset

    with pytest.raises(ValueError, match="units per topic"):
        probe_subset(corpus, 48)  # 1 unit per topic: a probe split by pair_id would test unseen topics


def test_claim_verdicts_follow_their_metric_verdicts(pipeline):
    from ecr_lab.evaluation import claim_verdict

    claims = pipeline["claims"]
    cue_controls = claims.comparison.str.contains("not in the verdict")
    assert cue_controls.any()  # ECR at inference read against its cue alone and KD student + cue
    assert set(claims[cue_controls].claim) <= {"C4", "C5"}  # probe metrics only
    for _, rows in claims[~cue_controls].groupby("claim"):
        assert set(rows["verdict"]) == {claim_verdict(list(rows["metric_verdict"]))}
