"""What every exercise check shares: failing with a message that teaches, calling a learner's
function safely, multiple-choice answers and predictions held against a measurement.

A check fails by raising ``AssertionError(message)``; otter shows the message under the line of the
check file that raised it. Messages say what is wrong and what to do, never just "assert failed".
otter puts them into HTML without escaping, so :func:`fail` turns angle brackets into look-alikes
(a cue token written ``<ecr_3>`` would otherwise vanish as an unknown HTML tag).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np


def fail(message: str) -> NoReturn:
    """Fail the check with ``message`` (angle brackets made safe for otter's HTML)."""
    raise AssertionError(message.replace("<", "‹").replace(">", "›"))


@dataclass(frozen=True)
class Choice:
    """One option of a multiple-choice or prediction question.

    ``text`` is what the learner reads; ``feedback`` is what a learner who picks it (wrongly) reads.
    """

    text: str
    feedback: str = ""


def normalise_choice(value: Any) -> Any:
    """A string answer stripped, lower-cased and unquoted; anything else unchanged."""
    return value.strip().strip("'\"").strip().lower() if isinstance(value, str) else value


def pick(value: Any, var: str, choices: Mapping[str, Choice]) -> str:
    """The learner's choice key, or a failure that lists the valid keys."""
    key = normalise_choice(value)
    if key not in choices:
        listed = ", ".join(f'"{k}"' for k in choices)
        fail(f"`{var}` must be one of {listed}; got {value!r}. Set it to the key of your answer, e.g. "
             f'{var} = "{next(iter(choices))}"')
    return key


def multiple_choice(value: Any, var: str, choices: Mapping[str, Choice], correct: str) -> None:
    """Pass when the learner chose ``correct``; otherwise explain why their choice does not hold."""
    key = pick(value, var, choices)
    if key != correct:
        fail(f'"{key}" ({choices[key].text}) is not it: {choices[key].feedback} Read the other options again.')


def predicted(value: Any, var: str, choices: Mapping[str, Choice], outcomes: Iterable[str],
              measured: str, lesson: str) -> None:
    """A prediction held against what was measured: pass when it is one of ``outcomes``.

    Args:
        value: the learner's prediction (a key of ``choices``).
        outcomes: the keys the measurement supports (usually one; two when the measurement sits on
            the boundary between them).
        measured: the measurement in words, shown when the prediction is wrong.
        lesson: why it came out that way, shown when the prediction is wrong.
    """
    key = pick(value, var, choices)
    outcomes = list(outcomes)
    if key not in outcomes:
        said = " or ".join(f'"{o}" ({choices[o].text})' for o in outcomes)
        fail(f'you predicted "{key}" ({choices[key].text}), but the measurement says {said}: {measured}. '
             f"{lesson} (Being wrong first is what predicting is for: change your answer once you can "
             "say why.)")


def as_function(fn: Any, var: str, signature: str) -> Callable:
    """``fn`` when it is callable, else a failure saying what to define."""
    if not callable(fn):
        fail(f"`{var}` must be a function: def {signature}: ... (got {type(fn).__name__})")
    return fn


def call(fn: Callable, var: str, *args: Any) -> Any:
    """Call the learner's function on copies of ``args``; an exception becomes a failure naming the
    inputs (their shapes), so the learner can reproduce it."""
    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    try:
        return fn(*copies)
    except Exception as e:  # the learner's bug, reported as feedback rather than a traceback
        shapes = ", ".join(describe(a) for a in args)
        fail(f"`{var}` raised {type(e).__name__}: {e} (called with {shapes}). Run it on small arrays of "
             "those shapes in a cell of your own to see where.")


def describe(a: Any) -> str:
    """A short description of an argument: the shape of an array, the type of anything else."""
    if isinstance(a, np.ndarray):
        return f"an array of shape {a.shape}"
    return type(a).__name__


def as_matrix(value: Any, var: str, shape: tuple[int, ...], what: str) -> np.ndarray:
    """The learner's result as a float array of ``shape``, or a failure saying what was expected."""
    if isinstance(value, tuple):
        fail(f"`{var}` returned a tuple of {len(value)} items; return only {what}, an array of shape {shape}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        fail(f"`{var}` returned {type(value).__name__}, not an array; return {what}, an array of shape {shape}")
    if arr.shape != shape:
        fail(f"`{var}` returned shape {arr.shape}; expected {shape}: {what}")
    return arr


def as_number(value: Any, var: str, what: str) -> float:
    """The learner's result as one float, or a failure saying what was expected."""
    arr = np.asarray(value) if not isinstance(value, (int, float)) else None
    if arr is not None and (arr.size != 1 or not np.issubdtype(arr.dtype, np.number)):
        fail(f"`{var}` returned {describe(value) if isinstance(value, np.ndarray) else type(value).__name__}; "
             f"expected one number: {what}")
    return float(value if arr is None else arr.reshape(()))


def as_index(value: Any, var: str, n: int, what: str) -> int:
    """A row or anchor index in [0, n), or a failure."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        fail(f"`{var}` must be an int, {what} (got {value!r})")
    if not 0 <= int(value) < n:
        fail(f"`{var}` = {value} is out of range: {what} lies in 0 … {n - 1}")
    return int(value)


def close(a: float, b: float, tol: float = 1e-4) -> bool:
    """``a`` and ``b`` agree to a relative (and absolute) tolerance ``tol``; nan never agrees."""
    return bool(np.isfinite(a) and np.isfinite(b) and abs(a - b) <= tol * max(1.0, abs(b)))


def diagnose(value: float, variants: Mapping[str, float], hints: Mapping[str, str], tol: float = 1e-4) -> str | None:
    """The hint of the first known mistake whose result equals ``value``, or None."""
    for key, v in variants.items():
        if close(value, v, tol):
            return hints[key]
    return None


def measured_dict(value: Any, var: str, keys: Iterable[str], cell: str) -> dict:
    """A measurement dict the experiment cell made, with the ``keys`` it must hold (finite numbers)."""
    keys = list(keys)
    if not isinstance(value, Mapping) or not all(k in value for k in keys):
        fail(f"`{var}` is not what the experiment cell makes (a dict with {', '.join(map(repr, keys))}); "
             f"run {cell} unchanged, then this cell again")
    return dict(value)


def words(values: Iterable[Any]) -> str:
    """``[3, 7]`` -> ``"3, 7"``: a list for a sentence."""
    return ", ".join(str(int(v)) if isinstance(v, (int, np.integer)) else str(v) for v in values)
