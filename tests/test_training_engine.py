"""The engine of issue 14: tokenised once, micro-batches, mixed precision, several processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ecr_lab.anchors import derive_anchors
from ecr_lab.experiment import rows_of
from ecr_lab.student import make_student, train_tokenizer
from ecr_lab.training import TrainConfig, Trainer, train
from ecr_lab.training_data import PadCollator, StepBatchSampler, tokenize_once


@pytest.fixture(scope="module")
def small(corpus, corpus_embeddings):
    sub = corpus.subset(units_per_topic=4, langs=["en", "de", "zh", "ar"])
    emb = corpus_embeddings[rows_of(sub, corpus)]
    anchors = derive_anchors(emb, 8, seed=0)
    tok = train_tokenizer(sub.texts, vocab_size=600)
    return sub.texts, emb, anchors, tok


def _cfg(**kw):
    base = dict(steps=6, batch_size=8, eval_every=100, m_cues=2, progress=False, device="cpu", learning_rate=3e-3)
    return TrainConfig(**{**base, **kw})


# -- the data path -----------------------------------------------------------------------------
def test_sampler_draws_each_step_once_whatever_the_split():
    whole = StepBatchSampler(50, 16, 1, seed=3, first_step=1, last_step=4)
    split = StepBatchSampler(50, 8, 2, seed=3, first_step=1, last_step=4)
    assert len(whole) == 4 and len(split) == 8
    assert [r for b in whole for r in b] == [r for b in split for r in b]
    assert all(len(set(b)) == len(b) for b in whole)  # without replacement when the corpus has the rows
    resumed = StepBatchSampler(50, 8, 2, seed=3, first_step=3, last_step=4)
    assert list(resumed) == list(split)[4:]
    assert len(StepBatchSampler(5, 8, 1, 0, 1, 1).step_rows(1)) == 8  # a tiny corpus draws with replacement
    with pytest.raises(ValueError, match="n_rows, micro_batch, micro_batches >= 1"):
        StepBatchSampler(0, 8, 1, 0, 1, 1)


def test_tokenised_once_and_padded(small):
    texts, emb, anchors, tok = small
    cues = anchors.assign(emb, 2)[0]
    ds = tokenize_once(tok, texts, 12, cues)
    assert set(ds.column_names) == {"input_ids", "row", "cues"} and len(ds) == len(texts)
    assert max(len(r) for r in ds["input_ids"]) <= 12
    batch = PadCollator(tok.pad_token_id)(ds.__getitems__([3, 0, 7]))
    assert batch["input_ids"].shape == batch["labels"].shape == batch["attention_mask"].shape
    assert torch.equal(batch["row"], torch.tensor([3, 0, 7]))
    assert torch.equal(batch["cues"], torch.as_tensor(cues[[3, 0, 7]]))
    pads = batch["attention_mask"] == 0
    assert (batch["labels"][pads] == -100).all() and (batch["labels"][~pads] == batch["input_ids"][~pads]).all()
    with pytest.raises(ValueError, match="the corpus is empty"):
        tokenize_once(tok, [], 12)


def test_the_loop_never_tokenises_per_step(small, monkeypatch):
    """Tokenisation happens once, before the loop: more steps call the tokenizer no more often
    (the old loop tokenised every batch, and the student's cue texts again)."""
    texts, emb, anchors, tok = small
    calls = {"n": 0}
    original = type(tok).__call__

    def counting(self, *a, **k):
        calls["n"] += 1
        return original(self, *a, **k)

    counts = []
    for steps in (2, 6):
        trainer = Trainer(make_student("nano", tok, anchors), tok, texts, emb, anchors,
                          _cfg(condition="ecr", cue_source="schedule", schedule=(0.0, 0.5), steps=steps))
        monkeypatch.setattr(type(tok), "__call__", counting)
        calls["n"] = 0
        trainer.fit(resume=False)
        monkeypatch.setattr(type(tok), "__call__", original)
        counts.append(calls["n"])
    assert counts[0] == counts[1], counts


# -- one step, however it is cut -----------------------------------------------------------------
@pytest.mark.parametrize("condition", ["baseline", "ecr+kd", "random_cues"])
def test_gradient_accumulation_matches_one_larger_batch(small, condition):
    """batch 8 x 2 micro-batches = batch 16: same rows, same cues, same token-weighted loss."""
    texts, emb, anchors, tok = small
    runs = [train(make_student("nano", tok, anchors, seed=0), tok, texts, emb, anchors,
                  _cfg(condition=condition, batch_size=b, gradient_accumulation_steps=a))
            for b, a in ((16, 1), (8, 2))]
    h0, h1 = (r.history for r in runs)
    np.testing.assert_allclose(h0["loss"], h1["loss"], rtol=1e-5)
    np.testing.assert_allclose(h0["kd_loss"], h1["kd_loss"], rtol=1e-5, atol=1e-7)
    for (k, a), b in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=k)


