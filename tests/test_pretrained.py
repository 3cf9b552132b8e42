"""The pretrained-student study (ecr_lab.pretrained) on a tiny local model standing in for SmolLM2:
choices on validation only, the other seeds at the choice, controls, claims against baseline and
KD, resume after a stop (mid-unit from the checkpoint), and `ecr-lab study --pretrained`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ecr_lab.cli import main
from ecr_lab.config import get_profile

# 20 units per topic: 4 per topic in validation and test, the fewest a topic probe split by unit accepts
TINY = get_profile("fast").replace(units_per_topic=20, languages=("en", "de", "zh", "ar"), train_steps=6,
                                   eval_every=3, k_anchors=6, batch_size=8, kmeans_restarts=1)


def _cfg(**kw):
    from ecr_lab.pretrained import PretrainedStudyConfig

    base = dict(train_rows=192, val_rows=192, test_rows=192, probe_rows=192, projector_rows=96, steps=4,
                batch_size=4, step_candidates=(2, 4), learning_rates=(1e-3, 3e-3), seeds=2, overhead_texts=4,
                max_length=32)
    return PretrainedStudyConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def setup(cache_root):
    from ecr_lab.experiment import prepare

    return prepare(TINY, seed=0)


def _load(setup):
    from ecr_lab.student import make_student

    return lambda: (setup.tokenizer, make_student("micro", setup.tokenizer, setup.anchors, seed=0))


@pytest.fixture(scope="module")
def study(setup, tmp_path_factory):
    from ecr_lab.pretrained import pretrained_study

    out = tmp_path_factory.mktemp("pretrained")
    return out, pretrained_study(setup, out, config=_cfg(), load=_load(setup), progress=False)


def test_seed0_tries_every_candidate_and_other_seeds_only_the_choice(study):
    _, res = study
    choices = res.attrs["choices"]
    assert set(res.variant) == {"pretrained", "baseline/top", "kd/top", "ecr+kd/top"}
    assert set(choices) == {"baseline/top", "kd/top", "ecr+kd/top"}
    for variant, c in choices.items():
        s0 = res[(res.variant == variant) & (res.seed == 0)]
        assert {(lr, st) for lr, st in zip(s0.learning_rate, s0.steps, strict=True)} == {
            (lr, st) for lr in (1e-3, 3e-3) for st in (2, 4)}
        s1 = res[(res.variant == variant) & (res.seed == 1)]
        assert set(s1.learning_rate) == {c["learning_rate"]} and set(s1.steps) == {c["steps"]}
    assert choices["ecr+kd/top"]["cue_feature"] in ("hidden", "tokens")
    assert choices["baseline/top"]["cue_feature"] is None
    # every record says what produced it
    trained = res[res.variant != "pretrained"]
    assert (trained.sentences_seen == trained.steps * 4).all() and (trained.batch_size == 4).all()
    assert set(trained["mode"]) == {"cue rows + top layers"}


def test_choices_read_validation_only(study):
    """Scrambling every test number changes no choice; scrambling validation numbers can."""
    from ecr_lab.pretrained import choose_pretrained

    _, res = study
    rng = np.random.default_rng(0)
    scrambled = res.copy()
    test = scrambled.split == "test"
    scrambled.loc[test, "value"] = rng.permutation(scrambled.loc[test, "value"].to_numpy())
    strip = lambda ch: {v: {k: x for k, x in c.items() if k != "test"} for v, c in ch.items()}  # noqa: E731
    assert strip(choose_pretrained(scrambled)) == strip(res.attrs["choices"])
    # and the choice is the validation argmax of the deployed view
    c = res.attrs["choices"]["baseline/top"]
    val = res[(res.variant == "baseline/top") & (res.seed == 0) & (res.split == "val") & (res.view == "cue_free")
              & (res.metric == "topic_probe")]
    best = val.loc[val.value.idxmax()]
    assert (best.learning_rate, best.steps) == (c["learning_rate"], c["steps"])
    assert c["val"] == pytest.approx(val.value.max())


def test_chosen_rows_and_controls(study):
    _, res = study
    c = res.attrs["choices"]["ecr+kd/top"]
    chosen = res[res.chosen & (res.variant == "ecr+kd/top")]
    assert set(chosen.learning_rate) == {c["learning_rate"]} and set(chosen.steps) == {c["steps"]}
    assert set(chosen.cue_feature) <= {"", c["cue_feature"]}
    test = chosen[chosen.split == "test"]
    assert {"cue_free", "ecr_inference", "oracle", "projection", "inference", "cue_only", "kd_plus_cue",
            "projector_alone", "training"} <= set(test.view)
    assert set(test[test.view == "kd_plus_cue"].seed) == {0, 1}
    # both features were measured on the same runs, each with its own latency
    both = res[(res.variant == "ecr+kd/top") & (res.split == "test") & (res.view == "inference")]
    assert set(both.cue_feature) == {"hidden", "tokens"}
    assert not res[(res.split == "val") & (res.view == "inference")].size  # latency on test only


def test_claims_compare_with_baseline_and_kd_and_cue_reading(study):
    from ecr_lab.pretrained import cue_reading, cue_reading_trend, feature_table, pretrained_claims

    _, res = study
    claims = pretrained_claims(res)
    assert {"C1", "C2", "C3", "C4", "C6"} <= set(claims.claim) and "C5" not in set(claims.claim)
    comparisons = " ".join(claims.comparison)
    assert "vs baseline" in comparisons and "vs kd" in comparisons
    assert (claims.seeds.dropna() <= 2).all()
    reading = cue_reading(res)
    assert set(reading.cues) == {"oracle", "ECR at inference"}
    assert set(reading.against) == {"same run, cue-free", "baseline, cue-free"}
    assert reading.seeds.max() == 2 and reading.verdict.notna().all()
    trend = cue_reading_trend(res)
    assert set(trend.steps) == {2, 4} and np.allclose(trend.oracle_lift, trend.oracle - trend.cue_free)
    feats = feature_table(res)
    assert set(feats["cue feature"]) == {"hidden", "tokens"} and feats.chosen.sum() == 1
    assert set(feats.variant) == {"ecr+kd/top"}  # a baseline's post-hoc projection step is not deployed


def test_arrays_saved_and_checkpoints_removed(study, setup):
    from ecr_lab.pretrained import unit_name

    out, res = study
    c = res.attrs["choices"]["ecr+kd/top"]
    arrays = np.load(out / "pretrained" / f"{unit_name('ecr+kd/top', 1, c['learning_rate'])}-step{c['steps']}-test.npz")
    assert set(arrays) == {"cues_hidden", "cues_tokens"}
    assert arrays["cues_hidden"].shape == arrays["cues_tokens"].shape == (192, TINY.m_cues)
    assert arrays["cues_hidden"].max() < setup.anchors.k
    kd = res.attrs["choices"]["kd/top"]
    kd_arrays = np.load(out / "pretrained" / f"{unit_name('kd/top', 1, kd['learning_rate'])}-step{kd['steps']}-val.npz")
    assert set(kd_arrays) == {"cue_free"} and kd_arrays["cue_free"].shape[0] == 192
    assert not list((out / "pretrained").glob("*baseline*.npz"))  # nothing kept that no control reads
    assert not any((out / "pretrained_runs").iterdir())  # every unit is done: its checkpoints are gone


def test_a_finished_study_only_loads(study, setup, monkeypatch):
    from ecr_lab.pretrained import pretrained_study

    out, res = study
    monkeypatch.setattr("ecr_lab.pretrained.train", lambda *a, **k: pytest.fail("retrained a finished unit"))
    again = pretrained_study(setup, out, config=_cfg(), load=_load(setup), progress=False)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), res.reset_index(drop=True), check_dtype=False)


def test_a_stop_mid_unit_resumes_from_the_checkpoint(setup, tmp_path, monkeypatch):
    """Killed while evaluating step 2: the rerun takes no step to get back to 2 (the checkpoint is
    there) and 2 more to reach 4, not 4 from scratch."""
    from ecr_lab import pretrained, training

    steps_taken = []
    real_step = training.Trainer.train_step

    def counting(self, batches):
        steps_taken[-1] += 1
        return real_step(self, batches)

    monkeypatch.setattr(training.Trainer, "train_step", counting)
    real_eval = pretrained._evaluate_unit

    def dies_at_step_2(run, ctx, variant, lr, steps, name):
        if steps == 2:
            raise KeyboardInterrupt("stopped")
        return real_eval(run, ctx, variant, lr, steps, name)

    cfg = _cfg(variants=("ecr+kd/top",), learning_rates=(1e-3,), seeds=1)
    steps_taken.append(0)
    monkeypatch.setattr(pretrained, "_evaluate_unit", dies_at_step_2)
    with pytest.raises(KeyboardInterrupt):
        pretrained.pretrained_study(setup, tmp_path, config=cfg, load=_load(setup), progress=False)
    assert steps_taken == [2]
    steps_taken.append(0)
    monkeypatch.setattr(pretrained, "_evaluate_unit", real_eval)
    res = pretrained.pretrained_study(setup, tmp_path, config=cfg, load=_load(setup), progress=False)
    assert steps_taken == [2, 2]
    assert set(res[res.variant == "ecr+kd/top"].steps) == {2, 4}


def test_config_refuses_bad_candidates():
    from ecr_lab.pretrained import PretrainedStudyConfig

    with pytest.raises(ValueError, match="end at steps"):
        PretrainedStudyConfig(steps=480, step_candidates=(240,))
    with pytest.raises(ValueError, match="rise strictly"):
        PretrainedStudyConfig(steps=480, step_candidates=(480, 240))
    with pytest.raises(ValueError, match="unknown pretrained variants"):
        PretrainedStudyConfig(variants=("ecr/top",))
    with pytest.raises(ValueError, match="positive rates"):
        PretrainedStudyConfig(learning_rates=())
    three = PretrainedStudyConfig(steps=480, step_candidates=(160, 320, 480))
    assert three.checkpoint_every == 160 and three.eval_every == 80  # C1 reads churn inside every candidate's late half
    full = PretrainedStudyConfig.for_profile("full")
    assert full.steps * full.batch_size >= 10 * 384  # 10x the first study's sentences seen
    assert full.train_rows is None and full.seeds >= 2


def test_projector_rows_subset_is_seeded_and_ordered():
    from ecr_lab.training import TrainConfig, projector_rows

    texts = [f"t{i}" for i in range(50)]
    teacher = np.arange(50, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    all_t, all_e = projector_rows(texts, teacher, TrainConfig(projector_rows=None))
    assert all_t == texts and all_e is teacher
    t, e = projector_rows(texts, teacher, TrainConfig(projector_rows=10, seed=1))
    idx = [int(x[1:]) for x in t]
    assert len(t) == 10 and idx == sorted(idx) and np.array_equal(e[:, 0], idx)
    assert projector_rows(texts, teacher, TrainConfig(projector_rows=10, seed=1))[0] == t
    assert projector_rows(texts, teacher, TrainConfig(projector_rows=10, seed=2))[0] != t
    with pytest.raises(ValueError, match="projector_rows"):
        TrainConfig(projector_rows=1)


def test_cli_study_pretrained_writes_tables_and_resumes(setup, tmp_path, monkeypatch):
    """`ecr-lab study --pretrained` end to end, with a tiny local model standing in for SmolLM2."""
    from ecr_lab import experiment, pretrained
    from ecr_lab.student import make_student

    monkeypatch.setattr(experiment, "prepare", lambda *a, **k: setup)
    monkeypatch.setattr(pretrained, "load_smollm2_with_cues",
                        lambda anchors: (setup.tokenizer, make_student("micro", setup.tokenizer, anchors, seed=0)))
    tiny = _cfg(learning_rates=(1e-3,), seeds=1)
    monkeypatch.setattr(pretrained.PretrainedStudyConfig, "for_profile", classmethod(lambda cls, profile=None: tiny))
    args = ["study", "--pretrained", "--profile", "fast", "--out", str(tmp_path)]
    assert main(args) == 0
    md = (tmp_path / "pretrained.md").read_text()
    assert md.startswith("# SmolLM2-135M as the ECR student (fast profile, 1 seeds")
    for section in ("## Choices, made on the validation split", "## Does the model read its cues?",
                    "## The oracle's lift along training", "## The projection step", "## Claims"):
        assert section in md
    assert "| nan" not in md
    records = pd.read_csv(tmp_path / "pretrained.csv")
    assert {"seed", "steps", "batch_size", "sentences_seen", "mode", "learning_rate", "split", "chosen"} <= set(records)
    assert main(args) == 0  # everything saved: the second call only loads, and says so
    assert "tables loaded from earlier calls" in (tmp_path / "pretrained.md").read_text()


def test_a_diverged_candidate_is_never_chosen(study):
    from ecr_lab.pretrained import choose_pretrained

    _, res = study
    c = res.attrs["choices"]["baseline/top"]
    broken = res.copy()
    winner = ((broken.variant == "baseline/top") & np.isclose(broken.learning_rate, c["learning_rate"])
              & (broken.steps == c["steps"]) & (broken.seed == 0))
    broken.loc[winner, "status"] = "diverged"
    again = choose_pretrained(broken)["baseline/top"]
    assert (again["learning_rate"], again["steps"]) != (c["learning_rate"], c["steps"])


def test_a_folder_of_another_configuration_is_refused(study, setup):
    from ecr_lab.pretrained import pretrained_study

    out, _ = study
    with pytest.raises(ValueError, match="another configuration.*another --out folder"):
        pretrained_study(setup, out, config=_cfg(val_rows=None), load=_load(setup), progress=False)


# -- the saved SmolLM2 study (docs/pretrained.csv, quoted by the README and notebook 03) ------------
REPO = Path(__file__).resolve().parents[1]
FIRST_STUDY_SENTENCES = 48 * 8  # the first SmolLM2 study: 48 steps of batch 8


@pytest.fixture(scope="module")
def saved():
    return pd.read_csv(REPO / "docs" / "pretrained.csv")


def test_saved_study_records_every_runs_budget(saved):
    """Every trained row says its seed, steps, batch size, sentences seen and mode; the budget is at
    least 10x the first study's; seed 0 tried every candidate and each variant's choice has 2+ seeds."""
    from ecr_lab.pretrained import choose_pretrained

    trained = saved[saved.variant != "pretrained"]
    cols = ["seed", "steps", "batch_size", "sentences_seen", "mode", "learning_rate", "status"]
    assert trained[cols].notna().all().all()
    assert (trained.sentences_seen == trained.steps * trained.batch_size).all()
    assert trained.sentences_seen.max() >= 10 * FIRST_STUDY_SENTENCES
    assert set(trained.variant) == {"baseline/top", "kd/top", "ecr+kd/top"}
    chosen = trained[trained.chosen.astype(bool)]
    assert chosen.groupby("variant").seed.nunique().min() >= 2
    s0 = trained[trained.seed == 0]
    for _, rows in s0.groupby("variant"):
        assert rows.groupby(["learning_rate", "steps"]).ngroups == 4  # 2 rates x 2 step candidates
    for variant, c in choose_pretrained(saved).items():  # the other seeds run only the choice
        later = trained[(trained.variant == variant) & (trained.seed > 0)]
        assert set(later.learning_rate) == {c["learning_rate"]} and set(later.steps) == {c["steps"]}


def _smollm2_section(text: str) -> str:
    start = text.index("**SmolLM2-135M as the student**")
    return text[start:text.index("**What did not work", start)]


def test_readme_and_notebook_quote_the_saved_oracle_lift(saved):
    """The oracle's lift on test (paired by seed, 95 % interval) is the number the README's SmolLM2
    section and notebook 03's last part give: regenerating docs/pretrained.csv without updating
    them fails here."""
    import json

    from ecr_lab.pretrained import cue_reading

    reading = cue_reading(saved)  # chosen_test reads the saved `chosen` column itself
    section = _smollm2_section((REPO / "README.md").read_text())
    nb = json.loads((REPO / "notebooks" / "03_training.ipynb").read_text())
    notebook = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    for against in ("same run, cue-free", "baseline, cue-free"):
        row = reading[(reading["mode"] == "cue rows + top layers") & (reading.metric == "topic_probe")
                      & (reading.cues == "oracle") & (reading.against == against)].iloc[0]
        assert row.seeds >= 2
        quoted = f"{row.difference:+.3f} [{row.ci_low:+.3f}, {row.ci_high:+.3f}]"
        assert quoted in section and quoted in notebook, (against, quoted)


def test_claims_markdown_explains_a_zero_width_interval():
    """Two seeds with exactly the same difference give a t interval of zero width: the table says
    what that means (and only then; one seed has no interval at all)."""
    from ecr_lab.report import ZERO_WIDTH_NOTE, claims_markdown, zero_width_rows

    cols = ["metric", "difference", "ci_low", "ci_high", "seeds"]
    rows = pd.DataFrame([["topic_probe", -0.0208, -0.0208, -0.0208, 2], ["retrieval_at_1", 0.01, -0.04, 0.06, 2],
                         ["drift", 0.02, np.nan, np.nan, 1]], columns=cols)
    assert zero_width_rows(rows).tolist() == [True, False, False]
    assert claims_markdown(rows, cols).endswith(ZERO_WIDTH_NOTE)
    assert ZERO_WIDTH_NOTE not in claims_markdown(rows.iloc[1:], cols)
    assert ZERO_WIDTH_NOTE not in claims_markdown(rows.iloc[[0]].assign(seeds=1), cols)  # one seed: no interval
