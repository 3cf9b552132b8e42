"""How sure we are: paired differences over seeds, their confidence interval, and a verdict in words.

Runs of different conditions share their seeds (same data order, same initialisation where the
architecture allows), so a comparison is **paired by seed**: the per-seed differences carry the
effect, and the seed-to-seed noise common to both sides cancels.

:func:`paired_difference` gives the mean paired improvement (positive = in the claimed direction)
with a Student-t confidence interval; :func:`verdict` turns it into one of

====================== =========================================================================
``supported``          two seeds or more and the whole interval above 0
``contradicted``       two seeds or more and the whole interval below 0
``inconclusive``       two seeds or more and the interval contains 0
``indicative``         one seed, improvement > 0 (no interval: a hint, not evidence)
``indicative against`` one seed, improvement <= 0
``n/a``                no seed on both sides, or non-finite values
====================== =========================================================================

and :func:`no_effect_either_side` flags comparisons where neither side shows the effect at all
(e.g. no run had a loss spike): the claims table calls those ``untested``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import stats as _st

VERDICTS = ("supported", "contradicted", "inconclusive", "indicative", "indicative against", "n/a")


@dataclass(frozen=True)
class PairedDifference:
    """Mean improvement over ``n`` paired seeds and its confidence interval [low, high].

    ``method`` says how the interval was made ("paired t, 95%", "t, 95%", "one seed, no interval",
    "no data", "non-finite values"); with one seed low = high = nan.
    """

    mean: float
    low: float
    high: float
    n: int
    method: str

    @property
    def finite(self) -> bool:
        return bool(np.isfinite(self.mean))


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    """Both sides as float arrays of the same length: Series are aligned on their common index
    (the seed), anything else is taken position by position."""
    if isinstance(a, pd.Series) and isinstance(b, pd.Series):
        common = a.index.intersection(b.index).sort_values()
        a, b = a.loc[common], b.loc[common]
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if len(a) != len(b):
        raise ValueError(f"paired values need the same length: {len(a)} vs {len(b)}")
    return a, b


def mean_interval(x: Sequence[float] | np.ndarray, level: float = 0.95) -> PairedDifference:
    """Mean of ``x`` with a two-sided Student-t interval at ``level`` (one-sample; see
    :func:`paired_difference` for why t). n = 1: low = high = nan; n = 0 or non-finite: all nan."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    x = np.asarray(x, dtype=float).ravel()
    n = len(x)
    pct = f"{100 * level:g}%"
    if n == 0:
        return PairedDifference(float("nan"), float("nan"), float("nan"), 0, "no data")
    if not np.isfinite(x).all():
        return PairedDifference(float("nan"), float("nan"), float("nan"), n, "non-finite values")
    mean = float(np.mean(x))
    if n == 1:
        return PairedDifference(mean, float("nan"), float("nan"), 1, "one seed, no interval")
    sd = float(np.std(x, ddof=1))
    half = float(_st.t.ppf(0.5 + level / 2, df=n - 1)) * sd / np.sqrt(n)
    return PairedDifference(mean, mean - half, mean + half, n, f"t, {pct}")


def paired_difference(a, b, direction: str, level: float = 0.95) -> PairedDifference:
    """Mean improvement of ``a`` (the ECR side) over ``b`` (the comparison) over seeds, with a
    Student-t confidence interval at ``level``.

    ``a`` and ``b`` hold one value per seed, paired by seed: two pandas Series are aligned on their
    common index (seeds on one side only are dropped); arrays are paired by position and must have
    the same length. Improvement per seed is ``a - b`` when ``direction`` is "higher" (higher is
    better) and ``b - a`` when it is "lower".

    Why Student-t and not a bootstrap: we have 3-5 seeds. A percentile bootstrap of n values has
    only C(2n-1, n) distinct resamples (10 for n = 3, 126 for n = 5), its spread of the mean is
    biased low by a factor sqrt((n-1)/n), and it has no heavy tails for the unknown variance, so its
    intervals are far too narrow and cover the truth much less often than they claim. The t
    interval is exact for normal per-seed differences and honestly wide for few seeds (t_{0.975}
    is 4.30 with 3 seeds, 2.78 with 5).

    n = 1: ``mean`` is the single difference, low = high = nan. n = 0 or a non-finite value: all nan.
    """
    if direction not in ("higher", "lower"):
        raise ValueError(f"direction must be 'higher' or 'lower', got {direction!r}")
    a, b = _paired(a, b)
    out = mean_interval(a - b if direction == "higher" else b - a, level)
    return replace(out, method="paired " + out.method) if out.method.startswith("t,") else out


def verdict(diff: PairedDifference) -> str:
    """The words of the module docstring: "supported" (n >= 2, low > 0), "contradicted"
    (n >= 2, high < 0), "inconclusive" (n >= 2, 0 in the interval), "indicative" (n = 1,
    mean > 0), "indicative against" (n = 1, mean <= 0), "n/a" (n = 0 or non-finite)."""
    if diff.n == 0 or not np.isfinite(diff.mean):
        return "n/a"
    if diff.n == 1:
        return "indicative" if diff.mean > 0 else "indicative against"
    if not (np.isfinite(diff.low) and np.isfinite(diff.high)):
        return "n/a"
    if diff.low > 0:
        return "supported"
    if diff.high < 0:
        return "contradicted"
    return "inconclusive"


def at_most_verdict(x: PairedDifference, limit: float) -> str:
    """Verdict for an absolute threshold "the mean is at most ``limit``" from the interval ``x`` of
    the mean (:func:`mean_interval`): "supported" when high <= limit, "contradicted" when
    low > limit, else "inconclusive"; one seed: "indicative" (mean <= limit) or "indicative
    against"; no data or non-finite: "n/a"."""
    if x.n == 0 or not np.isfinite(x.mean):
        return "n/a"
    if x.n == 1:
        return "indicative" if x.mean <= limit else "indicative against"
    if x.high <= limit:
        return "supported"
    if x.low > limit:
        return "contradicted"
    return "inconclusive"


def no_effect_either_side(a, b) -> bool:
    """True when both sides are identically zero (e.g. loss_spikes or non-finite step counts of 0
    on every seed of both conditions): neither side shows the effect, so it cannot be compared and
    the claims table calls the comparison "untested". False when a side is empty."""
    a, b = _paired(a, b)
    return bool(len(a) > 0 and np.all(a == 0) and np.all(b == 0))