def test_bf16_mixed_precision_trains_on_cpu(small):
    texts, emb, anchors, tok = small
    fp32 = train(make_student("nano", tok, anchors, seed=0), tok, texts, emb, anchors, _cfg(condition="ecr+kd"))
    bf16 = train(make_student("nano", tok, anchors, seed=0), tok, texts, emb, anchors,
                 _cfg(condition="ecr+kd", mixed_precision="bf16"))
    assert bf16.status == "finished" and np.isfinite(bf16.history["loss"]).all()
    # the same first step within bf16's rounding (8 bits of mantissa), yet not bit-identical
    assert bf16.history["loss"][0] == pytest.approx(fp32.history["loss"][0], rel=2e-2)
    assert bf16.history["loss"][0] != fp32.history["loss"][0]
    assert next(bf16.model.parameters()).dtype == torch.float32  # weights stay fp32; autocast does the rest
    # a later fp32 run in the same process gets fp32 again (accelerate keeps one precision per process)
    again = train(make_student("nano", tok, anchors, seed=0), tok, texts, emb, anchors, _cfg(condition="ecr+kd"))
    assert again.history["loss"][0] == fp32.history["loss"][0]


def test_precision_and_accumulation_are_checked(small):
    texts, emb, anchors, tok = small
    with pytest.raises(ValueError, match="fp16' needs a CUDA GPU"):
        Trainer(make_student("nano", tok, anchors), tok, texts, emb, anchors, _cfg(mixed_precision="fp16"))
    with pytest.raises(ValueError, match="mixed_precision must be one of"):
        _cfg(mixed_precision="fp8")
    with pytest.raises(ValueError, match="gradient_accumulation_steps must be int in"):
        _cfg(gradient_accumulation_steps=0)


