"""The training loop: every condition, resume = uninterrupted, NaN handling, bad input."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ecr_lab.anchors import derive_anchors
from ecr_lab.control_tokens import cue_token_ids
from ecr_lab.experiment import rows_of
from ecr_lab.student import build_student, make_student, train_tokenizer
from ecr_lab.training import CONDITIONS, EvalSet, TrainConfig, load_run, student_cue_share, train


@pytest.fixture(scope="module")
def setup_small(corpus, corpus_embeddings):
    # 4 meaning units per topic on each side: enough for a topic probe split by unit
    sub = corpus.subset(units_per_topic=8, langs=["en", "de", "zh", "ar"])
    emb = corpus_embeddings[rows_of(sub, corpus)]
    tr, te = sub.split(0.5, seed=0)
    tr_idx = np.flatnonzero(sub.frame["pair_id"].isin(set(tr.pair_ids)).to_numpy())
    te_idx = np.flatnonzero(sub.frame["pair_id"].isin(set(te.pair_ids)).to_numpy())
    anchors = derive_anchors(emb[tr_idx], 8, seed=0)
    tok = train_tokenizer(tr.texts, vocab_size=600)
    return tr, emb[tr_idx], te, emb[te_idx], anchors, tok


def _cfg(**kw):
    base = dict(steps=8, batch_size=8, eval_every=4, m_cues=2, progress=False, device="cpu", learning_rate=3e-3)
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("condition", CONDITIONS)
def test_every_condition_trains_and_logs(setup_small, condition, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    model = make_student("nano", tok, anchors, seed=0)
    run = train(model, tok, tr.texts, etr, anchors, _cfg(condition=condition), out_dir=tmp_path, eval_set=EvalSet(te, ete))
    assert run.status == "finished" and len(run.history) == 8
    assert {"loss", "grad_norm", "lr", "tokens_per_s"} <= set(run.history.columns)
    assert np.isfinite(run.history[["loss", "grad_norm"]].to_numpy()).all()
    assert list(run.evals["step"]) == [0, 4, 8]
    assert {"topic_probe", "cka_to_teacher", "drift_cka_prev", "retrieval_at_1"} <= set(run.evals.columns)
    assert (run.history["kd_loss"] > 0).all() == (condition in ("kd", "ecr+kd"))
    assert run.projector is not None and run.projector.fitted
    loaded = load_run(tmp_path)
    assert loaded.condition == condition and len(loaded.history) == 8
    ids = tok("hello", return_tensors="pt")["input_ids"]
    assert torch.allclose(loaded.model(ids).logits, run.model.eval()(ids).logits, atol=1e-5)


def test_resume_matches_uninterrupted(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition="ecr+kd", steps=10, eval_every=4, checkpoint_every=3, cue_source="schedule", schedule=(0.2, 0.6))
    full = train(make_student("nano", tok, anchors, seed=1), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path / "a",
                 eval_set=EvalSet(te, ete))
    part = train(make_student("nano", tok, anchors, seed=1), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path / "b",
                 eval_set=EvalSet(te, ete), stop_at=7)
    assert part.status == "interrupted"
    # "kill": a fresh process would build a fresh model and find the checkpoint at step 6
    resumed = train(make_student("nano", tok, anchors, seed=99), tok, tr.texts, etr, anchors, cfg,
                    out_dir=tmp_path / "b", eval_set=EvalSet(te, ete))
    assert resumed.status == "finished"
    for (k, a), b in zip(full.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    assert np.allclose(full.history["loss"], resumed.history["loss"])
    assert list(full.evals["step"]) == list(resumed.evals["step"])


def test_student_cue_share_schedule():
    cfg = _cfg(cue_source="schedule", steps=100, schedule=(0.2, 0.6))
    assert student_cue_share(cfg, 10) == 0 and student_cue_share(cfg, 100) == 1
    assert student_cue_share(cfg, 40) == pytest.approx(0.5)
    assert student_cue_share(_cfg(cue_source="student"), 1) == 1


def test_nan_loss_stops_and_keeps_last_good_checkpoint(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    model = make_student("nano", tok, anchors, seed=0)
    calls = {"n": 0}

    def poison(module, args, output):
        calls["n"] += 1
        if calls["n"] > 5:
            return output * float("nan")
        return output

    model.model.norm.register_forward_hook(poison)
    with pytest.warns(RuntimeWarning, match=r"non-finite at step 6.*checkpoint-000004"):
        run = train(model, tok, tr.texts, etr, anchors, _cfg(checkpoint_every=2), out_dir=tmp_path)
    assert run.status == "diverged" and len(run.history) == 6
    ckpts = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert ckpts == ["checkpoint-000002", "checkpoint-000004"]
    state = json.loads((tmp_path / "checkpoints" / "checkpoint-000004" / "state.json").read_text())
    assert state["step"] == 4
    assert json.loads((tmp_path / "final" / "run.json").read_text())["status"] == "diverged"


def test_bad_input(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    plain = train_tokenizer(tr.texts, vocab_size=300)
    with pytest.raises(ValueError, match="has 0 control tokens but the anchors K=8"):
        train(build_student("nano", plain), plain, tr.texts, etr, anchors, _cfg())
    model = make_student("nano", tok, anchors)
    with pytest.raises(ValueError, match="dimension mismatch"):
        train(model, tok, tr.texts, etr[:, :100], anchors, _cfg())
    with pytest.raises(ValueError, match="mismatched lengths"):
        train(model, tok, tr.texts[:-1], etr, anchors, _cfg())
    with pytest.raises(ValueError, match="condition must be one of"):
        _cfg(condition="magic")
    with pytest.raises(ValueError, match="between 1 and K=8"):
        train(model, tok, tr.texts, etr, anchors, _cfg(m_cues=9))
    # a checkpoint from another format version is refused
    train(model, tok, tr.texts, etr, anchors, _cfg(steps=2, checkpoint_every=2), out_dir=tmp_path)
    st = tmp_path / "checkpoints" / "checkpoint-000002" / "state.json"
    meta = json.loads(st.read_text())
    meta["format_version"] = 7
    st.write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="format_version=7"):
        train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, _cfg(steps=4), out_dir=tmp_path)


def test_cue_tokens_reach_the_model(setup_small):
    """Each <ecr_i> is one token with its own embedding row, and the cue changes what the model
    computes at the text positions."""
    tr, etr, te, ete, anchors, tok = setup_small
    from ecr_lab.control_tokens import prepend_cues

    model = make_student("nano", tok, anchors).eval()
    ids = cue_token_ids(tok, anchors.k)
    assert len(set(ids.tolist())) == anchors.k
    assert tok.convert_ids_to_tokens(ids.tolist()) == [f"<ecr_{i}>" for i in range(anchors.k)]
    assert ids.max() < model.get_input_embeddings().weight.shape[0]
    with torch.no_grad():
        model.get_input_embeddings().weight[ids] = torch.randn(anchors.k, model.config.hidden_size)
    batch = dict(tok([tr.texts[0]], return_tensors="pt"))
    text_len = batch["input_ids"].shape[1]
    outs = []
    for cue in (0, 1):
        b = prepend_cues(batch, np.array([[cue]]), tok)
        assert b["input_ids"][0, 0] == ids[cue]
        with torch.no_grad():
            outs.append(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits[0, -text_len:])
    assert not torch.allclose(outs[0], outs[1])


def test_soft_cues_train_the_projection(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition="ecr", cue_source="soft", steps=6, checkpoint_every=3)
    trainer_run = train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg,
                        out_dir=tmp_path / "a", eval_set=EvalSet(te, ete))
    assert trainer_run.status == "finished" and np.isfinite(trainer_run.history["loss"]).all()
    # the projection step at inference is the trained router, not a refit
    from ecr_lab.projection import AnchorProjector
    from ecr_lab.student import token_features

    feats = token_features(make_student("nano", tok, anchors, seed=0), tok, tr.texts)
    init = AnchorProjector(anchors).fit(feats, etr)
    assert not np.allclose(trainer_run.projector.W_, init.W_)
    # resume gives the same weights (Gumbel noise comes from the saved torch RNG)
    train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path / "b",
          eval_set=EvalSet(te, ete), stop_at=4)
    resumed = train(make_student("nano", tok, anchors, seed=5), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path / "b",
                    eval_set=EvalSet(te, ete))
    assert np.allclose(resumed.projector.W_, trainer_run.projector.W_)
    for a, b in zip(trainer_run.model.state_dict().values(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="soft cues need cue_feature='tokens'"):
        _cfg(cue_source="soft", cue_feature="hidden")


@pytest.mark.parametrize("projection, feature", [("classifier", "tokens"), ("procrustes", "hidden")])
def test_projection_options(setup_small, projection, feature):
    tr, etr, te, ete, anchors, tok = setup_small
    run = train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors,
                _cfg(steps=3, projection=projection, cue_feature=feature))
    assert run.projector.method == projection
    from ecr_lab.evaluation import evaluate

    res = evaluate(run, te, ete, overhead_texts=8)
    assert {"ecr_inference", "projection", "inference"} <= set(res.view)


def test_cues_plus_top_trains_only_cue_rows_and_top_layers(setup_small):
    tr, etr, te, ete, anchors, tok = setup_small
    model = make_student("micro", tok, anchors, seed=0)  # 3 layers, tied input/output embeddings
    before = {k: v.clone() for k, v in model.state_dict().items()}
    run = train(model, tok, tr.texts, etr, anchors, _cfg(condition="ecr+kd", steps=4, trainable="cues+top", top_layers=1))
    after = {k: v.clone() for k, v in run.model.state_dict().items()}
    cue = cue_token_ids(tok, anchors.k)
    emb_key = "model.embed_tokens.weight"
    others = torch.ones(before[emb_key].shape[0], dtype=torch.bool)
    others[cue] = False
    assert not torch.equal(before[emb_key][cue], after[emb_key][cue])  # the cue rows moved
    assert torch.equal(before[emb_key][others], after[emb_key][others])  # no other token row did
    assert not torch.equal(before["model.layers.2.mlp.up_proj.weight"], after["model.layers.2.mlp.up_proj.weight"])
    assert not torch.equal(before["model.norm.weight"], after["model.norm.weight"])
    for key in ("model.layers.0.mlp.up_proj.weight", "model.layers.1.self_attn.q_proj.weight"):
        assert torch.equal(before[key], after[key]), key
    # the returned model carries no gradient mask: full fine-tuning afterwards moves every row
    run2 = train(run.model, tok, tr.texts, etr, anchors, _cfg(condition="baseline", steps=2))
    assert not torch.equal(run2.model.state_dict()[emb_key][others], after[emb_key][others])


@pytest.mark.parametrize("condition", ["baseline", "kd"])
def test_cues_plus_top_without_cues_stops_the_backward_at_the_top_layers(setup_small, condition):
    """No cue token enters a baseline or KD input: the input lookup is detached (the backward skips the
    frozen layers) and the update is the one the masked lookup gave (same weights after two steps)."""
    from ecr_lab.training import Trainer

    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition=condition, steps=2, trainable="cues+top", top_layers=1)
    fast = Trainer(make_student("micro", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg)
    slow = Trainer(make_student("micro", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg)
    assert fast._input_hook is not None
    slow._input_hook.remove()  # the behaviour before: the lookup keeps its (masked, zero) gradient
    seen: dict[str, list[bool]] = {"fast": [], "slow": []}
    for name, t in (("fast", fast), ("slow", slow)):
        t.unwrapped.model.layers[0].mlp.up_proj.register_forward_hook(
            lambda module, args, output, name=name: seen[name].append(output.requires_grad))
    runs = [t.fit(resume=False) for t in (fast, slow)]
    assert any(seen["slow"]) and not any(seen["fast"])  # the frozen layers below built no autograd graph
    a, b = (r.model.state_dict() for r in runs)
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    assert fast._input_hook is None  # removed with the gradient mask: the returned model is plain
    ecr = Trainer(make_student("micro", tok, anchors, seed=0), tok, tr.texts, etr, anchors,
                  dataclasses.replace(cfg, condition="ecr+kd"))
    assert ecr._input_hook is None  # cue tokens are in the input: their rows need the whole backward


def test_trainable_options_are_checked(setup_small):
    tr, etr, te, ete, anchors, tok = setup_small
    with pytest.raises(ValueError, match="trainable must be one of"):
        _cfg(trainable="top")
    with pytest.raises(ValueError, match="top_layers must be int in"):
        _cfg(trainable="cues+top", top_layers=-1)
    with pytest.raises(ValueError, match="only 2 layers"):
        train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, _cfg(trainable="cues+top", top_layers=5))


# -- defects of issue 13: each test failed on the code before the fix ---------------------------
def test_student_cues_come_from_the_batch_texts(setup_small, monkeypatch):
    """cue_source='student': the cues of a batch are the projection of exactly that batch's texts
    (the old loop projected corpus rows 0..B-1 instead)."""
    import copy

    from ecr_lab import training
    from ecr_lab.projection import AnchorProjector
    from ecr_lab.student import cue_features
    from ecr_lab.training_data import StepBatchSampler

    tr, etr, te, ete, anchors, tok = setup_small
    model = make_student("nano", tok, anchors, seed=0)
    before = copy.deepcopy(model)
    seen = []
    original = training.prepend_cues

    def spy(batch, cues, *a, **k):
        seen.append(cues.cpu().numpy().copy())
        return original(batch, cues, *a, **k)

    monkeypatch.setattr(training, "prepend_cues", spy)
    cfg = _cfg(condition="ecr", cue_source="student", steps=1, projection="classifier")
    train(model, tok, tr.texts, etr, anchors, cfg)
    rows = StepBatchSampler(len(tr), cfg.batch_size, 1, cfg.seed, 1, 1).step_rows(1)
    assert list(rows) != list(range(len(rows)))  # a random batch, not the first rows
    projector = AnchorProjector(anchors, method="classifier").fit(cue_features(before, tok, tr.texts), etr)
    expected = projector.cues(cue_features(before, tok, [tr.texts[r] for r in rows]), cfg.m_cues)
    assert np.array_equal(seen[0], expected)


def test_keep_checkpoints_must_be_positive():
    with pytest.raises(ValueError, match="keep_checkpoints"):
        _cfg(keep_checkpoints=0)


def test_soft_cues_record_the_projection_they_use(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    run = train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors,
                _cfg(condition="ecr", cue_source="soft", steps=2), out_dir=tmp_path)
    saved = json.loads((tmp_path / "final" / "run.json").read_text())["config"]["projection"]
    assert saved == run.projector.method == load_run(tmp_path).projector.method


def test_weight_decay_only_on_matrices(setup_small, monkeypatch):
    """nanoGPT's rule: decay parameters with dim >= 2; norm gains and biases get none."""
    tr, etr, te, ete, anchors, tok = setup_small
    groups = []
    original = torch.optim.AdamW.__init__

    def spy(self, params, *a, **k):
        params = list(params)
        groups.extend(params)
        original(self, params, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "__init__", spy)
    train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, _cfg(condition="kd", steps=1,
                                                                                weight_decay=0.1))
    decayed = [p for g in groups for p in g["params"] if g.get("weight_decay", 0.1) > 0]
    plain = [p for g in groups for p in g["params"] if g.get("weight_decay", 0.1) == 0]
    assert decayed and all(p.dim() >= 2 for p in decayed)
    assert plain and all(p.dim() < 2 for p in plain)


