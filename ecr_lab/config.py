"""Profiles, seeding, device choice and the one-line notebook set-up.

A *profile* is configuration, not a separate code path (docs/design.md): the same
functions run with smaller or larger numbers.

- ``fast``: CI and a quick look; every notebook in minutes on 2 CPU cores.
- ``full``: a workshop laptop; the whole story in about half an hour on CPU.
- ``gpu``:  bigger students, more steps, the whole corpus for the pretrained student.

The profile comes from ``ECR_LAB_PROFILE`` when set; otherwise it is auto-detected: ``gpu`` when
CUDA is available, ``fast`` under CI (``CI`` set), ``full`` elsewhere.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from .constraints import Check, Interval, Options, validate
from .training_config import VARIANTS

PROFILE_NAMES = ("fast", "full", "gpu")


@dataclass(frozen=True)
class Profile:
    """Every size knob of the pipeline in one place. Pass ``profile.replace(...)`` to change one."""

    name: str
    #: meaning units kept per topic (None = all); every kept unit keeps all its languages
    units_per_topic: int | None
    #: languages kept (None = all); fewer languages make a quicker run (tests, a short workshop slot)
    languages: tuple[str, ...] | None = None
    #: number of semantic anchors K and cue tokens per example m
    k_anchors: int = 24
    m_cues: int = 2
    #: K values swept in notebook 02
    k_sweep: tuple[int, ...] = (8, 12, 24, 48)
    #: restarts of spherical k-means
    kmeans_restarts: int = 4
    #: the two student sizes of the pipeline (names from ecr_lab.student): every condition runs on
    #: the first, baseline and ECR on the second (about 3x larger, for claim C5)
    student_presets: tuple[str, str] = ("nano", "micro")
    #: students of shrinking size shown in notebook 01 (largest first), trained as baselines
    collapse_presets: tuple[str, ...] = ("micro", "nano")
    #: the ECR condition the claims table tests (the study's winner: ECR on top of distillation);
    #: the large student runs baseline and this condition
    claim_condition: str = "ecr+kd"
    #: conditions run on the small student
    conditions: tuple[str, ...] = ("baseline", "ecr", "random_cues", "kd", "ecr+kd")
    train_steps: int = 200
    batch_size: int = 32
    learning_rate: float = 3e-3
    #: mixed precision of training: "no", "bf16", "fp16", or "auto" (on a CUDA GPU: bf16 where it
    #: has bf16 tensor cores, else fp16, as on a T4; elsewhere "no")
    mixed_precision: str = "no"
    eval_every: int = 50
    seeds: int = 1
    #: rows embedded with the pretrained SmolLM2 student (slow on CPU)
    pretrained_rows: int = 96
    #: 2-D maps: "pca" (instant) or "umap"
    map_method: str = "pca"
    #: points drawn per chart by default
    max_points: int = 1500
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        validate(self, PROFILE_CONSTRAINTS)
        if self.m_cues > self.k_anchors:
            raise ValueError(f"Profile.m_cues={self.m_cues} must be <= k_anchors={self.k_anchors}")

    def replace(self, **changes) -> Profile:
        """A copy with some fields changed (dataclasses.replace)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)


def _names(v, n: int | None = None) -> bool:
    return isinstance(v, tuple) and all(isinstance(x, str) and x for x in v) and (n is None or len(v) == n) and len(v) > 0