# -- two processes through torchrun ----------------------------------------------------------------
AUDIT = textwrap.dedent('''
    """Runs `ecr-lab train` and records every path this process writes (test_training_engine)."""
    import builtins, json, os, sys

    log, watched, writes = sys.argv.pop(1), sys.argv.pop(1).split(os.pathsep), []
    real_open, real_replace, real_rename, real_mkdir = builtins.open, os.replace, os.rename, os.mkdir

    def note(path):
        path = os.path.abspath(os.fspath(path))
        if any(path.startswith(w) for w in watched):  # the run's folder and ecr_lab's caches
            writes.append(path)

    def audited_open(file, mode="r", *a, **k):
        if any(c in mode for c in "wax+"):
            note(file)
        return real_open(file, mode, *a, **k)

    builtins.open = audited_open
    os.replace = lambda src, dst, *a, **k: (note(dst), real_replace(src, dst, *a, **k))[1]
    os.rename = lambda src, dst, *a, **k: (note(dst), real_rename(src, dst, *a, **k))[1]
    os.mkdir = lambda path, *a, **k: (os.path.exists(path) or note(path), real_mkdir(path, *a, **k))[1]

    from accelerate import PartialState
    from ecr_lab.cli import main

    rc = main(sys.argv[1:])
    state = PartialState()
    with real_open(os.path.join(log, f"process-{state.process_index}.json"), "w") as f:
        json.dump({"num_processes": state.num_processes, "rc": rc, "writes": writes}, f)
''')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_train_one_run(cache_root, corpus_embeddings, tmp_path):
    """`torchrun --nproc_per_node 2 ... ecr-lab train`: both processes see 2 processes, only the main
    one writes, and the loss curve is the single-process run's with the same global batch."""
    script = tmp_path / "audit.py"
    script.write_text(AUDIT)
    env = {**os.environ, "ECR_LAB_CACHE": str(cache_root), "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    common = ["train", "--profile", "fast", "--preset", "nano", "--variant", "ecr+kd", "--steps", "6",
              "--device", "cpu", "--no-progress"]
    out = {}
    for label, procs, batch in (("two", 2, 4), ("one", 1, 8)):
        logs = tmp_path / f"logs-{label}"
        logs.mkdir()
        launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(procs),
                    "--master_addr", "127.0.0.1", "--master_port", str(_free_port())]
        watched = os.pathsep.join([str(tmp_path / label), str(cache_root)])
        cmd = [*launcher, str(script), str(logs), watched, *common, "--batch-size", str(batch), "--out", str(tmp_path / label)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        out[label] = [json.loads((logs / f"process-{i}.json").read_text()) for i in range(procs)]
    two = out["two"]
    assert [p["num_processes"] for p in two] == [2, 2] and [p["rc"] for p in two] == [0, 0]
    run_dir = tmp_path / "two" / "runs" / "nano-ecr+kd-s0"
    assert any(str(run_dir) in w for w in two[0]["writes"])  # the main process wrote the run ...
    assert two[1]["writes"] == []  # ... and the other process wrote nothing there, nor in the caches
    meta = json.loads((run_dir / "final" / "run.json").read_text())
    assert meta["status"] == "finished" and meta["meta"]["num_processes"] == 2
    assert meta["config"]["batch_size"] == 4
    h2 = pd.read_csv(run_dir / "final" / "history.csv")
    h1 = pd.read_csv(tmp_path / "one" / "runs" / "nano-ecr+kd-s0" / "final" / "history.csv")
    # same rows per step (4 x 2 processes = 8), token-weighted loss: equal up to float rounding
    np.testing.assert_allclose(h2["loss"], h1["loss"], rtol=1e-5)  # measured: 1.4e-7
    np.testing.assert_allclose(h2["kd_loss"], h1["kd_loss"], rtol=1e-5)
    np.testing.assert_allclose(h2["grad_norm"], h1["grad_norm"], rtol=1e-3)


def test_train_command_runs_alone(cache_root, corpus_embeddings, tmp_path, capsys):
    from ecr_lab.cli import main

    args = ["train", "--profile", "fast", "--preset", "nano", "--variant", "kd", "--steps", "3", "--batch-size", "4",
            "--grad-accum", "2", "--device", "cpu", "--no-progress", "--out", str(tmp_path)]
    assert main(args) == 0
    run_dir = Path(tmp_path) / "runs" / "nano-kd-s0"
    cfg = json.loads((run_dir / "final" / "run.json").read_text())["config"]
    assert (cfg["steps"], cfg["batch_size"], cfg["gradient_accumulation_steps"]) == (3, 4, 2)
    assert "8 rows per step" in capsys.readouterr().out
    assert main(args) == 0  # finished: loaded, not trained again
    assert "3 steps" in capsys.readouterr().out


def test_a_launcher_precision_that_the_config_overrides_is_named(small, monkeypatch):
    texts, emb, anchors, tok = small
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")
    with pytest.warns(RuntimeWarning, match="launched with mixed_precision='bf16'.*--mixed-precision bf16"):
        Trainer(make_student("nano", tok, anchors), tok, texts, emb, anchors, _cfg())


def test_the_lm_loss_is_the_transformers_loss(small):
    """The objective's token sum over the scored positions equals the model's own mean LM loss,
    without cues and with cues prepended (the first text token is then scored too)."""
    from ecr_lab.control_tokens import prepend_cues
    from ecr_lab.cue_sources import CueSource
    from ecr_lab.objective import ECRObjective, text_tokens

    texts, emb, anchors, tok = small
    model = make_student("nano", tok, anchors, seed=0).eval()
    batch = PadCollator(tok.pad_token_id)(tokenize_once(tok, texts[:6], 16).__getitems__(list(range(6))))
    batch = {k: batch[k] for k in ("input_ids", "attention_mask", "labels")}
    objective = ECRObjective(model, CueSource())
    for b in (batch, prepend_cues(batch, np.tile([[1, 2]], (6, 1)), tok, padding_side="right")):
        with torch.no_grad():
            lm_sum, _ = objective(**b)
            expected = model(**b).loss
        torch.testing.assert_close(lm_sum / text_tokens(b["labels"]), expected)


def test_a_left_padding_tokenizer_trains_as_a_right_padding_one(small):
    """The loop pads on the right and puts the cues in front whatever the tokenizer's own side
    (the cues once landed after the pads of short rows)."""
    texts, emb, anchors, tok = small
    runs = []
    for side in ("right", "left"):
        tok.padding_side = side
        try:
            runs.append(train(make_student("nano", tok, anchors, seed=0), tok, texts, emb, anchors, _cfg(condition="ecr")))
        finally:
            tok.padding_side = "right"
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=1e-6)


