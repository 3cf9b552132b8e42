"""Control tokens on a real Hugging Face tokenizer built locally with `tokenizers`."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ecr_lab.control_tokens import (
    IGNORE_INDEX,
    ECRCollator,
    cue_token,
    cue_token_ids,
    cue_vocabulary,
    extend_model,
    extend_tokenizer,
    prepend_cues,
)

TEXTS = ["the cat sat on the mat", "a dog barked", "rain again today in the old town", "hi"]


@pytest.fixture
def tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(TEXTS * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>")


def test_vocabulary_and_roundtrip(tokenizer):
    assert cue_vocabulary(3) == ["<ecr_0>", "<ecr_1>", "<ecr_2>"]
    n0 = len(tokenizer)
    assert extend_tokenizer(tokenizer, 5) == 5
    assert extend_tokenizer(tokenizer, 5) == 0  # idempotent
    assert len(tokenizer) == n0 + 5
    ids = tokenizer(cue_token(3) + cue_token(0) + "the cat")["input_ids"]
    assert ids[:2] == cue_token_ids(tokenizer, 5)[[3, 0]].tolist()
    assert tokenizer.decode(ids) == "<ecr_3><ecr_0>the cat"
    assert tokenizer.decode(ids, skip_special_tokens=True) == "the cat"


def test_missing_tokens_is_a_clear_error(tokenizer):
    with pytest.raises(ValueError, match="lacks 4 of the 4 control tokens.*extend_tokenizer"):
        cue_token_ids(tokenizer, 4)


@pytest.mark.parametrize("side", ["right", "left"])
def test_prepend_cues_padding_sides(tokenizer, side):
    extend_tokenizer(tokenizer, 6)
    tokenizer.padding_side = side
    enc = tokenizer(TEXTS, padding=True, return_tensors="pt")
    labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, IGNORE_INDEX)
    batch = {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"], "labels": labels}
    cues = np.array([[1, 2], [0, 5], [3, 3], [4, 0]])
    out = prepend_cues(batch, cues, tokenizer)
    vocab = cue_token_ids(tokenizer, 6)
    for r in range(len(TEXTS)):
        real = out["attention_mask"][r].bool()
        toks = out["input_ids"][r][real]
        assert toks[:2].tolist() == vocab[cues[r]].tolist(), "cues open the real tokens of every row"
        assert toks[2:].tolist() == enc["input_ids"][r][enc["attention_mask"][r].bool()].tolist()
        assert (out["labels"][r][real][:2] == IGNORE_INDEX).all()
        assert (out["labels"][r][real][2:] == toks[2:]).all()
        assert (out["labels"][r][~real] == IGNORE_INDEX).all()
        assert (out["input_ids"][r][~real] == tokenizer.pad_token_id).all()
        mask = out["attention_mask"][r].tolist()
        # the mask stays contiguous: pads only on the padding side
        first, last = mask.index(1), len(mask) - 1 - mask[::-1].index(1)
        assert all(mask[first : last + 1])
        if side == "left":
            assert last == len(mask) - 1
        else:
            assert first == 0


def test_prepend_cues_errors(tokenizer):
    extend_tokenizer(tokenizer, 3)
    enc = tokenizer(TEXTS[:2], padding=True, return_tensors="pt")
    with pytest.raises(ValueError, match=r"in \[0, K=3\)"):
        prepend_cues(dict(enc), [[3], [0]], tokenizer)
    with pytest.raises(ValueError, match="shape"):
        prepend_cues(dict(enc), [[0], [1], [2]], tokenizer)


def test_collator(tokenizer):
    extend_tokenizer(tokenizer, 4)
    col = ECRCollator(tokenizer, max_length=16, m=1)
    batch = col([{"text": t, "cues": [i % 4, 0]} for i, t in enumerate(TEXTS)])
    vocab = cue_token_ids(tokenizer, 4)
    assert batch["input_ids"][:, 0].tolist() == vocab[[0, 1, 2, 3]].tolist()
    assert (batch["labels"][:, 0] == IGNORE_INDEX).all()
    base = ECRCollator(tokenizer, max_length=16, m=0)([{"text": t} for t in TEXTS])
    assert batch["input_ids"].shape[1] == base["input_ids"].shape[1] + 1
    fn = ECRCollator(tokenizer, cue_fn=lambda texts: np.full((len(texts), 2), 3))([{"text": t} for t in TEXTS])
    assert (fn["input_ids"][:, :2] == vocab[3]).all()


@pytest.mark.parametrize("init", ["default", "anchors"])
def test_extend_model(tokenizer, init):
    from transformers import LlamaConfig, LlamaForCausalLM

    from ecr_lab.anchors import derive_anchors

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2))
    r = np.random.default_rng(0)
    anchors = derive_anchors(r.standard_normal((40, 12)), 4)
    extend_tokenizer(tokenizer, anchors)
    extend_model(model, tokenizer, init=init, anchors=anchors)
    emb = model.get_input_embeddings().weight
    assert emb.shape[0] == len(tokenizer)
    ids = cue_token_ids(tokenizer, 4)
    cue_rows = emb[ids].detach()
    if init == "anchors":
        assert not torch.allclose(cue_rows[0], cue_rows[1])
        old = emb[: ids.min()].norm(dim=1).mean()
        assert torch.allclose(cue_rows.norm(dim=1), old.expand(4), rtol=1e-4)
    batch = ECRCollator(tokenizer, m=2)([{"text": t, "cues": [1, 2]} for t in TEXTS])
    out = model(**batch)
    assert torch.isfinite(out.loss)
    with pytest.raises(ValueError, match="init must be"):
        extend_model(model, tokenizer, init="zeros")
