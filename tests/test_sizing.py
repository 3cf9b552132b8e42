"""ecr_lab.sizing: FLOP counts against real models, device checks, the plan table. No training, a few seconds."""

from __future__ import annotations

import pytest

from ecr_lab import sizing
from ecr_lab.config import get_profile
from ecr_lab.student import PRESETS, build_student, n_parameters, train_tokenizer

WORDS = ("the cat sat on a mat while rain fell over quiet hills and rivers "
         "der Hund lief durch den Park le chat dort sur la table el perro come pan").split()


@pytest.fixture(scope="module")
def tiny_tokenizer():
    """A BPE tokenizer trained on 300 short synthetic sentences (a few hundred tokens of vocabulary)."""
    texts = [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(4 + i % 9)) for i in range(300)]
    return train_tokenizer(texts, vocab_size=400)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_parameter_count_matches_a_real_llama(tiny_tokenizer, preset):
    model = build_student(preset, tiny_tokenizer)
    vocab = len(tiny_tokenizer)
    assert model.config.vocab_size == vocab
    real = n_parameters(model)
    counted = sizing.total_parameters(preset, vocab)
    assert abs(counted - real) / real < 1e-3
    # the non-embedding part on its own (the tied embedding is vocab x hidden, counted once)
    real_nonemb = real - model.get_input_embeddings().weight.numel()
    assert abs(sizing.nonembedding_parameters(preset) - real_nonemb) / real_nonemb < 1e-3


def test_training_flops_are_three_forwards_and_include_the_lm_head():
    p = PRESETS["small"]
    fwd = sizing.forward_flops_per_token(p, 4032, 40)
    assert sizing.training_flops_per_token("small", 4032, 40) == pytest.approx(3 * fwd)
    # a larger vocabulary costs 2 x hidden more per token and vocabulary entry (the tied head)
    assert sizing.forward_flops_per_token(p, 5032, 40) - fwd == pytest.approx(2 * 1000 * p.hidden_size)
    with pytest.raises(ValueError, match="unknown student preset 'huge'"):
        sizing.training_flops_per_token("huge", 4032, 40)


def test_flops_scale_linearly_with_rows():
    one = sizing.step_flops("base", 4032, 32, 45.0)
    assert sizing.step_flops("base", 4032, 64, 45.0) == pytest.approx(2 * one)
    assert sizing.step_flops("base", 4032, 96, 45.0) == pytest.approx(3 * one)


def test_fp16_beats_fp32_on_a_t4_for_a_large_step():
    args = ("base", 4032, 512, 64)
    fp16 = sizing.step_seconds(*args, device="t4", precision="fp16")
    fp32 = sizing.step_seconds(*args, device="t4", precision="fp32")
    assert fp16 < fp32
    assert fp32 > sizing.floor_seconds("base", "t4", "fp32")  # large enough to be compute-bound


def test_the_floor_applies_to_a_tiny_step():
    t4 = sizing.DEVICES["t4"]
    s = sizing.step_seconds("nano", 4032, 1, 4, t4, "fp32")
    assert s == pytest.approx(sizing.floor_seconds("nano", t4, "fp32"))
    assert s >= t4.floor_ms / 1000
    # no overlap: compute is added to the floor, never less than the overlapped estimate
    assert sizing.step_seconds("nano", 4032, 1, 4, t4, "fp32", overlap=False) > s
    # autocast launches more kernels, so its floor is higher
    assert sizing.floor_seconds("small", t4, "fp16") > sizing.floor_seconds("small", t4, "fp32")


def test_unknown_device_names_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown device 'h100'.*'t4'.*'a100'"):
        sizing.step_seconds("small", 4032, 64, 45, "h100", "fp32")
    assert sizing.get_device_spec("T4") is sizing.DEVICES["t4"]


