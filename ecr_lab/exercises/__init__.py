"""Exercises with automatic feedback for the four notebooks, checked with otter-grader.

In a notebook::

    from ecr_lab.exercises import check

    def effective_rank(X):
        ...                      # the learner's code
    check("ex01_rank")           # passed, or what is wrong and a hint; "not attempted yet" while ...

:func:`check` reads the exercise's answer variables from the caller's globals (or ``env``). While
any of them is missing or still ``...`` (the placeholder of the learner's notebook; for a function,
a body that is only ``...`` or ``pass``, or that only returns None), it returns a
:class:`NotAttempted` result instead of running the check, so a notebook without solutions runs to
the end (nbmake). Otherwise it runs the exercise's otter test file (``checks/<name>.py``,
exception-based format) through ``otter.Notebook.check`` and returns otter's result, which renders
pass/fail and each failing case's message.

Why otter-grader: its checks run in the kernel as plain Python, so CI runs every check against its
reference solution and a wrong answer (``tests/test_exercises.py``); nbgrader needs a course
database, and jupyterquiz gives its feedback in client-side JavaScript that CI cannot run.

What we change in otter's ``Notebook`` (``_PackageNotebook``): its ``__init__`` looks for ``*.otter``
config files and a lone ``*.ipynb`` in the working directory (and reads them), and every check
appends a pickled log entry to ``.OTTER_LOG`` in the working directory (an error in a read-only
one). Our checks are self-contained and grade nothing, so the subclass reads no file but the test
file and writes none; otter's grading mode cannot redirect it to another tests directory either.
"""

from __future__ import annotations

import dis
import html
import inspect
import random
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .nb01 import nearest_neighbour
from .registry import EXERCISES, KINDS, NOTEBOOKS, Exercise

__all__ = ["CHECKS_DIR", "EXERCISES", "KINDS", "NOTEBOOKS", "Exercise", "NotAttempted", "check", "exercise",
           "is_placeholder", "nearest_neighbour", "passed", "report"]

#: the otter test files, one per exercise; shipped inside the package (wheel, Colab)
CHECKS_DIR = Path(__file__).resolve().parent / "checks"


def exercise(name: str) -> Exercise:
    """The registered exercise ``name``; a clear error listing the known names otherwise."""
    if name not in EXERCISES:
        raise ValueError(f"unknown exercise {name!r}; known exercises: {', '.join(EXERCISES)}")
    return EXERCISES[name]


#: the bytecode of a function that does nothing (a body of ``...`` or ``pass``, a docstring at most)
_NOTHING = {"RESUME", "NOP", "CACHE", "LOAD_CONST", "RETURN_VALUE", "RETURN_CONST"}


def is_placeholder(value: Any) -> bool:
    """True for the learner notebook's placeholders: ``...`` itself, or a function whose body is only
    ``...`` or ``pass``, or only returns None (``return None``, ``return ...``), with or without a
    docstring: it does nothing, so it counts as not written yet (:attr:`NotAttempted.message` says so)."""
    if value is Ellipsis:
        return True
    code = getattr(value, "__code__", None)
    if code is None:
        return False
    ops = list(dis.get_instructions(code))
    return all(i.opname in _NOTHING for i in ops) and all(
        i.argval is None or i.argval is Ellipsis for i in ops if i.opname in ("LOAD_CONST", "RETURN_CONST"))


#: what NotAttempted says about a function answer (is_placeholder's rule, in the learner's words)
FUNCTION_PLACEHOLDER = ("a function whose body is only `...`, `pass` or returns None counts as not written "
                        "yet")


@dataclass(frozen=True)
class NotAttempted:
    """The result of a check whose answer ``variable`` is missing or still a placeholder.

    ``measured``: the variable is computed by an experiment cell; ``function``: the answer is a function
    the learner writes (the message then says which bodies count as not written yet)."""

    name: str
    variable: str
    measured: bool = False
    function: bool = False

    @property
    def message(self) -> str:
        if self.measured:
            return (f"{self.name}: not attempted yet: run the experiment cell that computes `{self.variable}`, "
                    "then this cell again")
        if self.function:
            return (f"{self.name}: not attempted yet: write `{self.variable}` and run this cell again "
                    f"({FUNCTION_PLACEHOLDER})")
        return f"{self.name}: not attempted yet: set `{self.variable}` and run this cell again"

    def __repr__(self) -> str:
        return self.message

    def _repr_html_(self) -> str:
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(self.message))
        return f"<p>⏳ {text}</p>"


