"""Which weights train, and which get weight decay.

- ``trainable="all"``: full fine-tuning.
- ``trainable="cues+top"``: only the K cue-token rows of the embedding matrix and the top
  ``top_layers`` decoder layers (with the final norm); every other weight keeps its value, so a
  pretrained student keeps what it knows. The cue rows train through a gradient mask on the
  embedding matrix (a hook that zeroes every other row), so tied input/output embeddings work
  unchanged. A condition that never puts a cue token into the input (baseline, KD) gets no
  gradient through the input lookup at all (the mask zeroes every row it reads), so
  :func:`stop_input_gradient` ends the backward pass at the top layers: the same update, without a
  backward pass through the frozen layers below.

Weight decay follows nanoGPT: matrices (``p.dim() >= 2``) decay, norm gains and biases do not; the
masked embedding matrix never decays (decay would move the frozen rows).
"""

from __future__ import annotations

import torch

from .training_config import TRAINABLE


def decoder_layers(model) -> torch.nn.ModuleList:
    """The stack of transformer blocks of a causal LM (Llama/Mistral/Qwen ``model.layers``, GPT-2
    ``transformer.h``, GPT-NeoX ``layers``)."""
    base = getattr(model, "base_model", model)
    for name in ("layers", "h"):
        layers = getattr(base, name, None)
        if isinstance(layers, torch.nn.ModuleList):
            return layers
    raise ValueError(f"cannot find the decoder layers of {type(model).__name__}; use trainable='all'")


def final_norm(model) -> torch.nn.Module | None:
    """The norm after the last decoder layer (``norm``, ``ln_f`` or ``final_layer_norm``), or None."""
    base = getattr(model, "base_model", model)
    return next((m for name in ("norm", "ln_f", "final_layer_norm") if (m := getattr(base, name, None)) is not None), None)


def select_trainable(model, cue_ids: torch.Tensor, trainable: str = "all", top_layers: int = 2):
    """Freeze what ``trainable`` does not train. Returns (trainable params, masked params, hook).

    ``masked`` holds the embedding matrix under ``"cues+top"`` (its gradient hook keeps only the
    rows ``cue_ids`` (K,)); remove ``hook`` when training ends (``Trainer.fit`` does).
    """
    if trainable == "all":
        params = list(model.parameters())
        for p in params:
            p.requires_grad_(True)
        return params, [], None
    if trainable != "cues+top":
        raise ValueError(f"unknown trainable {trainable!r}; choose one of {TRAINABLE}")
    layers = decoder_layers(model)
    if top_layers > len(layers):
        raise ValueError(f"top_layers={top_layers} but the model has only {len(layers)} layers")
    for p in model.parameters():
        p.requires_grad_(False)
    emb = model.get_input_embeddings().weight
    emb.requires_grad_(True)
    mask = torch.zeros(emb.shape[0], 1, dtype=emb.dtype, device=emb.device)
    mask[cue_ids.to(emb.device)] = 1.0
    # the model may move to another device after this (accelerate.prepare): the mask follows the gradient
    hook = emb.register_hook(lambda grad: grad * mask.to(grad.device, grad.dtype))
    top = [layers[i] for i in range(len(layers) - top_layers, len(layers))]
    norm = final_norm(model) if top_layers else None
    params = []
    for module in top + ([norm] if norm is not None else []):
        for p in module.parameters():
            p.requires_grad_(True)
            params.append(p)
    return params, [emb], hook


def stop_input_gradient(model) -> torch.utils.hooks.RemovableHandle:
    """Detach the output of the model's input embedding lookup (B, L, h); remove the returned hook
    to undo it. With ``"cues+top"`` and no cue token in any input, that gradient is zero after the
    mask anyway, and autograd then skips the frozen layers below the top ones (the output
    embedding, when tied, still gets its gradient through the logits)."""
    return model.get_input_embeddings().register_forward_hook(lambda module, args, output: output.detach())


def param_groups(params: list[torch.nn.Parameter], masked: list[torch.nn.Parameter],
                 weight_decay: float) -> list[dict]:
    """AdamW groups: matrices with ``weight_decay``; vectors (norms, biases) and ``masked`` without."""
    seen: set[int] = set()
    decay, no_decay = [], []
    for p in params:
        if id(p) in seen:
            continue
        seen.add(id(p))
        (decay if p.dim() >= 2 else no_decay).append(p)
    no_decay += [p for p in masked if id(p) not in seen]
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups
