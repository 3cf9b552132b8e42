"""The claims table with controls and intervals: property tests of ecr_lab.stats (hypothesis) and
unit tests of evaluation.claims_table on synthetic results, plus the saved full run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import stats as scipy_stats

from ecr_lab.evaluation import CLAIM_COLUMNS, claim_verdict, claims_table, metric_verdict
from ecr_lab.stats import (
    PairedDifference,
    at_most_verdict,
    mean_interval,
    no_effect_either_side,
    paired_difference,
    verdict,
)

REPO = Path(__file__).resolve().parents[1]
values = st.floats(-100, 100, allow_nan=False, allow_infinity=False)


def pairs(min_n=2, max_n=8):
    return st.integers(min_n, max_n).flatmap(
        lambda n: st.tuples(arrays(np.float64, n, elements=values), arrays(np.float64, n, elements=values)))


def close(x: PairedDifference, y: PairedDifference, tol=1e-8) -> bool:
    return x.n == y.n and all((math.isnan(u) and math.isnan(v)) or math.isclose(u, v, rel_tol=1e-9, abs_tol=tol)
                              for u, v in [(x.mean, y.mean), (x.low, y.low), (x.high, y.high)])


def mean_of(cell: str) -> float:
    return float(cell.split(" ± ")[0])


# -- ecr_lab.stats: properties -------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(pairs(), st.sampled_from(["higher", "lower"]))
def test_interval_contains_the_mean(ab, direction):
    d = paired_difference(*ab, direction)
    assert d.n == len(ab[0]) and d.low <= d.mean <= d.high


@settings(max_examples=60, deadline=None)
@given(pairs(), st.sampled_from(["higher", "lower"]))
def test_swapping_sides_negates(ab, direction):
    a, b = ab
    d, s = paired_difference(a, b, direction), paired_difference(b, a, direction)
    assert close(s, PairedDifference(-d.mean, -d.high, -d.low, d.n, d.method))
    flipped = {"supported": "contradicted", "contradicted": "supported", "inconclusive": "inconclusive"}
    assert verdict(s) == flipped[verdict(d)]


@settings(max_examples=60, deadline=None)
@given(pairs(), st.floats(-1000, 1000, allow_nan=False), st.sampled_from(["higher", "lower"]))
def test_adding_a_constant_to_both_sides_changes_nothing(ab, c, direction):
    a, b = ab
    assert close(paired_difference(a + c, b + c, direction), paired_difference(a, b, direction), tol=1e-7)


@settings(max_examples=60, deadline=None)
@given(pairs(), st.floats(0.01, 100), st.sampled_from(["higher", "lower"]))
def test_scaling_both_sides_scales_the_interval(ab, c, direction):
    a, b = ab
    d = paired_difference(a, b, direction)
    assert close(paired_difference(c * a, c * b, direction),
                 PairedDifference(c * d.mean, c * d.low, c * d.high, d.n, d.method), tol=1e-6)


@settings(max_examples=60, deadline=None)
@given(pairs(min_n=1))
def test_lower_mirrors_higher(ab):
    a, b = ab
    lo, hi = paired_difference(a, b, "lower"), paired_difference(a, b, "higher")
    assert close(lo, paired_difference(b, a, "higher"))
    assert lo.mean == pytest.approx(-hi.mean, abs=1e-12)
    if lo.n > 1:
        assert (lo.low, lo.high) == pytest.approx((-hi.high, -hi.low), abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(pairs(min_n=3))
def test_interval_is_scipys_one_sample_t_interval(ab):
    a, b = ab
    diff = a - b
    d = paired_difference(a, b, "higher", level=0.9)
    if np.std(diff) > 1e-6:
        ref = scipy_stats.ttest_1samp(diff, 0.0).confidence_interval(0.9)
        assert (d.low, d.high) == pytest.approx((ref.low, ref.high), rel=1e-9, abs=1e-9)


# -- ecr_lab.stats: units --------------------------------------------------------------------------
def test_one_seed_and_no_seed():
    one = paired_difference([0.5], [0.3], "higher")
    assert one.n == 1 and one.mean == pytest.approx(0.2) and math.isnan(one.low) and math.isnan(one.high)
    assert verdict(one) == "indicative"
    assert verdict(paired_difference([0.5], [0.3], "lower")) == "indicative against"
    assert verdict(paired_difference([0.3], [0.3], "higher")) == "indicative against"
    assert verdict(paired_difference([], [], "higher")) == "n/a"
    assert verdict(paired_difference([1.0, np.nan], [0.0, 0.0], "higher")) == "n/a"


def test_verdict_words():
    assert verdict(paired_difference([0.50, 0.52, 0.51], [0.30, 0.31, 0.30], "higher")) == "supported"
    assert verdict(paired_difference([0.50, 0.52, 0.51], [0.30, 0.31, 0.30], "lower")) == "contradicted"
    assert verdict(paired_difference([0.5, 0.2, 0.4], [0.3, 0.4, 0.35], "higher")) == "inconclusive"
    # the old "mean > 1 sd" rule called this supported; a t interval with 3 seeds does not
    assert verdict(paired_difference([0.2, 0.0, 0.25], [0, 0, 0], "higher")) == "inconclusive"
    assert paired_difference([1, 2, 3], [0, 0, 0], "higher").method == "paired t, 95%"


def test_series_are_paired_by_seed():
    a = pd.Series([1.0, 2.0, 3.0, 9.0], index=[0, 1, 2, 7])
    b = pd.Series([0.0, 0.5, 1.0], index=[2, 1, 0])  # another order, seed 7 missing
    d = paired_difference(a, b, "higher")
    assert d.n == 3 and d.mean == pytest.approx(np.mean([1.0, 1.5, 2.0]))
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0], "higher")
    with pytest.raises(ValueError, match="direction"):
        paired_difference([1.0], [1.0], "up")


def test_wider_interval_at_higher_level():
    a, b = [0.5, 0.6, 0.55, 0.58], [0.4, 0.45, 0.5, 0.41]
    d90, d99 = paired_difference(a, b, "higher", 0.90), paired_difference(a, b, "higher", 0.99)
    assert d99.low < d90.low < d90.high < d99.high


def test_no_effect_either_side():
    assert no_effect_either_side([0, 0, 0], [0.0, 0.0, 0.0])
    assert not no_effect_either_side([0, 1, 0], [0, 0, 0])
    assert not no_effect_either_side([], [])


def test_at_most_verdict():
    assert at_most_verdict(mean_interval([1.02, 1.03, 1.01, 1.02]), 1.10) == "supported"
    assert at_most_verdict(mean_interval([1.30, 1.31, 1.29]), 1.10) == "contradicted"
    assert at_most_verdict(mean_interval([1.0, 1.2, 1.1]), 1.10) == "inconclusive"
    assert at_most_verdict(mean_interval([1.05]), 1.10) == "indicative"
    assert at_most_verdict(mean_interval([1.15]), 1.10) == "indicative against"
    assert at_most_verdict(mean_interval([]), 1.10) == "n/a"


def test_metric_verdict_uses_the_interval():
    assert metric_verdict(np.array([0.2, 0.3, 0.25])) == "supported"
    assert metric_verdict(np.array([0.2, -0.1, 0.05])) == "inconclusive"
    assert metric_verdict(np.array([0.0])) == "indicative against"
    assert metric_verdict(np.array([])) == "n/a"


@pytest.mark.parametrize("verdicts, expected", [
    (["supported", "supported"], "supported"),
    (["supported", "inconclusive"], "inconclusive"),
    (["supported", "contradicted"], "mixed"),
    (["inconclusive", "contradicted"], "mixed"),
    (["contradicted", "contradicted"], "contradicted"),
    (["untested", "untested"], "untested"),
    (["supported", "untested"], "mixed"),
    (["inconclusive", "untested"], "inconclusive"),
    (["indicative", "indicative"], "indicative"),
    (["indicative", "supported"], "indicative"),
    (["indicative against", "indicative against"], "indicative against"),
    (["indicative", "indicative against"], "mixed"),
    (["n/a", "n/a"], "n/a"),
    (["supported", "n/a"], "mixed"),
    ([], "n/a"),
])
def test_claim_verdict_rule(verdicts, expected):
    assert claim_verdict(verdicts) == expected


# -- the claims table on synthetic results ---------------------------------------------------------
HIGHER = ["silhouette_topic", "retrieval_at_1", "cross_lingual_transfer", "topic_probe"]
LOWER_TRAINING = ["knn_churn_late", "grad_norm_p99_over_median"]
PARAMS = {"micro": 700_000, "small": 2_200_000}


def synthetic(seeds=range(5), quality=None, spikes=None, latency=(1.02, 0.005), noise=0.002,
              conditions=None):
    """A results table like evaluate()'s: ``quality`` per (condition, preset) moves every metric in
    its good direction by that much; ``spikes`` per condition: loss spikes per seed (default 0)."""
    quality = quality or {("baseline", "micro"): 0.0, ("kd", "micro"): 0.05, ("ecr+kd", "micro"): 0.20,
                          ("baseline", "small"): 0.10, ("kd", "small"): 0.12}
    spikes = spikes or {}
    rng = np.random.default_rng(0)
    rows = []
    for (cond, preset), q in quality.items():
        if conditions is not None and cond not in conditions:
            continue
        for seed in seeds:
            ids = dict(run=f"{preset}-{cond}-s{seed}", condition=cond, preset=preset, params=PARAMS[preset], seed=seed)
            cue = cond == "ecr+kd"

            def add(view, metric, value, ids=ids):
                rows.append({**ids, "view": view, "metric": metric, "value": float(value)})

            for view in ["cue_free"] + (["ecr_inference"] if cue else []):
                boost = 0.0 if view == "ecr_inference" or not cue else -0.15  # ECR's own cue-free view is worse
                for m in HIGHER:
                    add(view, m, 0.3 + q + boost + noise * rng.standard_normal())
                add(view, "silhouette_language", 0.8 - q - boost + noise * rng.standard_normal())
            for m in LOWER_TRAINING:
                add("training", m, 1.0 - q + noise * rng.standard_normal())
            add("training", "loss_spikes", spikes.get(cond, [0] * 99)[seed])
            add("training", "nonfinite_steps", 0)
            if cue:
                add("inference", "latency_ratio", latency[0] + latency[1] * rng.standard_normal())
                add("projection", "anchor_agreement", 0.5)
    return pd.DataFrame(rows)


def claims(results, **kw):
    return claims_table(results, ecr_condition="ecr+kd", **kw)


def verdicts(table):
    return table.groupby("claim", sort=False)["verdict"].first().to_dict()


def test_columns_comparisons_and_sizes():
    t = claims(synthetic())
    assert list(t.columns) == CLAIM_COLUMNS
    assert list(dict.fromkeys(t.claim)) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    comps = t.groupby("claim", sort=False)["comparison"].unique().map(list).to_dict()
    assert comps["C1"] == ["ecr+kd vs baseline (micro)", "ecr+kd vs kd (micro)"]
    assert comps["C5"] == ["ecr+kd (micro) vs baseline (small)", "ecr+kd (micro) vs kd (small)"]
    assert comps["C6"] == ["ecr+kd (micro) vs limit 1.10"]
    assert (t.seeds == 5).all()
    assert t[["difference", "ci_low", "ci_high"]].notna().all().all()
    assert (t.ci_low <= t.difference).all() and (t.difference <= t.ci_high).all()


def test_ecr_beating_both_controls_is_supported():
    res = synthetic(spikes={"baseline": [3, 2, 4, 3, 5], "kd": [2, 3, 2, 4, 3], "ecr+kd": [0, 0, 0, 0, 0]})
    t = claims(res)
    assert set(t.metric_verdict) == {"supported"}
    assert set(verdicts(t).values()) == {"supported"}
    # the control is measured cue-free, the ECR side at inference (projected cues)
    row = t[(t.claim == "C4") & (t.comparison == "ecr+kd vs kd (micro)") & t.metric.str.endswith("retrieval_at_1")].iloc[0]
    assert row.metric == "ecr_inference/retrieval_at_1"
    assert mean_of(row.ecr) == pytest.approx(0.50, abs=0.01) and mean_of(row.other) == pytest.approx(0.35, abs=0.01)
    assert row.difference == pytest.approx(0.15, abs=0.01)
    c5 = t[(t.claim == "C5") & (t.comparison == "ecr+kd (micro) vs baseline (small)")].iloc[0]
    assert mean_of(c5.other) == pytest.approx(0.40, abs=0.01) and c5.difference == pytest.approx(0.10, abs=0.01)


def test_beating_the_baseline_but_not_kd_is_not_supported():
    equal_to_kd = synthetic(quality={("baseline", "micro"): 0.0, ("kd", "micro"): 0.2, ("ecr+kd", "micro"): 0.2,
                                     ("baseline", "small"): 0.1, ("kd", "small"): 0.12}, noise=0.02)
    t = claims(equal_to_kd)
    c4 = t[t.claim == "C4"]
    assert set(c4[c4.comparison.str.contains("baseline")].metric_verdict) == {"supported"}
    assert "supported" not in set(c4[c4.comparison.str.contains(" kd ")].metric_verdict)
    assert verdicts(t)["C4"] != "supported"

    worse_than_kd = synthetic(quality={("baseline", "micro"): 0.0, ("kd", "micro"): 0.3, ("ecr+kd", "micro"): 0.2,
                                       ("baseline", "small"): 0.1, ("kd", "small"): 0.12})
    t = claims(worse_than_kd)
    c4 = t[t.claim == "C4"]
    assert set(c4[c4.comparison == "ecr+kd vs kd (micro)"].metric_verdict) == {"contradicted"}
    assert verdicts(t)["C4"] == "mixed"


def test_one_seed_is_at_best_indicative():
    t = claims(synthetic(seeds=[0]))
    assert (t.seeds == 1).all() and t.ci_low.isna().all() and t.ci_high.isna().all()
    v = verdicts(t)
    assert v["C4"] == v["C5"] == v["C6"] == "indicative"
    assert "supported" not in set(t.verdict) and "supported" not in set(t.metric_verdict)


def test_no_spikes_anywhere_is_untested():
    t = claims(synthetic())  # loss spikes 0 on every seed of every condition
    spikes = t[t.metric == "training/loss_spikes"]
    assert len(spikes) == 2 and set(spikes.metric_verdict) == {"untested"}
    grad = t[t.metric == "training/grad_norm_p99_over_median"]
    assert set(grad.metric_verdict) == {"supported"}
    assert verdicts(t)["C3"] == "mixed"  # stability cannot be credited when nothing spiked


def test_spikes_only_on_one_side_are_compared():
    t = claims(synthetic(spikes={"baseline": [1, 0, 0, 0, 0]}))
    row = t[(t.metric == "training/loss_spikes") & (t.comparison == "ecr+kd vs baseline (micro)")].iloc[0]
    assert row.metric_verdict == "inconclusive"  # one spike in five seeds is no evidence
    assert t[(t.metric == "training/loss_spikes") & (t.comparison == "ecr+kd vs kd (micro)")].iloc[0].metric_verdict == "untested"


@pytest.mark.parametrize("latency, expected", [
    ((1.02, 0.005), "supported"),
    ((1.30, 0.005), "contradicted"),
    ((1.10, 0.05), "inconclusive"),
])
def test_c6_latency_threshold(latency, expected):
    t = claims(synthetic(latency=latency))
    c6 = t[t.claim == "C6"].iloc[0]
    assert c6.metric_verdict == c6.verdict == expected
    ratios = synthetic(latency=latency).query("metric == 'latency_ratio'")["value"].to_numpy()
    x = mean_interval(ratios)
    assert c6.difference == pytest.approx(1.10 - ratios.mean())
    assert (c6.ci_low, c6.ci_high) == pytest.approx((1.10 - x.high, 1.10 - x.low))


@pytest.mark.parametrize("latency, expected", [((1.05, 0.0), "indicative"), ((1.2, 0.0), "indicative against")])
def test_c6_one_seed(latency, expected):
    t = claims(synthetic(seeds=[0], latency=latency))
    assert t[t.claim == "C6"].iloc[0].verdict == expected


def test_without_kd_runs_only_the_baseline_is_shown_and_can_support():
    res = synthetic(spikes={"baseline": [3, 2, 4, 3, 5], "ecr+kd": [0] * 5}, conditions={"baseline", "ecr+kd"})
    t = claims(res)
    assert not t.comparison.str.contains(" kd ").any()
    assert set(t[t.claim != "C6"].comparison.str.split(" vs ").str[1].str.split(" ").str[0]) == {"baseline"}
    assert set(verdicts(t).values()) == {"supported"}


def test_kd_on_the_small_student_only_adds_no_c5_kd_row():
    res = synthetic()
    res = res[~((res.condition == "kd") & (res.preset == "small"))]
    t = claims(res)
    assert list(t[t.claim == "C5"].comparison.unique()) == ["ecr+kd (micro) vs baseline (small)"]
    assert "ecr+kd vs kd (micro)" in set(t[t.claim == "C1"].comparison)


def test_only_seeds_on_both_sides_are_paired():
    res = synthetic()
    res = res[~((res.condition == "kd") & (res.seed == 4))]
    t = claims(res)
    assert set(t[t.comparison == "ecr+kd vs kd (micro)"].seeds) == {4}
    assert set(t[t.comparison == "ecr+kd vs baseline (micro)"].seeds) == {5}


def test_a_cue_control_is_measured_with_its_cues():
    res = synthetic()
    rnd = res[res.condition == "ecr+kd"].assign(condition="random_cues")
    rnd.loc[rnd.view == "cue_free", "value"] = -5.0  # must not be used
    t = claims(pd.concat([res, rnd]), controls=("baseline", "kd", "random_cues"))
    row = t[(t.comparison == "ecr+kd vs random_cues (micro)") & (t.metric == "ecr_inference/retrieval_at_1")].iloc[0]
    assert row.difference == pytest.approx(0.0, abs=1e-12) and row.metric_verdict == "inconclusive"


def test_no_larger_preset_leaves_c5_untested():
    res = synthetic()
    t = claims(res[res.preset == "micro"])
    c5 = t[t.claim == "C5"]
    assert set(c5.metric_verdict) == {"n/a"} and c5.verdict.iloc[0] == "n/a"
    assert "no larger preset" in c5.comparison.iloc[0]


def test_missing_ecr_condition_gives_na():
    t = claims_table(synthetic(), ecr_condition="ecr")
    assert set(t.verdict) == {"n/a"} and (t.seeds == 0).all()


# -- the saved full run (5 seeds, docs/run_full5/results.csv) --------------------------------------
def test_claims_table_on_the_saved_full_run():
    results = pd.read_csv(REPO / "docs" / "run_full5" / "results.csv")
    t = claims_table(results, ecr_condition="ecr+kd")
    assert list(t.columns) == CLAIM_COLUMNS
    assert list(dict.fromkeys(t.claim)) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    seeds = results.seed.nunique()
    measured = t[t.metric_verdict != "n/a"]  # a saved run older than a metric has n/a rows for it
    assert t.comparison.str.len().gt(0).all() and (measured.seeds == seeds).all()
    assert measured[["difference", "ci_low", "ci_high"]].notna().all().all()
    assert (measured.ci_low <= measured.difference).all() and (measured.difference <= measured.ci_high).all()
    assert set(measured.claim) == {"C1", "C2", "C3", "C4", "C5", "C6"} and seeds == 5
    assert set(t[t.claim == "C1"].comparison) == {"ecr+kd vs baseline (micro)", "ecr+kd vs kd (micro)"}
    assert {"ecr+kd (micro) vs baseline (small)", "ecr+kd (micro) vs kd (small)"} <= set(t[t.claim == "C5"].comparison)
    controls = t[t.comparison.str.contains("not in the verdict")]
    assert set(controls.claim) == {"C4", "C5"} and len(controls) == 8  # 2 controls x 2 metrics x 2 claims
    assert set(t[t.metric == "training/loss_spikes"].metric_verdict) == {"untested"}  # no run spiked
    for _, rows in t.groupby("claim"):  # the cue-control rows carry the claim's verdict but do not make it
        counted = rows[~rows.comparison.str.contains("not in the verdict")]
        assert rows.verdict.nunique() == 1 and rows.verdict.iloc[0] == claim_verdict(counted.metric_verdict)
