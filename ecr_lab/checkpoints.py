"""Checkpoints: written atomically, loaded strictly, holding tensors and plain numbers only.

A checkpoint folder ``checkpoint-<step>`` holds ``model/model.safetensors`` (every weight, tied ones
once; ``safetensors.torch.save_model``), ``trainer_state.pt`` (optimizer, scheduler, RNG states,
extra modules, embeddings for drift; loadable with ``torch.load(weights_only=True)``), the fitted
projector when there is one, and ``state.json`` (format version, step, config, logs).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .projection import AnchorProjector

FORMAT = "ecr_lab.checkpoint"
FORMAT_VERSION = 4  # 3: tokenised-once loop (per-row random cues, token-weighted loss); 4: records anchors_sha256


def checkpoint_dirs(out_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders of a run, oldest first."""
    root = Path(out_dir) / "checkpoints"
    return sorted(root.glob("checkpoint-*")) if root.is_dir() else []


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    dirs = checkpoint_dirs(out_dir)
    return dirs[-1] if dirs else None


def rng_state() -> dict:
    """torch, numpy (and CUDA) global RNG states as tensors and numbers."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "numpy_keys": torch.from_numpy(keys.astype(np.int64)),
             "numpy_pos": int(pos), "numpy_has_gauss": int(has_gauss), "numpy_gauss": float(gauss)}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    keys = state["numpy_keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, model, trainer_state: dict, meta: dict, projector: AnchorProjector | None) -> Path:
    """Write one checkpoint folder atomically. ``trainer_state`` holds tensors, numbers, dicts, lists."""
    from safetensors.torch import save_model

    with atomic_dir(path) as tmp:
        (tmp / "model").mkdir()
        save_model(model, str(tmp / "model" / "model.safetensors"))
        torch.save(trainer_state, tmp / "trainer_state.pt")
        if projector is not None and projector.fitted:
            projector.save(tmp / "projector")
        atomic_write_json(tmp / "state.json", {"format": FORMAT, "format_version": FORMAT_VERSION, **meta})
    return path


def prune(out_dir: str | os.PathLike, keep: int) -> None:
    """Delete all but the newest ``keep`` (>= 1) checkpoints."""
    if keep < 1:
        raise ValueError(f"keep must be >= 1 (the newest checkpoint is what a resume needs), got {keep}")
    for old in checkpoint_dirs(out_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def read_meta(path: str | os.PathLike) -> dict:
    """``state.json`` of a checkpoint (format, step, config, logs); an older or foreign one is a clear error."""
    path = Path(path)
    meta = read_json(path / "state.json", "checkpoint")
    check_format(meta, expected=FORMAT, version=FORMAT_VERSION, path=path)
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path} was written by an older ecr_lab (checkpoint format {meta.get('format_version')}); "
                         "delete the run folder and train again")
    return meta


def load_checkpoint(path: str | os.PathLike, model) -> tuple[dict, dict, AnchorProjector | None]:
    """Load the weights into ``model`` strictly; returns (meta, trainer_state, projector or None).

    A checkpoint whose weights do not match the model (missing or unexpected keys, other shapes)
    is a clear error naming the keys, never a partial load.
    """
    from safetensors.torch import load_model

    path = Path(path)
    meta = read_meta(path)
    try:
        load_model(model, str(path / "model" / "model.safetensors"), strict=True)
    except (RuntimeError, OSError) as e:
        raise ValueError(f"checkpoint {path} does not fit this model: {e}; use another out_dir or the same model") from e
    state = torch.load(path / "trainer_state.pt", weights_only=True)
    projector = AnchorProjector.load(path / "projector") if (path / "projector").is_dir() else None
    return meta, state, projector