@cache
def _otter_classes():
    """otter's Notebook (wrapped so that it reads and writes nothing but the test file) and result class."""
    from otter import Notebook
    from otter.check.utils import IPythonInterpreter
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files.exception_test import ExceptionTestFile

    class _PackageNotebook(Notebook):
        """``otter.Notebook`` on the package's tests directory, without otter's file side effects."""

        _tests_dir_override = None  # otter's grading mode must not send our checks elsewhere

        def __init__(self, tests_dir: str):  # not otter's: it globs *.otter / *.ipynb in the cwd and logs
            self.interpreter = next((i for i in IPythonInterpreter if i.value.running()), None)
            self._tests_dir = tests_dir
            self._notebook = None
            self._tests_url_prefix = None
            self._addl_files = []
            self._plugin_collections = {}
            self._nbmeta_config = NBMetadataConfig()

        def _log_event(self, *args: Any, **kwargs: Any) -> None:
            """No ``.OTTER_LOG``: these checks are feedback, not a graded submission."""

    class CheckResult(ExceptionTestFile):
        """otter's result; its HTML picks a random emoji, which would move ``random``'s global state."""

        def _repr_html_(self) -> str:
            state = random.getstate()
            try:
                return super()._repr_html_()
            finally:
                random.setstate(state)

    return _PackageNotebook, CheckResult


@cache
def _notebook():
    notebook_cls, _ = _otter_classes()
    return notebook_cls(str(CHECKS_DIR))


def check(name: str, env: dict[str, Any] | None = None):
    """Check exercise ``name`` against ``env`` (default: the caller's globals).

    Returns:
        :class:`NotAttempted` while an answer variable is missing or a placeholder (never raises
        for that); otherwise otter's result for ``checks/<name>.py`` (``passed_all``, a summary as
        its repr, pass/fail and messages as HTML in Jupyter).

    Raises:
        ValueError: for an unknown exercise name (the message lists the known ones).
    """
    ex = exercise(name)
    if env is None:
        frame = inspect.currentframe()
        env = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    for var in ex.answers:
        if var not in env or is_placeholder(env[var]):
            value = env.get(var)
            return NotAttempted(name, var, measured=var in ex.measured,
                                function=ex.kind == "code" or hasattr(value, "__code__"))
    result = _notebook().check(name, global_env=env)
    _, result_cls = _otter_classes()
    if type(result) is result_cls.__mro__[1]:  # exactly otter's ExceptionTestFile
        result.__class__ = result_cls
    return result


def passed(result: Any) -> bool:
    """True when a :func:`check` result passed every test case (never for :class:`NotAttempted`)."""
    if isinstance(result, NotAttempted):
        return False
    return bool(getattr(result, "passed_all", False))


def report(notebook: str, env: dict[str, Any] | None = None):
    """The end-of-notebook check: every exercise of ``notebook`` (a stem such as ``"01_collapse"``),
    the objective it practises and where the learner stands (``passed`` / ``not attempted yet`` /
    ``not yet: run its check cell for the hint``), checked again on ``env`` (default: the caller's
    globals). Returns a DataFrame with columns exercise, objective, status."""
    import pandas as pd

    if notebook not in NOTEBOOKS:
        raise ValueError(f"unknown notebook {notebook!r}; one of {', '.join(NOTEBOOKS)}")
    if env is None:
        frame = inspect.currentframe()
        env = frame.f_back.f_globals if frame is not None and frame.f_back is not None else {}
    rows = []
    for ex in (e for e in EXERCISES.values() if e.notebook == notebook):
        result = check(ex.name, env)
        status = ("not attempted yet" if isinstance(result, NotAttempted)
                  else "passed" if passed(result) else "not yet: run its check cell for the hint")
        rows.append({"exercise": ex.name, "objective": ex.objective, "status": status})
    return pd.DataFrame(rows)
