"""What one training run needs to know: :class:`TrainConfig`, checked against one table.

Conditions (docs/design.md, "conditions"):

=============== ==================================================================================
``baseline``    plain LM loss, no cues
``ecr``         ``[m cue tokens] + text``; LM loss on the text tokens only; no other loss term
``random_cues`` as ``ecr`` but the m cues are random anchors: does meaning help, or extra tokens?
``kd``          LM loss + embedding regression to the teacher through a linear head (conventional
                distillation, :mod:`ecr_lab.distillation`; the head is dropped after training)
``ecr+kd``      both
=============== ==================================================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .constraints import Check, Interval, Options, validate

CONDITIONS = ("baseline", "ecr", "random_cues", "kd", "ecr+kd")
CUE_SOURCES = ("teacher", "student", "schedule", "soft")
TRAINABLE = ("all", "cues+top")
PROJECTIONS = ("ridge", "procrustes", "classifier", "kd_head")
CUE_FEATURES = ("tokens", "hidden")
MIXED_PRECISION = ("no", "bf16", "fp16")


#: every training variant, shared by the pipeline (:func:`ecr_lab.experiment.run_plan`), the study
#: and the pretrained study: name -> (condition, TrainConfig overrides)
#: the conditions whose inputs carry cue tokens (the others train and run cue-free)
CUE_CONDITIONS = ("ecr", "random_cues", "ecr+kd")

VARIANTS: dict[str, tuple[str, dict]] = {
    "baseline": ("baseline", {}),
    "ecr": ("ecr", {}),
    "ecr_schedule": ("ecr", {"cue_source": "schedule"}),
    "ecr_soft": ("ecr", {"cue_source": "soft"}),
    "random_cues": ("random_cues", {}),
    "kd": ("kd", {}),
    "ecr+kd": ("ecr+kd", {}),
}


def _fractions(v) -> bool:
    return (isinstance(v, tuple) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v)
            and 0 <= v[0] <= v[1] <= 1)


@dataclass
class TrainConfig:
    """Everything one training run needs to know. Defaults are the library's recommended setting."""

    condition: str = "ecr"  # one of CONDITIONS
    steps: int = 200  # optimizer steps
    batch_size: int = 32  # rows per micro-batch and process (a step reads batch_size x processes x accumulation)
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step (a larger batch in the same memory)
    mixed_precision: str = "no"  # no | bf16 (CPU with AVX-512 BF16/AMX, Ampere+ GPUs) | fp16 (CUDA, e.g. a T4)
    learning_rate: float = 3e-3  # peak of the cosine schedule
    weight_decay: float = 0.01  # AdamW, on matrices only (p.dim() >= 2)
    warmup_steps: int = 20  # linear warm-up (capped at steps // 2)
    clip_grad_norm: float | None = None  # None: no clipping (default, claim C3); a float clips the global norm
    m_cues: int = 2  # cue tokens per example
    cue_source: str = "teacher"  # cues in training: teacher | student | schedule | soft (ecr_lab.cue_sources)
    schedule: tuple[float, float] = (0.3, 0.8)  # "schedule": student share ramps 0 -> 1 between these fractions
    soft_temperature: float = 0.1  # "soft": temperature of the router's cosines
    gumbel_tau: float = 1.0  # "soft": temperature of the Gumbel-softmax mix
    kd_weight: float = 1.0  # weight of the KD term (kd, ecr+kd)
    max_length: int = 64  # tokens per text (cues come on top)
    eval_every: int = 50  # steps between evaluations of the probe set
    checkpoint_every: int | None = None  # steps between checkpoints; None: eval_every
    keep_checkpoints: int = 2  # newest checkpoints kept (>= 1)
    layer: int = -1  # hidden_states index whose mean over text tokens is the student embedding
    projection: str | None = None  # projection step after training; None: "classifier" ("ridge" for soft cues); "kd_head": the KD head
    cue_feature: str = "tokens"  # student feature the projection reads: tokens (mean token embedding) | hidden
    # training rows the projection step is fitted on: None = all, else a subset seeded by `seed`
    # (hidden-state features cost one forward pass per row: a pretrained student on CPU needs a cap)
    projector_rows: int | None = None
    trainable: str = "all"  # which weights train: all | cues+top (cue-token rows + top layers)
    top_layers: int = 2  # with trainable="cues+top": how many of the last decoder layers train
    seed: int = 0  # batches, the KD head's initial weights, random cues, Gumbel noise
    device: str = "auto"  # auto | cpu | cuda | mps
    progress: bool = True  # a tqdm bar per run

    #: one table for every field (scikit-learn's ``_parameter_constraints``)
    _parameter_constraints = {
        "condition": [Options(CONDITIONS)],
        "steps": [Interval(int, 1, None)],
        "batch_size": [Interval(int, 1, None)],
        "gradient_accumulation_steps": [Interval(int, 1, None)],
        "mixed_precision": [Options(MIXED_PRECISION)],
        "learning_rate": [Interval(float, 0, None, closed="neither")],
        "weight_decay": [Interval(float, 0, None)],
        "warmup_steps": [Interval(int, 0, None)],
        "clip_grad_norm": [Interval(float, 0, None, closed="neither"), None],
        "m_cues": [Interval(int, 1, None)],
        "cue_source": [Options(CUE_SOURCES)],
        "schedule": [Check(_fractions, "(a, b) with 0 <= a <= b <= 1")],
        "soft_temperature": [Interval(float, 0, None, closed="neither")],
        "gumbel_tau": [Interval(float, 0, None, closed="neither")],
        "kd_weight": [Interval(float, 0, None)],
        "max_length": [Interval(int, 1, None)],
        "eval_every": [Interval(int, 1, None)],
        "checkpoint_every": [Interval(int, 1, None), None],
        "keep_checkpoints": [Interval(int, 1, None)],
        "layer": [Interval(int, None, None)],
        "projection": [Options(PROJECTIONS)],
        "cue_feature": [Options(CUE_FEATURES)],
        "projector_rows": [Interval(int, 2, None), None],
        "trainable": [Options(TRAINABLE)],
        "top_layers": [Interval(int, 0, None)],
        "seed": [Interval(int, 0, None)],
        "device": [Options(("auto", "cpu", "cuda", "mps"))],
        "progress": [Options((True, False))],
    }

    def __post_init__(self):
        self.schedule = tuple(self.schedule)
        if self.projection is None:  # soft cues train their own projection: a linear map, ridge-initialised
            self.projection = "ridge" if self.cue_source == "soft" else "classifier"
        validate(self, self._parameter_constraints)
        if self.cue_source == "soft" and self.cue_feature != "tokens":
            raise ValueError("soft cues need cue_feature='tokens' (the mix must be differentiable through one lookup)")
        if self.projection == "kd_head" and not (self.uses_kd and self.cue_feature == "hidden" and self.layer == -1):
            raise ValueError("projection='kd_head' reads the distillation head, which maps the pooled last hidden "
                             "state: it needs a condition with KD (kd, ecr+kd), cue_feature='hidden' and layer=-1")
        if self.cue_source == "soft" and self.projection != "ridge":
            raise ValueError(f"soft cues train their own projection step (a linear map into the teacher space, "
                             f"ridge-initialised), so projection must be 'ridge', not {self.projection!r}")

    @property
    def uses_cues(self) -> bool:
        return self.condition in CUE_CONDITIONS

    @property
    def uses_kd(self) -> bool:
        return self.condition in ("kd", "ecr+kd")

    def to_dict(self) -> dict:
        return asdict(self)

    def differences(self, other: dict) -> list[str]:
        """Fields (progress and device aside) whose value differs from ``other`` (a saved config dict)."""
        theirs = TrainConfig(**other).to_dict()
        return [k for k, v in self.to_dict().items() if k not in ("progress", "device") and theirs.get(k) != v]

    def mismatch(self, saved_config: dict, saved_texts_sha256: str | None, texts_sha256: str) -> str | None:
        """Why a run saved with ``saved_config`` on texts hashed ``saved_texts_sha256`` is not this run
        on texts hashed ``texts_sha256`` (None: it is). The one rule for resuming and for reusing."""
        diff = self.differences(saved_config)
        if diff:
            saved = ", ".join(f"{k}={saved_config.get(k)!r}" for k in diff)
            return f"it was trained with another {', '.join(diff)} ({saved})"
        if saved_texts_sha256 != texts_sha256:
            return "it was trained on other texts (another corpus, profile or split)"
        return None