#: one table for every field of :class:`Profile` (scikit-learn's ``_parameter_constraints``)
PROFILE_CONSTRAINTS = {
    "name": [Check(lambda v: isinstance(v, str) and bool(v), "a non-empty name")],
    "units_per_topic": [Interval(int, 1, None), None],
    "languages": [Check(lambda v: _names(v) and len(v) >= 2, "a tuple of at least 2 languages"), None],
    "k_anchors": [Interval(int, 2, None)],
    "m_cues": [Interval(int, 1, None)],
    "k_sweep": [Check(lambda v: isinstance(v, tuple) and len(v) > 0 and all(isinstance(k, int) and k >= 2 for k in v),
                      "a tuple of K values >= 2")],
    "kmeans_restarts": [Interval(int, 1, None)],
    "student_presets": [Check(lambda v: _names(v, 2), "(small, large) preset names")],
    "collapse_presets": [Check(_names, "a tuple of preset names")],
    "claim_condition": [Options(tuple(VARIANTS))],
    "conditions": [Check(lambda v: isinstance(v, tuple) and len(v) > 0 and set(v) <= set(VARIANTS),
                         f"a tuple of variants from {tuple(VARIANTS)}")],
    "train_steps": [Interval(int, 1, None)],
    "batch_size": [Interval(int, 1, None)],
    "learning_rate": [Interval(float, 0, None, closed="neither")],
    "mixed_precision": [Options(("no", "bf16", "fp16", "auto"))],
    "eval_every": [Interval(int, 1, None)],
    "seeds": [Interval(int, 1, None)],
    "pretrained_rows": [Interval(int, 1, None)],
    "map_method": [Options(("pca", "umap"))],
    "max_points": [Interval(int, 2, None)],
    "extra": [Check(lambda v: isinstance(v, dict), "a dict")],
}

PROFILES: dict[str, Profile] = {
    "fast": Profile(
        name="fast", units_per_topic=24, k_anchors=24, kmeans_restarts=2, student_presets=("nano", "micro"),
        train_steps=120, batch_size=32, eval_every=40, seeds=1, pretrained_rows=384, map_method="pca",
        max_points=1000,
    ),
    "full": Profile(
        name="full", units_per_topic=None, k_anchors=24, kmeans_restarts=4, student_presets=("micro", "small"), collapse_presets=("small", "micro", "nano"),
        train_steps=600, batch_size=32, eval_every=100, seeds=3, pretrained_rows=384, map_method="umap",
        max_points=2500,
    ),
    "gpu": Profile(
        name="gpu", units_per_topic=None, k_anchors=32, kmeans_restarts=8, student_presets=("small", "base"), collapse_presets=("base", "small", "micro", "nano"),
        # 3500 steps: notebook 03 (8 runs) in ~9 min on a Colab T4 with fp16 (14.4 min if nothing
        # overlaps); the estimate and its basis: docs/gpu_sizing.md (ecr_lab.sizing)
        train_steps=3500, batch_size=64, eval_every=500, seeds=3, pretrained_rows=100_000, map_method="umap",
        mixed_precision="auto",
        max_points=4000,
    ),
}


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def in_ci() -> bool:
    """True under a CI runner (the ``CI`` environment variable is set to a true value)."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def cuda_available() -> bool:
    """True when torch sees a CUDA GPU; False when there is none or torch is not installed.

    A broken CUDA install (an error from ``torch.cuda.is_available``) is raised, not hidden.
    """
    try:
        import torch
    except ImportError:  # torch missing: CPU
        return False
    return bool(torch.cuda.is_available())


def get_profile(name: str | Profile | None = None) -> Profile:
    """The active profile: ``name``, else ``$ECR_LAB_PROFILE``, else auto-detected.

    A :class:`Profile` passes through unchanged. Raises ValueError for an unknown name, listing the
    valid ones.
    """
    if isinstance(name, Profile):
        return name
    name = name or os.environ.get("ECR_LAB_PROFILE") or None
    if name is None:
        # Colab and CI: the fast profile, GPU or not (the gpu profile only when chosen); elsewhere
        # the gpu profile on a CUDA GPU, else full
        name = "fast" if in_ci() or in_colab() else ("gpu" if cuda_available() else "full")
    name = name.strip().lower()
    if name not in PROFILES:
        raise ValueError(
            f"unknown profile {name!r}; choose one of {', '.join(PROFILE_NAMES)} "
            "(argument or ECR_LAB_PROFILE)"
        )
    return PROFILES[name]


def seed_everything(seed: int, deterministic: bool = False) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA). Returns the seed. ``os.environ`` is untouched.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPU).
    """
    if not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    # PYTHONHASHSEED is not set: it only takes effect when an interpreter starts, so setting it here
    # would change nothing in this process and leak into every subprocess.
    try:
        import torch

        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
        if deterministic:
            torch.use_deterministic_algorithms(True, warn_only=True)
    except ImportError:
        pass
    return seed


