"""Notebook 03's small computations (ecr_lab.lesson_training) on a tiny tokenizer, synthetic teacher
rows and a made-up results table (no teacher, no training): the batch it prints is the loop's own,
the projection step fitted by hand picks the anchors AnchorProjector picks, and the gain splits add up."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import clustered

from ecr_lab import lesson_training
from ecr_lab.anchors import derive_anchors
from ecr_lab.control_tokens import IGNORE_INDEX, cue_token, extend_tokenizer
from ecr_lab.objective import text_tokens
from ecr_lab.projection import AnchorProjector
from ecr_lab.student import train_tokenizer
from ecr_lab.training_config import TrainConfig

WORDS = ("the rain falls on the old town", "der Zug kommt heute spät an", "le marché ouvre à huit heures",
         "she reads a book about the sea", "wir spielen morgen Fußball im Park", "il fait froid ce matin",
         "the match ended in a draw", "das Konzert wurde abgesagt")


@pytest.fixture(scope="module")
def tiny():
    """40 sentences of varied length, their synthetic teacher rows (4 clusters, d = 16), K = 4
    anchors and a byte-level BPE tokenizer with the 4 cue tokens."""
    teacher, _ = clustered(n_per=10, k=4, d=16, noise=0.2)
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(1 + i % 3)) for i in range(40)]
    anchors = derive_anchors(teacher, 4, seed=0, n_init=1)
    tok = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    extend_tokenizer(tok, anchors)
    return texts, teacher, anchors, tok


def _cfg(**kw):
    base = dict(condition="ecr", steps=3, batch_size=6, m_cues=2, max_length=16, progress=False, device="cpu", seed=3)
    base.update(kw)
    return TrainConfig(**base)


def test_first_batch_is_what_the_loop_feeds_the_model(tiny):
    from ecr_lab.student import make_student
    from ecr_lab.training import Trainer

    texts, teacher, anchors, tok = tiny
    cfg = _cfg()
    batch = lesson_training.first_batch(tok, texts, teacher, anchors, cfg)
    trainer = Trainer(make_student("nano", tok, anchors, seed=0), tok, texts, teacher, anchors, cfg)
    (loop,) = trainer._micro_batches(trainer.batches(), 1)  # the loop's first micro-batch of step 1
    for key in ("input_ids", "attention_mask", "labels"):
        assert torch.equal(batch[key], loop[key]), key
    rows = batch["row"].numpy()
    assert torch.equal(batch["cues"], torch.as_tensor(anchors.assign(teacher[rows], 2)[0]))  # the teacher's top-2


def test_the_labels_of_a_batch(tiny):
    texts, teacher, anchors, tok = tiny
    batch = lesson_training.first_batch(tok, texts, teacher, anchors, _cfg())
    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    cue_ids = torch.tensor([tok.convert_tokens_to_ids(cue_token(int(c))) for c in batch["cues"].reshape(-1)])
    assert torch.equal(ids[:, :2].reshape(-1), cue_ids)                 # the cues open every row
    assert (labels[:, :2] == IGNORE_INDEX).all()                        # ... and are never a target
    assert (labels[mask == 0] == IGNORE_INDEX).all() and (mask == 0).any()  # pads neither
    text = (mask == 1) & (torch.arange(ids.shape[1]) >= 2)
    assert torch.equal(labels[text], ids[text])                         # text: the labels are the ids


def test_batch_table_and_rows(tiny):
    texts, teacher, anchors, tok = tiny
    batch = lesson_training.first_batch(tok, texts, teacher, anchors, _cfg())
    table = lesson_training.batch_table(batch, tok)
    row = int(torch.argmin(batch["attention_mask"].sum(1)))  # default: the row with the most padding
    assert table.input_id.tolist() == batch["input_ids"][row].tolist()
    assert table.part.iloc[:2].tolist() == ["cue", "cue"] and table.part.iloc[-1] == "pad"
    assert table.token.iloc[0] == cue_token(int(batch["cues"][row, 0]))
    assert not table.loss_target.iloc[:2].any() and table.loss_target.iloc[2]  # the first text token is scored
    assert table.loss_target.sum() == (table.part == "text").sum()
    assert (table.label[table.part != "text"] == IGNORE_INDEX).all()
    rows = lesson_training.batch_rows(batch, tok)
    assert len(rows) == len(batch["input_ids"]) and rows.row.tolist() == batch["row"].tolist()
    assert rows.loss_targets.sum() == int(text_tokens(batch["labels"]))  # what the loss is averaged over
    assert (rows["labels_-100"] == rows.cues + rows.pads).all() and (rows.cues == 2).all()
    assert rows.text.iloc[0] == texts[int(batch["row"][0])][: len(rows.text.iloc[0])]
    with pytest.raises(ValueError, match="row must be"):
        lesson_training.batch_table(batch, tok, row=99)


def test_a_batch_without_cues_scores_one_token_less_per_row(tiny):
    texts, teacher, anchors, tok = tiny
    plain = lesson_training.first_batch(tok, texts, teacher, anchors, _cfg(condition="baseline"))
    cued = lesson_training.first_batch(tok, texts, teacher, anchors, _cfg())
    assert "cues" not in plain and torch.equal(plain["row"], cued["row"])  # same rows, same seed
    assert int(text_tokens(cued["labels"])) - int(text_tokens(plain["labels"])) == len(plain["row"])
    table = lesson_training.batch_table(plain, tok, row=0)
    assert "cue" not in set(table.part) and not table.loss_target.iloc[0]
    random = lesson_training.first_batch(tok, texts, teacher, anchors, _cfg(condition="random_cues"))
    assert random["cues"].shape == (6, 2) and torch.equal(random["row"], cued["row"])


def test_first_batch_refuses_what_it_cannot_show(tiny):
    texts, teacher, anchors, tok = tiny
    with pytest.raises(ValueError, match="soft cues"):
        lesson_training.first_batch(tok, texts, teacher, anchors, _cfg(cue_source="soft", projection="ridge"))
    with pytest.raises(ValueError, match="student's projection step"):
        lesson_training.first_batch(tok, texts, teacher, anchors, _cfg(cue_source="student"))
    with pytest.raises(ValueError, match="mismatched lengths"):
        lesson_training.first_batch(tok, texts[:-1], teacher, anchors, _cfg())


def test_the_projection_step_by_hand_picks_what_anchor_projector_picks():
    """The recipe notebook 03 writes out: standardise, K-way logistic regression of the teacher's
    top-1 anchor, top-m of its scores."""
    from sklearn.linear_model import LogisticRegression

    teacher, labels = clustered(n_per=50, k=6, d=24, noise=0.4, seed=1)
    rng = np.random.default_rng(2)
    feats = (np.eye(6)[labels] @ rng.standard_normal((6, 12)) + rng.standard_normal((300, 12))) * 3 + 5
    feats = feats.astype(np.float32)
    anchors = derive_anchors(teacher, 8, seed=0, n_init=1)
    train, test = slice(0, 200), slice(200, 300)
    m = 2
    x = feats[train].astype(np.float64)
    mu, sigma = x.mean(0), x.std(0) + 1e-8
    clf = LogisticRegression(max_iter=1000).fit((x - mu) / sigma, anchors.assign(teacher[train], 1)[0][:, 0])
    scores = clf.predict_proba((feats[test].astype(np.float64) - mu) / sigma)
    by_hand = clf.classes_[np.argsort(-scores, axis=1, kind="stable")[:, :m]]
    library = AnchorProjector(anchors, method="classifier").fit(feats[train], teacher[train]).cues(feats[test], m)
    np.testing.assert_array_equal(by_hand, library)


# -- where the gain comes from ------------------------------------------------------------------------------------

def _results(seeds=(0, 1), with_kd=True) -> pd.DataFrame:
    """A made-up evaluate table: topic probe baseline 0.15, KD 0.17, ECR+KD at inference 0.25, its
    cue alone 0.24, KD + cue 0.26 (seed s adds 0.01 s); a larger preset that must be ignored."""
    values = {("baseline", "cue_free"): 0.15, ("kd", "cue_free"): 0.17, ("ecr+kd", "cue_free"): 0.16,
              ("ecr+kd", "ecr_inference"): 0.25, ("ecr+kd", "oracle"): 0.7, ("ecr+kd", "cue_only"): 0.24,
              ("ecr+kd", "kd_plus_cue"): 0.26}
    rows = []
    for (condition, view), v in values.items():
        if not with_kd and (condition == "kd" or view == "kd_plus_cue"):
            continue
        for s in seeds:
            for preset, params, shift in (("nano", 100, 0.0), ("micro", 300, 0.5)):
                rows.append({"run": f"{preset}-{condition}-s{s}", "condition": condition, "preset": preset,
                             "params": params, "seed": s, "view": view, "metric": "topic_probe",
                             "value": v + 0.01 * s + shift})
    return pd.DataFrame(rows)


def test_gain_ladder_reads_the_smallest_preset():
    ladder = lesson_training.gain_ladder(_results(), metrics=("topic_probe",))
    assert ladder.system.tolist() == ["baseline (cue-free)", "kd (cue-free)", "ecr+kd at inference",
                                      "its cue alone", "KD student + its cue"]
    np.testing.assert_allclose(ladder["mean"], [0.155, 0.175, 0.255, 0.245, 0.265])
    assert (ladder.seeds == 2).all() and ladder["std"].iloc[0] == pytest.approx(0.01 / np.sqrt(2))
    no_kd = lesson_training.gain_ladder(_results(with_kd=False), metrics=("topic_probe",))
    assert "kd (cue-free)" not in set(no_kd.system) and "KD student + its cue" not in set(no_kd.system)
    with pytest.raises(ValueError, match="retrieval_at_1"):
        lesson_training.gain_ladder(_results(), metrics=("retrieval_at_1",))


def test_gain_shares_add_up():
    shares = lesson_training.gain_shares(_results(), metrics=("topic_probe",)).set_index("part")
    assert shares.loc["whole gain", "difference"] == pytest.approx(0.10)
    assert shares.loc["KD's share", "difference"] == pytest.approx(0.02)
    assert shares.loc["ECR's share on top of KD", "difference"] == pytest.approx(0.08)
    assert shares.loc[["KD's share", "ECR's share on top of KD"], "share_of_gain"].sum() == pytest.approx(1.0)
    assert shares.loc["beyond its cue alone", "difference"] == pytest.approx(0.01)
    assert shares.loc["beyond KD student + its cue", "difference"] == pytest.approx(-0.01)
    assert shares.loc["beyond its cue alone", "share_of_gain"] != shares.loc["beyond its cue alone", "share_of_gain"]
    assert (shares.seeds == 2).all()
    no_kd = lesson_training.gain_shares(_results(with_kd=False), metrics=("topic_probe",))
    assert no_kd.part.tolist() == ["whole gain", "beyond its cue alone"]


def test_gain_shares_pair_by_seed_and_refuse_a_share_of_no_gain():
    res = _results(seeds=(0, 1))
    res = res[~((res.condition == "kd") & (res.seed == 1))]  # KD ran for seed 0 only
    shares = lesson_training.gain_shares(res, metrics=("topic_probe",)).set_index("part")
    ladder = shares.loc[["whole gain", "KD's share", "ECR's share on top of KD"]]
    assert (ladder.seeds == 1).all()  # the seeds all three share, so the shares add up to the whole
    assert ladder.loc["KD's share", "difference"] + ladder.loc["ECR's share on top of KD", "difference"] == \
        pytest.approx(ladder.loc["whole gain", "difference"])
    assert shares.loc["beyond its cue alone", "seeds"] == 2
    flat = _results()
    flat.loc[(flat.view == "ecr_inference"), "value"] -= 0.2  # ECR+KD now below the baseline
    shares = lesson_training.gain_shares(flat, metrics=("topic_probe",)).set_index("part")
    assert shares.loc["whole gain", "difference"] < 0 and np.isnan(shares.loc["KD's share", "share_of_gain"])


def test_gain_chart():
    chart = lesson_training.gain_chart(_results(), metrics=("topic_probe",))
    spec = chart.to_dict()
    assert "nano student" in spec["title"] and spec["facet"]["column"]["field"] == "panel"
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"] for layer in spec["spec"]["layer"]]
    assert marks == ["bar", "rule", "text", "rule"]
    data = next(iter(spec["datasets"].values()))
    assert {d["panel"] for d in data} == {"topic probe (higher is better)"}
    assert [d["baseline"] for d in data] == pytest.approx([0.155] * len(data))
