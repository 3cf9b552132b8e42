"""Issue 15: train / validation / test by meaning unit, choices on validation, a drift measure that moves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ecr_lab import metrics
from ecr_lab.data import CorpusError


def test_three_part_split_keeps_units_whole_and_test_unchanged(corpus):
    train, val, test = corpus.split(0.2, seed=0, val_size=0.2)
    _, test2 = corpus.split(0.2, seed=0)
    assert (len(train), len(val), len(test)) == (3648, 1248, 1248)  # 60 / 20 / 20 % of 6,144 rows
    assert set(test.pair_ids) == set(test2.pair_ids)  # adding a validation split leaves test alone
    units = [set(p.pair_ids) for p in (train, val, test)]
    assert not (units[0] & units[1]) and not (units[0] & units[2]) and not (units[1] & units[2])
    per_topic = val.frame.drop_duplicates("pair_id").groupby("topic").size()
    assert per_topic.min() >= 12 and set(per_topic.index) == set(corpus.topics)  # stratified by topic
    assert val.name.endswith(":val") and train.name.endswith(":train")
    with pytest.raises(CorpusError, match="val_size must be in"):
        corpus.split(0.2, val_size=0.8)


def test_prepare_chooses_on_validation_never_on_test(corpus, cache_root):
    from ecr_lab.config import get_profile
    from ecr_lab.experiment import prepare, rows_of

    tiny = get_profile("fast").replace(units_per_topic=20, languages=("en", "de", "zh", "ar"))
    setup = prepare(tiny)
    assert setup.val is not None and len(setup.val) == len(setup.teacher_val)
    assert not set(setup.val.pair_ids) & set(setup.test.pair_ids)
    probe = setup.eval_set()  # what training watches: validation rows only
    assert set(probe.corpus.pair_ids) <= set(setup.val.pair_ids)
    np.testing.assert_array_equal(probe.teacher_embeddings, setup.teacher_val[rows_of(probe.corpus, setup.val)])
    corpus_val, teacher_val = setup.split("val")
    assert corpus_val is setup.val and teacher_val is setup.teacher_val
    with pytest.raises(ValueError, match="no split 'dev'"):
        setup.split("dev")


def test_choose_on_validation_ignores_test():
    from ecr_lab.study import choose_on_validation

    rows = []
    # ecr wins on test, ecr+kd on validation: the choice must be ecr+kd, and report its test number
    for variant, val, test in (("ecr", 0.20, 0.90), ("ecr+kd", 0.30, 0.25), ("random_cues", 0.99, 0.99)):
        for seed in (0, 1):
            for split, v in (("val", val), ("test", test)):
                rows.append({"variant": variant, "preset": "micro", "params": 1, "seed": seed, "split": split,
                             "view": "ecr_inference", "metric": "topic_probe", "value": v})
    res = pd.DataFrame(rows)
    proj = pd.DataFrame([{"variant": "ecr+kd", "split": s, "method": m, "feature": "tokens", "topic_probe": v}
                         for m, vals in (("ridge", (0.1, 0.9)), ("classifier", (0.3, 0.2)))
                         for s, v in zip(("val", "test"), vals, strict=True)])
    chosen = choose_on_validation(res, proj)
    assert chosen["variant"]["choice"] == "ecr+kd"  # random_cues is a control, never a candidate
    assert chosen["variant"]["test"] == pytest.approx(0.25)
    assert chosen["projection"]["choice"] == "classifier on tokens"


def test_knn_churn_moves_where_cka_does_not(rng):
    x = rng.standard_normal((200, 16))
    assert metrics.knn_churn(x, x) == 0.0
    # a small jitter barely changes the global geometry but reshuffles many neighbourhoods
    y = x + 0.3 * rng.standard_normal(x.shape)
    assert metrics.drift_cka(x, y) < 0.1 and metrics.knn_churn(x, y) > 0.2
    assert metrics.knn_churn(x, rng.standard_normal(x.shape)) > 0.9


def test_the_kd_head_is_a_projection_step(corpus, corpus_embeddings, tmp_path):
    """projection='kd_head': nothing fitted; the cues are the nearest anchors of the KD head's
    prediction of the teacher embedding from the pooled last hidden state."""
    import torch

    from ecr_lab.anchors import derive_anchors
    from ecr_lab.experiment import rows_of
    from ecr_lab.projection import AnchorProjector
    from ecr_lab.student import embed, make_student, train_tokenizer
    from ecr_lab.training import TrainConfig, train

    sub = corpus.subset(units_per_topic=4, langs=["en", "de"])
    emb = corpus_embeddings[rows_of(sub, corpus)]
    anchors = derive_anchors(emb, 8, seed=0)
    tok = train_tokenizer(sub.texts, vocab_size=500)
    cfg = TrainConfig(condition="ecr+kd", steps=3, batch_size=8, eval_every=3, projection="kd_head", cue_feature="hidden",
                      progress=False, device="cpu")
    run = train(make_student("nano", tok, anchors), tok, sub.texts, emb, anchors, cfg, out_dir=tmp_path)
    assert run.projector.method == "kd_head"
    head = torch.load(next((tmp_path / "checkpoints").iterdir()) / "trainer_state.pt", weights_only=True)["extra"][0]
    pred = embed(run.model, tok, sub.texts[:10], progress=False) @ head["head.weight"].numpy().T + head["head.bias"].numpy()
    pred /= np.linalg.norm(pred, axis=1, keepdims=True)
    np.testing.assert_array_equal(run.student.cues(sub.texts[:10], m=1)[:, 0], (pred @ anchors.vectors.T).argmax(1))
    from ecr_lab.runs import load_run

    assert load_run(tmp_path).projector.method == "kd_head"  # saved and loaded like any projection step
    from ecr_lab.study import kd_head_projector

    np.testing.assert_allclose(kd_head_projector(run, anchors).W_, run.projector.W_)
    with pytest.raises(ValueError, match="not fitted: it is the distillation head"):
        AnchorProjector(anchors, method="kd_head").fit(emb, emb)
    with pytest.raises(ValueError, match="needs a condition with KD"):
        TrainConfig(condition="ecr", projection="kd_head", cue_feature="hidden")


def test_c3_is_read_only_where_training_is_unstable():
    """stress_claims: a learning rate where nothing spiked nor diverged reads "untested"; where the
    baseline diverges and ECR does not, the paired difference decides."""
    from ecr_lab.study import stress_claims, stress_table

    rows = []
    for lr, base_div, ecr_div in ((3e-3, 0, 0), (3e-2, 1, 0)):
        for seed in range(5):
            for variant, div in (("baseline", base_div), ("kd", base_div), ("ecr+kd", ecr_div)):
                rows.append({"variant": variant, "learning_rate": lr, "seed": seed, "preset": "deep",
                             "status": "diverged" if div else "finished", "diverged": float(div), "steps_done": 10,
                             "loss_spikes": float(3 * div), "grad_norm_p99_over_median": 1.5, "nonfinite_steps": 0.0})
    claims = stress_claims(pd.DataFrame(rows))
    calm = claims[claims.comparison.str.contains("lr 0.003")]
    assert set(calm.metric_verdict) == {"untested"}
    wild = claims[claims.comparison.str.contains("lr 0.03")]
    assert set(wild.metric_verdict) == {"supported"}  # every seed: the controls diverged and spiked, ECR did not
    assert set(claims.verdict) == {"supported"}  # read where training was unstable, not where it was calm
    table = stress_table(pd.DataFrame(rows))
    assert set(table[table.learning_rate == 3e-2].diverged) == {"5/5", "0/5"}
