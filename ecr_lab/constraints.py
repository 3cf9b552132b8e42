"""One validation table per config, in the style of scikit-learn's ``_parameter_constraints``.

A config dataclass lists, for each field, the constraints its value must meet; :func:`validate`
checks them all in one place and raises a ValueError that names the field, the value and what is
allowed. The maths never re-checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    """A number in [low, high] (``closed`` says which ends are included; None = unbounded)."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both" | "left" | "right" | "neither"

    def accepts(self, v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float) if self.kind is float else int):
            return False
        if isinstance(v, float) and not math.isfinite(v):
            return False
        lo_ok = self.low is None or (v >= self.low if self.closed in ("both", "left") else v > self.low)
        hi_ok = self.high is None or (v <= self.high if self.closed in ("both", "right") else v < self.high)
        return lo_ok and hi_ok

    def __str__(self) -> str:
        lb = "[" if self.closed in ("both", "left") else "("
        rb = "]" if self.closed in ("both", "right") else ")"
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        return f"{self.kind.__name__} in {lb}{lo}, {hi}{rb}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple

    def accepts(self, v) -> bool:
        return v in self.values

    def __str__(self) -> str:
        return "one of " + ", ".join(repr(x) for x in self.values)


@dataclass(frozen=True)
class Check:
    """Any other rule: a predicate and its description."""

    fn: Callable[[object], bool]
    text: str

    def accepts(self, v) -> bool:
        return bool(self.fn(v))

    def __str__(self) -> str:
        return self.text


def validate(obj: object, table: Mapping[str, Iterable]) -> None:
    """Check every field of ``obj`` named in ``table`` against its constraints (any one may accept;
    ``None`` in the list allows None). Raises ValueError naming the field and what is allowed."""
    for name, allowed in table.items():
        v = getattr(obj, name)
        allowed = list(allowed)
        if v is None and None in allowed:
            continue
        rules = [c for c in allowed if c is not None]
        if not any(c.accepts(v) for c in rules):
            what = " or ".join(str(c) for c in rules) + (" or None" if None in allowed else "")
            raise ValueError(f"{type(obj).__name__}.{name} must be {what}; got {v!r}")