def test_resume_loads_strictly_and_only_tensors(setup_small, tmp_path):
    from safetensors.torch import load_file, save_file

    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition="ecr+kd", steps=4, checkpoint_every=2)
    train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path,
          eval_set=EvalSet(te, ete), stop_at=2)
    ck = tmp_path / "checkpoints" / "checkpoint-000002"
    torch.load(ck / "trainer_state.pt", weights_only=True)  # plain tensors and numbers only
    weights = load_file(str(ck / "model" / "model.safetensors"))
    del weights["model.norm.weight"]
    save_file(weights, str(ck / "model" / "model.safetensors"))
    with pytest.raises(ValueError, match="model.norm.weight"):
        train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path)


def test_evaluation_during_training_computes_only_cka_drift(setup_small, monkeypatch):
    from ecr_lab import metrics

    def boom(*a, **k):
        raise AssertionError("procrustes computed and thrown away")

    monkeypatch.setattr(metrics, "procrustes_disparity", boom)
    tr, etr, te, ete, anchors, tok = setup_small
    run = train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, _cfg(steps=2, eval_every=1),
                eval_set=EvalSet(te, ete))
    assert run.evals["drift_cka_prev"].notna().sum() == 2


def test_resume_refuses_another_config_before_loading(setup_small, tmp_path):
    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition="ecr", steps=4, checkpoint_every=2)
    train(make_student("nano", tok, anchors, seed=0), tok, tr.texts, etr, anchors, cfg, out_dir=tmp_path, stop_at=2)
    model = make_student("nano", tok, anchors, seed=3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"another learning_rate \(learning_rate=0.003\)"):
        train(model, tok, tr.texts, etr, anchors, _cfg(condition="ecr", steps=4, checkpoint_every=2, learning_rate=0.01),
              out_dir=tmp_path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # nothing was loaded
    with pytest.raises(ValueError, match="trained on other texts"):
        train(make_student("nano", tok, anchors), tok, tr.texts[::-1], etr[::-1], anchors, cfg, out_dir=tmp_path)


def test_kd_head_starts_from_the_seed_alone(setup_small):
    from ecr_lab.training import Trainer

    tr, etr, te, ete, anchors, tok = setup_small
    heads = []
    for noise in (1, 2):
        torch.manual_seed(noise)  # whatever ran before must not matter
        t = Trainer(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, _cfg(condition="kd"))
        heads.append(t.kd.head.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])


