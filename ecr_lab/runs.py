"""A finished (or stopped) training run: the ECR model, its config and its logs, saved as one folder.

``<out_dir>/final/`` holds what :meth:`ecr_lab.ecr_model.ECRModel.save_pretrained` writes (so
``ECRModel.from_pretrained(out_dir / "final")`` loads the model alone) plus ``history.csv``
(per step), ``evals.csv`` (per evaluation) and ``run.json`` (format version, name, status,
config, meta).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ._io import atomic_dir, atomic_write_json, check_format, read_json
from .ecr_model import ECRModel
from .training_config import TrainConfig

FORMAT = "ecr_lab.run"
FORMAT_VERSION = 4  # 3: tokenised-once loop (per-row random cues, token-weighted loss); 4: records anchors_sha256


@dataclass
class Run:
    """A trained student (:class:`ECRModel`) and what is needed to evaluate or resume it."""

    config: TrainConfig
    student: ECRModel
    history: pd.DataFrame
    evals: pd.DataFrame
    out_dir: Path | None
    status: str = "finished"
    name: str = "run"
    meta: dict = field(default_factory=dict)

    # the pieces, for code that needs one of them
    @property
    def model(self):
        return self.student.model

    @property
    def tokenizer(self):
        return self.student.tokenizer

    @property
    def anchors(self):
        return self.student.anchors

    @property
    def projector(self):
        return self.student.projector

    @property
    def condition(self) -> str:
        return self.config.condition

    @property
    def seed(self) -> int:
        return self.config.seed

    def __repr__(self) -> str:
        return (f"Run({self.name!r}, condition={self.condition}, seed={self.seed}, steps={len(self.history)}, "
                f"status={self.status}, out_dir={str(self.out_dir) if self.out_dir else None})")


def save_run(run: Run, out_dir: str | os.PathLike) -> Path:
    """Write ``out_dir/final`` atomically: the ECR model, logs and ``run.json``."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir / "final") as tmp:
        run.student.write_into(tmp)
        run.history.to_csv(tmp / "history.csv", index=False)
        run.evals.to_csv(tmp / "evals.csv", index=False)
        atomic_write_json(tmp / "run.json", {
            "format": FORMAT, "format_version": FORMAT_VERSION, "name": run.name, "status": run.status,
            "config": run.config.to_dict(), "meta": run.meta,
        })
    return out_dir / "final"


def load_run(out_dir: str | os.PathLike, device: str = "cpu") -> Run:
    """Load a run saved by :func:`ecr_lab.training.train` (its ``final`` folder, or the folder itself)."""
    out_dir = Path(out_dir)
    final = out_dir / "final" if (out_dir / "final").is_dir() else out_dir
    meta = read_json(final / "run.json", "run")
    check_format(meta, expected=FORMAT, version=FORMAT_VERSION, path=final)
    if meta["format_version"] != FORMAT_VERSION:
        raise ValueError(f"{final} was saved by an older ecr_lab (run format {meta['format_version']}); "
                         "delete it and train again")
    return Run(config=TrainConfig(**meta["config"]), student=ECRModel.from_pretrained(final, device=device),
               history=pd.read_csv(final / "history.csv"), evals=_read_csv(final / "evals.csv"),
               out_dir=out_dir, status=meta["status"], name=meta["name"], meta=meta.get("meta", {}))


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