def get_device(preference: str = "auto") -> str:
    """Device string for torch: ``"auto"`` picks cuda > mps > cpu; or force ``"cpu"``/``"cuda"``/``"mps"``."""
    pref = preference.lower()
    if pref not in ("auto", "cpu", "cuda", "mps"):
        raise ValueError(f"device must be auto, cpu, cuda or mps, got {preference!r}")
    import torch

    if pref == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if pref == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device='cuda' requested but no CUDA GPU is visible; use device='auto'")
    if pref == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError("device='mps' requested but MPS is not available; use device='auto'")
    return pref


def resolve_mixed_precision(name: str) -> str:
    """A profile's ``mixed_precision`` as a run's: "auto" -> "bf16" on a CUDA GPU with bf16 tensor
    cores (Ampere and later), "fp16" on an older one (a T4), "no" without a GPU; others unchanged."""
    if name != "auto":
        return name
    if not cuda_available():
        return "no"
    return "bf16" if cuda_has_bf16_tensor_cores() else "fp16"


def cuda_has_bf16_tensor_cores() -> bool:
    """True on a CUDA GPU of compute capability 8.0 or later (Ampere, Ada, Hopper...). A T4 (7.5)
    can hold bf16 tensors, so ``torch.cuda.is_bf16_supported()`` says True by emulation, but it
    has no bf16 tensor cores: fp16 is its mixed precision."""
    import torch

    return torch.cuda.get_device_capability()[0] >= 8


#: the stamp a cache folder carries: which ecr_lab built it (a cache from another version is refused)
CACHE_STAMP = "ecr_lab_cache.json"
#: bump when the layout of the cache folder changes
CACHE_FORMAT = 1


class CacheVersionError(RuntimeError):
    """The cache folder was built by another version of ecr_lab (or before caches carried a stamp)."""


#: the sub-folders an ecr_lab cache holds (a folder with none of them and no stamp is not a cache)
CACHE_PARTS = ("embeddings", "workspace", "smollm2")


def cache_root() -> Path:
    """The cache folder's path, absolute, not created: ``$ECR_LAB_CACHE`` when set, else
    ``~/.cache/ecr_lab``. A relative ``$ECR_LAB_CACHE`` is taken from the working directory; code
    that starts other processes (notebook kernels run in ``notebooks/``) passes them this absolute
    path (:func:`export_cache_root`), so that all of them use one folder."""
    root = os.environ.get("ECR_LAB_CACHE")
    return Path(root).expanduser().absolute() if root else Path.home() / ".cache" / "ecr_lab"


def export_cache_root(env: dict | None = None) -> dict:
    """``env`` (default: a copy of ``os.environ``) with ``ECR_LAB_CACHE`` made absolute when it is
    set, for child processes that run in another working directory."""
    env = dict(os.environ) if env is None else env
    if env.get("ECR_LAB_CACHE"):
        env["ECR_LAB_CACHE"] = str(Path(env["ECR_LAB_CACHE"]).expanduser().absolute())
    return env


def _this_stamp() -> dict:
    from . import __version__

    return {"format": CACHE_FORMAT, "ecr_lab": __version__}


