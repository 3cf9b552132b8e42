"""ecr_lab: see, measure and fix embedding collapse in compact multilingual models with
Embedding Consistency Regulation (ECR).

Modules, in the order data flows (docs/design.md has the whole map): ``config``, ``data``,
``teacher``, ``anchors``, ``projection``, ``control_tokens``, ``student``, ``ecr_model`` (the one
object a user holds: ``ECRModel``), ``training``, ``metrics``, ``evaluation``, ``experiment``.
Import what you need, e.g. ``from ecr_lab import data, anchors``.
"""

from .config import get_profile, seed_everything, setup

__version__ = "0.1.0"
__all__ = ["setup", "get_profile", "seed_everything", "__version__"]
