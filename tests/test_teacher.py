"""Teachers: the offline default, any transformers encoder (tiny local model), the embedding cache."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ecr_lab.teacher import (
    CachedTeacher,
    HFTeacher,
    TeacherEncoder,
    USETeacher,
    get_teacher,
    teacher_summary,
)


class CountingTeacher:
    name = "counting"
    dim = 4

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def encode(self, texts):
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise KeyboardInterrupt("interrupted")
        x = np.array([[len(t), t.count("a") + 1, 1.0, hash(t) % 7 + 1] for t in texts], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_use_teacher_embeds_translations_close():
    t = USETeacher(progress=False)
    assert isinstance(t, TeacherEncoder)
    e = t.encode(["The weather is lovely today.", "Das Wetter ist heute herrlich.", "I need to repay my bank loan."])
    assert e.shape == (3, 512) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > 0.6 > e[0] @ e[2]
    with pytest.raises(TypeError, match="not a single string"):
        t.encode("one string")


def test_cache_hits_and_subset(tmp_path):
    base = CountingTeacher()
    t = CachedTeacher(base, tmp_path)
    texts = ["alpha beta", "gamma", "delta a a", "gamma"]
    a = t.encode(texts)
    assert t.misses == 3 and base.calls == 1
    b = t.encode(texts)
    assert base.calls == 1 and t.hits == 4 and np.array_equal(a, b)
    # a fresh wrapper over the same folder reads from disk; a subset is a hit too
    t2 = CachedTeacher(base, tmp_path)
    c = t2.encode(["delta a a", "alpha beta"])
    assert base.calls == 1 and t2.hits == 2
    assert np.array_equal(c, a[[2, 0]])


def test_interrupted_encode_leaves_no_partial_files(tmp_path):
    base = CountingTeacher(fail_after=1)
    t = CachedTeacher(base, tmp_path, chunk_size=2)
    with pytest.raises(KeyboardInterrupt):
        t.encode([f"text {i}" for i in range(6)])
    files = list(t.dir.iterdir())
    assert len([f for f in files if f.suffix == ".npz"]) == 1  # the finished chunk only
    assert not [f for f in files if f.name.endswith(".tmp")]
    base.fail_after = None
    t.encode([f"text {i}" for i in range(6)])
    assert t.hits == 2 and t.misses == 2 + 4


def test_corrupt_bank_is_ignored(tmp_path):
    base = CountingTeacher()
    t = CachedTeacher(base, tmp_path)
    t.encode(["one two"])
    for f in t.dir.glob("bank-*.npz"):
        f.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="unreadable"):
        t.encode(["one two"])
    assert base.calls == 2


class FixedTeacher:
    """A tiny deterministic teacher: each text maps to a fixed unit row (no model, instant)."""

    name = "fixed"
    dim = 3

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        x = np.array([[len(t) + 1.0, t.count("e") + 1.0, 2.0] for t in texts], dtype=np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)


def _one_bank(t: CachedTeacher):
    banks = sorted(t.dir.glob("bank-*.npz"))
    assert len(banks) == 1, banks
    return banks[0]


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "flipped byte", "missing key"])
def test_damaged_bank_warns_naming_the_file_and_result_is_still_correct(tmp_path, damage):
    texts = ["hello there", "seven", "hello there"]
    expected = FixedTeacher().encode(texts)
    t = CachedTeacher(FixedTeacher(), tmp_path)
    t.encode(texts)
    bank = _one_bank(t)
    data = bank.read_bytes()
    if damage == "garbage":
        bank.write_bytes(b"not an npz at all")
    elif damage == "truncated":
        bank.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        bank.write_bytes(b"")
    elif damage == "flipped byte":
        bank.write_bytes(data[:200] + bytes([data[200] ^ 0xFF]) + data[201:])
    else:
        np.savez(bank, hashes=np.array(["x"]), emb=np.ones((1, 3), np.float32))
    fresh = CachedTeacher(FixedTeacher(), tmp_path)
    with pytest.warns(UserWarning, match=re.escape(bank.name)) as seen:
        out = fresh.encode(texts)
    assert "delete" in str(seen[0].message) and "recomputed" in str(seen[0].message)
    assert seen[0].filename == __file__  # points at the caller of encode(), not at ecr_lab
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert fresh.teacher.calls == 1 and fresh.misses == 2


def test_unreadable_bank_permission_error_warns(tmp_path, monkeypatch):
    t = CachedTeacher(FixedTeacher(), tmp_path)
    t.encode(["a text"])
    bank = _one_bank(t)

    def denied(path, *a, **k):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(np, "load", denied)
    with pytest.warns(UserWarning, match=re.escape(bank.name)):
        out = CachedTeacher(FixedTeacher(), tmp_path).encode(["a text"])
    np.testing.assert_allclose(out, FixedTeacher().encode(["a text"]), atol=1e-6)


@pytest.mark.parametrize("field, value, why", [("format_version", 99, "newer"), ("dim", 7, "dim")])
def test_foreign_bank_warns_naming_the_file(tmp_path, field, value, why):
    t = CachedTeacher(FixedTeacher(), tmp_path)
    t.encode(["a text"])
    bank = _one_bank(t)
    with np.load(bank) as z:
        fields = {k: z[k] for k in z.files}
    fields[field] = np.int64(value)
    np.savez(bank, **fields)
    fresh = CachedTeacher(FixedTeacher(), tmp_path)
    with pytest.warns(UserWarning, match=re.escape(bank.name)) as seen:
        out = fresh.encode(["a text"])
    assert why in str(seen[0].message)
    np.testing.assert_allclose(out, FixedTeacher().encode(["a text"]), atol=1e-6)
    assert fresh.misses == 1  # never trusted


def test_unexpected_error_while_reading_a_bank_propagates(tmp_path, monkeypatch):
    t = CachedTeacher(FixedTeacher(), tmp_path)
    t.encode(["a text"])

    def bug(*a, **k):
        raise RuntimeError("a bug, not a damaged file")

    monkeypatch.setattr(np, "load", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        CachedTeacher(FixedTeacher(), tmp_path).encode(["a text"])


def _tiny_hf_encoder(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat", "dog"])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", cls_token="[CLS]", sep_token="[SEP]")
    fast.save_pretrained(folder)
    cfg = BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    import torch

    torch.manual_seed(0)
    BertModel(cfg).save_pretrained(folder)


def test_hf_teacher_mean_pooling_on_local_model(tmp_path):
    _tiny_hf_encoder(tmp_path / "enc")
    t = HFTeacher(str(tmp_path / "enc"), device="cpu", batch_size=2, progress=False)
    assert t.dim == 16 and isinstance(t, TeacherEncoder)
    e = t.encode(["the cat sat on the mat", "the dog", "cat"])
    assert e.shape == (3, 16) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    # padding must not change a row's embedding: encode alone vs in a padded batch
    alone = t.encode(["the dog"])
    assert np.allclose(alone[0], e[1], atol=1e-5)
    cached = get_teacher(str(tmp_path / "enc"), cache_dir=tmp_path / "c", device="cpu", progress=False)
    assert np.allclose(cached.encode(["the dog"]), alone, atol=1e-6)


def test_teacher_summary(corpus, teacher):
    small = corpus.subset(units_per_topic=3)
    s = teacher_summary(teacher, small)
    assert s["dim"] == 512 and s["rows"] == len(small)
    assert s["mean_cos_translations"] > s["mean_cos_random_pairs"] + 0.3