def cache_problem(path: str | os.PathLike | None = None) -> str | None:
    """Why the cache folder at ``path`` (default :func:`cache_root`) cannot be used, or None when it
    is missing, empty, or stamped by this version of ecr_lab. The message names the fix."""
    import json
    import shlex

    path = Path(path) if path is not None else cache_root()
    if path.exists() and not path.is_dir():
        return (f"the cache path {path} is a file, not a folder; point ECR_LAB_CACHE at a folder (the one "
                f"that holds {CACHE_STAMP}, or a new one)")
    # hidden entries do not count: a stamp being written by another process is a hidden temporary file
    entries = [p for p in path.iterdir() if not p.name.startswith(".")] if path.exists() else []
    if not entries:
        return None
    stamp_file = path / CACHE_STAMP
    fix = (f"delete it (rm -rf {shlex.quote(str(path))}) and rebuild it with `make warm` (or `ecr-lab warm`), "
           "or point ECR_LAB_CACHE at another folder")
    if not stamp_file.exists():
        if not any((path / part).is_dir() for part in CACHE_PARTS):
            return (f"{path} is not an ecr_lab cache (no {CACHE_STAMP}, none of {', '.join(CACHE_PARTS)}/) but holds "
                    f"other files; point ECR_LAB_CACHE at the folder that holds {CACHE_STAMP}, or at an empty "
                    "or new folder")
        return f"the cache {path} has no {CACHE_STAMP}: it was built before caches carried a version; {fix}"
    try:
        stamp = json.loads(stamp_file.read_text())
        built_by = stamp["ecr_lab"], stamp["format"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"the cache stamp {stamp_file} is unreadable ({err}); {fix}"
    this = _this_stamp()
    if built_by != (this["ecr_lab"], this["format"]):
        return (f"the cache {path} was built by ecr_lab {built_by[0]} (cache format {built_by[1]}); this is "
                f"ecr_lab {this['ecr_lab']} (format {this['format']}): its embeddings, anchors and runs are "
                f"not reused; {fix}")
    return None


def stamp_cache(path: str | os.PathLike) -> Path:
    """Write this version's stamp into the cache folder ``path`` (created if needed)."""
    import json

    from ._io import atomic_write_bytes

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    return atomic_write_bytes(path / CACHE_STAMP, json.dumps(_this_stamp()).encode())


def cache_dir() -> Path:
    """Where expensive results (teacher embeddings, trained runs) are cached.

    ``$ECR_LAB_CACHE`` when set, else ``~/.cache/ecr_lab``. The folder carries a stamp of the
    ecr_lab version that built it (:data:`CACHE_STAMP`); one built by another version raises
    :class:`CacheVersionError` naming the fix, so a copied cache is never silently reused.
    """
    path = cache_root()
    problem = cache_problem(path)
    if problem is not None:
        raise CacheVersionError(problem)
    if not (path / CACHE_STAMP).exists():
        stamp_cache(path)
    return path


@dataclass(frozen=True)
class Session:
    """What :func:`setup` decided; notebooks print it once at the top."""

    profile: Profile
    device: str
    seed: int
    colab: bool
    ci: bool
    versions: dict

    def __repr__(self) -> str:
        v = ", ".join(f"{k} {val}" for k, val in self.versions.items())
        return (
            f"ecr_lab session: profile={self.profile.name} device={self.device} seed={self.seed} "
            f"colab={self.colab} ci={self.ci}\n  {v}"
        )


def _versions() -> dict:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for dist in ("ecr-lab", "torch", "transformers", "numpy", "scikit-learn", "altair"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "missing"
    return out


def setup(profile: str | None = None, seed: int = 0, device: str = "auto", verbose: bool = True,
          notebook: str | None = None) -> Session:
    """One call at the top of every notebook.

    Detects Colab and CI, enables Colab's custom widget manager (so ipywidgets render there), picks
    the profile (``None``: fast in Colab and CI, see :func:`get_profile`) and the device, seeds
    everything, and prints versions and, given the ``notebook``'s stem, how long it took when
    measured under this profile (:func:`ecr_lab.colab.expected_time`).

    Raises:
        RuntimeError: the ``gpu`` profile was chosen on a machine without a CUDA GPU.
    """
    if in_colab():  # pragma: no cover - only inside Colab
        try:
            from google.colab import output

            output.enable_custom_widget_manager()
        except Exception:
            pass
    chosen = get_profile(profile)
    if chosen.name == "gpu" and not cuda_available():
        raise RuntimeError("the 'gpu' profile needs a CUDA GPU and this runtime has none; in Colab: Runtime > "
                           "Change runtime type > T4 GPU, then run again; or set PROFILE = 'fast'")
    session = Session(
        profile=chosen,
        device=get_device(device),
        seed=seed_everything(seed),
        colab=in_colab(),
        ci=in_ci(),
        versions=_versions(),
    )
    if verbose:
        print(repr(session))
        if notebook is not None:
            from .colab import expected_time

            print(f"  {expected_time(notebook, session.profile.name, session.device)}")
    return session