def test_stale_runs_are_trained_again(setup_small, tmp_path):
    from ecr_lab.experiment import stale_reason

    tr, etr, te, ete, anchors, tok = setup_small
    cfg = _cfg(condition="ecr", steps=2)
    run_dir = tmp_path / "r"
    assert stale_reason(run_dir, cfg, tr.texts) is None  # nothing there yet
    train(make_student("nano", tok, anchors), tok, tr.texts, etr, anchors, cfg, out_dir=run_dir)
    assert stale_reason(run_dir, cfg, tr.texts) is None
    assert "another steps" in stale_reason(run_dir, _cfg(condition="ecr", steps=3), tr.texts)
    assert "other texts" in stale_reason(run_dir, cfg, tr.texts[1:])
    assert stale_reason(run_dir, cfg, tr.texts, anchors) is None
    other = dataclasses.replace(anchors, vectors=anchors.vectors[::-1].copy())  # e.g. derived again
    assert "other anchors" in stale_reason(run_dir, cfg, tr.texts, other)
    with pytest.raises(ValueError, match="other anchors"):  # and a checkpoint is not resumed on them
        train(make_student("nano", tok, other), tok, tr.texts, etr, other, cfg,
              out_dir=run_dir)
    meta = json.loads((run_dir / "final" / "run.json").read_text())
    (run_dir / "final" / "run.json").write_text(json.dumps({**meta, "format_version": 1}))
    assert "older ecr_lab" in stale_reason(run_dir, cfg, tr.texts)