def test_each_row_logs_the_learning_rate_its_step_used(small):
    texts, emb, anchors, tok = small
    run = train(make_student("nano", tok, anchors), tok, texts, emb, anchors, _cfg(warmup_steps=3))
    assert run.history["lr"][0] == 0.0  # linear warm-up starts at 0
    assert run.history["lr"][1] == pytest.approx(3e-3 / 3)


def test_a_run_resumes_only_on_as_many_processes(small, tmp_path, monkeypatch):
    from ecr_lab.experiment import stale_reason

    texts, emb, anchors, tok = small
    cfg = _cfg(condition="ecr", checkpoint_every=2)
    train(make_student("nano", tok, anchors), tok, texts, emb, anchors, cfg, out_dir=tmp_path, stop_at=2)
    assert stale_reason(tmp_path, cfg, texts) is None
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun --nproc_per_node 2 sets it
    assert "trained on 1 process(es), this job has 2" in stale_reason(tmp_path, cfg, texts)
    monkeypatch.delenv("WORLD_SIZE")
    state = tmp_path / "checkpoints" / "checkpoint-000002" / "state.json"
    state.write_text(state.read_text().replace('"num_processes": 1', '"num_processes": 2'))
    with pytest.raises(ValueError, match=r"trained on 2 process\(es\), this run has 1"):
        train(make_student("nano", tok, anchors), tok, texts, emb, anchors, cfg, out_dir=tmp_path)


def test_a_tokenizer_without_a_pad_token_is_refused_up_front(small):
    import copy

    texts, emb, anchors, tok = small
    bare = copy.deepcopy(tok)
    bare.pad_token = None
    with pytest.raises(ValueError, match="no pad token.*tokenizer.pad_token = tokenizer.eos_token"):
        Trainer(make_student("nano", tok, anchors), bare, texts, emb, anchors, _cfg())


def test_accelerate_launch_default_precision_is_not_a_warning(small, monkeypatch):
    import warnings

    texts, emb, anchors, tok = small
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")  # what accelerate launch exports by default
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        Trainer(make_student("nano", tok, anchors), tok, texts, emb, anchors, _cfg())