def test_bf16_on_a_t4_says_use_fp16():
    with pytest.raises(ValueError, match="no bf16.*use precision='fp16'"):
        sizing.step_seconds("small", 4032, 64, 45, "t4", "bf16")
    with pytest.raises(ValueError, match="unknown precision 'int8'"):
        sizing.step_seconds("small", 4032, 64, 45, "t4", "int8")
    assert sizing.DEVICES["t4"].precisions() == ("fp32", "fp16")
    assert sizing.DEVICES["a100"].precisions() == ("fp32", "fp16", "bf16")


def test_device_fields_are_checked():
    with pytest.raises(ValueError, match="Device.tensor_utilisation"):
        sizing.Device("x", "x", 1.0, 2.0, None, 0.5, 1.5, 10.0, 1.0, 8.0)


def test_calibrate_cpu_inverts_the_step_flops():
    flops = sizing.step_flops("micro", 4032, 32, 40.0)
    assert sizing.calibrate_cpu(0.5, "micro", 4032, 32, 40.0) == pytest.approx(flops / 0.5)
    with pytest.raises(ValueError, match="positive"):
        sizing.calibrate_cpu(0.0, "micro", 4032, 32, 40.0)


def test_tokens_per_row(tiny_tokenizer):
    texts = ["a cat", "the cat sat on a mat while rain fell over quiet hills and rivers " * 3, "der Hund"]
    mean = sizing.mean_tokens_per_row(tiny_tokenizer, texts, max_length=8)
    assert 0 < mean <= 8
    assert sizing.mean_tokens_per_row(tiny_tokenizer, texts, max_length=1000) > mean  # truncation counted
    padded = sizing.padded_tokens_per_row(tiny_tokenizer, texts, max_length=8, batch_size=3)
    assert padded == pytest.approx(8)  # every batch holds the long row: padded to max_length
    assert padded >= mean
    with pytest.raises(ValueError, match="no texts"):
        sizing.mean_tokens_per_row(tiny_tokenizer, [], 8)


def test_evaluations_per_run():
    assert sizing.evaluations_per_run(6000, 500) == 13  # step 0, then 500 ... 6000
    assert sizing.evaluations_per_run(120, 50) == 4  # 0, 50, 100, and the last step 120


def test_plan_has_one_row_per_run_of_run_plan():
    from ecr_lab.experiment import run_plan

    fast = get_profile("fast")
    for seeds in (1, 2):
        df = sizing.plan_minutes(fast, n_train_rows=1000, tokens_per_row=40.0, vocab_size=4024, seeds=seeds)
        plan = run_plan(fast, seeds)
        assert list(zip(df["preset"], df["variant"], df["seed"], strict=True)) == plan
    assert (df["minutes"] > 0).all() and df.attrs["setup_s"] > 0
    cues = df["variant"].isin(["ecr", "random_cues", "ecr+kd"])
    assert (df.loc[cues, "tokens_per_row"] == 40.0 + fast.m_cues).all()
    assert (df.loc[~cues, "tokens_per_row"] == 40.0).all()
    with pytest.raises(ValueError, match="use precision='fp16'"):
        sizing.plan_minutes(fast, 1000, 40.0, 4024, device="t4", precision="bf16")


def test_notebook03_estimate_states_its_basis():
    gpu = get_profile("gpu")
    kw = dict(n_train_rows=4896, tokens_per_row=45.0, vocab_size=4032)
    est = sizing.notebook03_estimate(gpu, **kw)
    assert est["runs"] == len(sizing.plan_minutes(gpu, **kw))
    assert 0 < est["minutes"] <= est["minutes_no_overlap"]
    assert est["minutes"] == pytest.approx(est["setup_minutes"] + est["train_minutes"] + est["eval_minutes"])
    assert "not a measurement" in est["basis"] and "T4" in est["basis"]
    fewer = sizing.notebook03_estimate(gpu.replace(train_steps=gpu.train_steps // 2), **kw)
    assert fewer["minutes"] < est["minutes"]
