"""Small table helpers: "mean ± std" cells and GitHub markdown tables (no tabulate dependency)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd


def mean_std(values: Sequence[float] | np.ndarray, digits: int = 3) -> str:
    """``"0.259 ± 0.014"``: mean and sample standard deviation (0 for one value); "n/a" when empty."""
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return "n/a"
    sd = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return f"{np.mean(v):.{digits}f} ± {sd:.{digits}f}"


def mean_std_table(frame: pd.DataFrame, by: list[str], columns: list[str], digits: int = 3) -> pd.DataFrame:
    """One row per group of ``by``, each of ``columns`` as "mean ± std" over the group's rows."""
    g = frame.groupby(by)[columns]
    return g.agg(lambda s: mean_std(s.dropna(), digits)).reset_index()


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table."""
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)
