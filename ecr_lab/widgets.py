"""Live dashboards for notebook 04 (ipywidgets + Altair).

Each dashboard is a class whose state can be driven from Python (``dash.checkpoint.value = 3``),
so tests move sliders and check that the data behind the charts changed; ``dash.view()`` returns
the widget tree to display.

- :class:`DriftDashboard`: one checkpoint slider over the embeddings two runs saved while training
  (an ECR run and, beside it, the baseline of the same size and seed), a metric picker, a language
  filter, a colour switch and an alignment switch; shows both runs' maps of the watched validation
  sentences at that checkpoint, each aligned to its previous checkpoint with orthogonal Procrustes
  (:func:`align_frames`), and the metric's curves with a marker at it; :meth:`DriftDashboard.churn`
  gives each run's kNN churn early and late in training.
- :class:`CueExplorer`: a text box, and K / temperature / m controls; shows which anchors the
  teacher and the student's projection pick for the sentence, and the cue tokens ECR would prepend.
  K values other than the run's own are marked illustrative (the model has no such cue tokens);
  the temperature only reshapes the scores in the chart (it cannot change the top-m cues).
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Mapping, Sequence
from pathlib import Path

import altair as alt
import ipywidgets as W
import numpy as np
import pandas as pd
from IPython.display import HTML, display
from scipy.linalg import orthogonal_procrustes

from . import viz
from .anchors import derive_anchors
from .control_tokens import cue_token
from .evaluation import knn_churn_halves
from .projection import AnchorProjector, softmax

#: Unicode script words (from character names) of the bundled corpus's languages
CORPUS_SCRIPTS = {"LATIN", "CYRILLIC", "CJK", "HIRAGANA", "KATAKANA", "ARABIC"}

#: what the explorer says whenever K is not the run's own (the words of notebook 04 and its exercise 4.4)
ILLUSTRATIVE = "illustrative: these cue tokens do not exist in the model"

#: what the temperature does, shown beside its slider (docs/glossary.md#term-temperature). It states the
#: facts and leaves the conclusion (no T changes the cues) to notebook 04's exercise 4.3.
TEMPERATURE_NOTE = ("Temperature T: the chart shows softmax(score / T), peaked for a small T and flat for a large "
                    "one. The cues are the top m anchors by raw score.")


def detect_scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (first word of each letter's Unicode name: LATIN, CYRILLIC, CJK ...)."""
    out = set()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            if name:
                out.add(name.split()[0])
    return out


# -- aligning maps ------------------------------------------------------------------------------------

def procrustes_align(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """``y`` rotated or reflected onto ``x``: ``y @ R`` with ``R`` the orthogonal (d, d) matrix that minimises
    ``||y @ R - x||_F`` (orthogonal Procrustes, ``scipy.linalg.orthogonal_procrustes``).

    Args:
        y: (n, d) the map to move, e.g. one checkpoint's 2-D PCA map.
        x: (n, d) the map to align it to; the same n rows (the same sentences) in the same order.

    Returns:
        (n, d) float64: ``y`` rotated or reflected, never stretched, sheared or shifted, so the distances
        between its rows are unchanged. Neither map is centred here (PCA maps are already).

    Raises:
        ValueError: when the shapes differ or are not 2-D.
    """
    y, x = np.asarray(y, dtype=np.float64), np.asarray(x, dtype=np.float64)
    if y.ndim != 2 or y.shape != x.shape:
        raise ValueError(f"procrustes_align needs two (n, d) maps of the same rows; got {y.shape} and {x.shape}")
    r, _ = orthogonal_procrustes(y, x)
    return y @ r


def align_frames(maps: Sequence[np.ndarray], reference: np.ndarray | None = None) -> list[np.ndarray]:
    """Successive maps of the same rows, each centred and then aligned onto the aligned map before it.

    A 2-D PCA (or UMAP) map is fixed only up to a rotation or reflection: PCA picks the sign of each
    axis on its own at every checkpoint, so two maps of the same geometry can look mirrored. Chained
    alignment removes that, and leaves only what changed between neighbouring checkpoints: the drift.
    The chain is always computed from the first map on, so the frame of a checkpoint does not depend on
    how a slider reached it.

    Args:
        maps: (n, d) arrays in training order, the same n rows in the same order.
        reference: (n, d), optional: where the first map is aligned to (another run's first map, so two
            runs' chains start in one frame); without it the first map keeps its own axes.

    Returns:
        a list of (n, d) float64 arrays, one per map.
    """
    out: list[np.ndarray] = []
    for i, m in enumerate(maps):
        m = np.asarray(m, dtype=np.float64)
        m = m - m.mean(0)
        target = out[-1] if i else (None if reference is None else np.asarray(reference, dtype=np.float64))
        out.append(m if target is None else procrustes_align(m, target - target.mean(0)))
    return out


def metric_curves(evals: Mapping[str, pd.DataFrame], metric: str, marker_step: int | None = None) -> alt.Chart:
    """One line per run (``{label: run.evals}``) of a metric logged during training against the step,
    with an optional marker at one step. (:func:`ecr_lab.viz.metric_over_steps` draws one run.)"""
    missing = [name for name, ev in evals.items() if metric not in ev]
    if missing:
        raise ValueError(f"{metric!r} was not logged by {', '.join(missing)}")
    df = pd.concat([ev[["step", metric]].rename(columns={metric: "value"}).assign(run=name)
                    for name, ev in evals.items()], ignore_index=True)
    label = metric.replace("_", " ")
    line = alt.Chart(df, title=f"{label} during training").mark_line(point=True).encode(
        x=alt.X("step:Q", title="Training step"), y=alt.Y("value:Q", title=label),
        color=alt.Color("run:N", title="Run", sort=list(evals)),
        tooltip=["run:N", "step:Q", alt.Tooltip("value:Q", format=".3f")])
    if marker_step is None:
        return line.properties(width=380, height=200)
    rule = alt.Chart(pd.DataFrame({"step": [marker_step]})).mark_rule(color="crimson", strokeWidth=2).encode(x="step:Q")
    return (line + rule).properties(width=380, height=200)


def _replace_chart(out: W.Output, chart) -> None:
    with out:
        out.clear_output(wait=True)
        display(chart)


def _saved_steps(run) -> dict[int, Path]:
    if run.out_dir is None:
        raise ValueError(f"{run.name}: the run has no out_dir: train it with out_dir=... so its checkpoints' "
                         "embeddings are saved")
    files = sorted(Path(run.out_dir, "embeddings").glob("step-*.npy"))
    if not files:
        raise ValueError(f"no saved embeddings in {run.out_dir}/embeddings; train with an eval_set")
    return {int(f.stem.split("-")[1]): f for f in files}


class DriftDashboard:
    """Checkpoints of one run, or of an ECR run beside its baseline, on one slider, with the metrics they logged.

    Each map is the 2-D projection (``method``) of the watched validation sentences at the chosen
    checkpoint. With ``align`` on (the default), every checkpoint's map is aligned with orthogonal
    Procrustes to the map of the checkpoint before it (:func:`align_frames`; the run's first map to the
    baseline's first map, so both chains start in one frame), so motion on the map between two
    neighbouring checkpoints is drift, not a flipped or rotated axis. Why the previous checkpoint and
    not the final one: the slider compares neighbours, so that is the motion to make honest; the frame
    of a step does not depend on a final map that early, unrelated geometry barely constrains; and two
    runs of one seed start from the same weights, so aligned this way their first maps are one picture.

    Args:
        run: a :class:`~ecr_lab.runs.Run` trained with ``out_dir`` and an eval set (notebook 04: the ECR run).
        probe: the corpus whose rows the saved embeddings are (``setup.eval_set().corpus``).
        baseline: optional second run (the baseline of the same size and seed), shown to the left of
            ``run`` and driven by the same slider; the slider offers the steps both saved.
        method: ``"pca"`` (instant; the default) or ``"umap"`` (seconds per map: every checkpoint's map is
            computed when a language is first shown).
    """

    def __init__(self, run, probe, baseline=None, method: str = "pca", seed: int = 0, align: bool = True):
        self.run, self.baseline, self.probe, self.method, self.seed = run, baseline, probe, method, seed
        shown = [baseline, run] if baseline is not None else [run]
        self.runs: dict[str, object] = {r.name: r for r in shown}
        if len(self.runs) != len(shown):
            raise ValueError(f"the baseline and the run have the same name {run.name!r}; pass two different runs")
        self._files = {name: _saved_steps(r) for name, r in self.runs.items()}
        steps = sorted(set.intersection(*(set(f) for f in self._files.values())))
        if not steps:
            raise ValueError("the runs saved no checkpoint at the same step: "
                             + "; ".join(f"{n}: {sorted(f)}" for n, f in self._files.items()))
        self.steps = steps
        self.files = [self._files[run.name][s] for s in steps]
        metrics = [c for c in run.evals.columns if c != "step" and all(c in r.evals for r in self.runs.values())]
        self.checkpoint = W.SelectionSlider(options=self.steps, value=self.steps[-1], description="Step",
                                            continuous_update=False, layout=W.Layout(width="420px"))
        self.metric = W.Dropdown(options=metrics, value="topic_probe" if "topic_probe" in metrics else metrics[0],
                                 description="Metric")
        self.language = W.Dropdown(options=["all"] + list(probe.languages), value="all", description="Language")
        self.color = W.ToggleButtons(options=[("topic", "topic"), ("language", "lang")], value="topic",
                                     description="Colour by")
        self.align = W.Checkbox(value=align, description="Align each map to the previous step (Procrustes)",
                                style={"description_width": "initial"}, layout=W.Layout(width="420px"))
        self.map_out, self.curve_out, self.table_out = W.Output(), W.Output(), W.Output()
        self._frames: dict[str, dict[str, list[pd.DataFrame]]] = {}
        self.map_frames: dict[str, pd.DataFrame] = {}
        self.map_frame: pd.DataFrame | None = None
        self.map_chart = self.curve_chart = None  # the charts on show (tests validate them)
        self.metric_rows: pd.DataFrame | None = None
        self.metric_row: pd.Series | None = None
        for w in (self.checkpoint, self.language, self.color, self.align):
            w.observe(lambda _change: self.update_map(), names="value")
        for w in (self.checkpoint, self.metric):
            w.observe(lambda _change: self.update_curve(), names="value")
        self.update_map()
        self.update_curve()

    def embeddings(self, step: int, run=None) -> np.ndarray:
        """The watched sentences' embeddings saved at ``step``: (n_probe, hidden). ``run``: a run or its
        name (default: the main run, not the baseline)."""
        name = self.run.name if run is None else getattr(run, "name", run)
        if name not in self._files:
            raise ValueError(f"no run {name!r} on this dashboard; one of {list(self._files)}")
        if step not in self.steps:
            raise ValueError(f"no checkpoint at step {step}; the slider's steps are {self.steps}")
        return np.load(self._files[name][step])

    def churn(self, run=None) -> dict[str, float]:
        """How much a run's map moved early and late in training: ``{"early": ..., "late": ...}``.

        Each is the mean of the ``knn_churn_prev`` its evaluations logged (the share of each watched
        sentence's 10 nearest neighbours that changed since the evaluation before) over the first half of
        training (steps up to half the last evaluated step) and over the second half: the split and the
        means of ``knn_churn_early`` / ``knn_churn_late`` in :func:`ecr_lab.evaluation.training_summary`
        (claim C1 reads the late one). A half without a logged value gives nan.

        Args:
            run: a run on this dashboard or its name (default: the main run, not the baseline).

        Raises:
            ValueError: for a run not on the dashboard, or one whose evaluations logged no ``knn_churn_prev``.
        """
        name = self.run.name if run is None else getattr(run, "name", run)
        if name not in self.runs:
            raise ValueError(f"no run {name!r} on this dashboard; one of {list(self.runs)}")
        return knn_churn_halves(self.runs[name].evals, name)

    def frames(self, language: str = "all", aligned: bool = True) -> dict[str, list[pd.DataFrame]]:
        """Every run's map frames (:func:`ecr_lab.viz.map_frame`), one per step of :attr:`steps`, for one
        language (``"all"``: every row); with ``aligned``, their x, y chained by :func:`align_frames`.
        Computed once per language, then cached."""
        if language not in self._frames:
            corpus, keep = self.probe, slice(None)
            if language != "all":
                corpus = self.probe.subset(langs=[language])
                keep = self.probe.frame["lang"].to_numpy() == language
            raw = {name: [viz.map_frame(self.embeddings(s, name)[keep], corpus, method=self.method, seed=self.seed)
                          for s in self.steps] for name in self.runs}
            aligned_frames, first = {}, None
            for name, frames in raw.items():  # the first run's first map is the common frame
                xy = align_frames([f[["x", "y"]].to_numpy() for f in frames], reference=first)
                first = xy[0] if first is None else first
                aligned_frames[name] = [f.assign(x=m[:, 0], y=m[:, 1]) for f, m in zip(frames, xy, strict=True)]
            self._frames[language] = {"raw": raw, "aligned": aligned_frames}
        return self._frames[language]["aligned" if aligned else "raw"]

    def update_map(self) -> None:
        step = self.checkpoint.value
        i = self.steps.index(step)
        self.map_frames = {name: fr[i] for name, fr in self.frames(self.language.value, self.align.value).items()}
        self.map_frame = self.map_frames[self.run.name]
        how = "aligned to the previous step" if self.align.value else "not aligned"
        one = len(self.map_frames) == 1
        charts = [viz.embedding_map(frame, color=self.color.value, method=self.method, width=280, height=280,
                                    title=f"{name} · step {step}" + (f" ({how})" if one else ""))
                  for name, frame in self.map_frames.items()]
        self.map_chart = charts[0] if one else alt.hconcat(*charts).properties(
            title=f"The same validation sentences at step {step} ({how})")
        _replace_chart(self.map_out, self.map_chart)

    def update_curve(self) -> None:
        step = self.checkpoint.value
        rows = {name: r.evals[r.evals["step"] == step].iloc[0] for name, r in self.runs.items()}
        self.metric_rows = pd.DataFrame(rows).T
        self.metric_row = rows[self.run.name]
        self.curve_chart = metric_curves({name: r.evals for name, r in self.runs.items()}, self.metric.value, step)
        _replace_chart(self.curve_out, self.curve_chart)
        with self.table_out:
            self.table_out.clear_output(wait=True)
            display(self.metric_rows.drop(columns="step").round(3).rename_axis(f"step {step}"))

    def view(self) -> W.Widget:
        controls = W.HBox([self.checkpoint, self.metric])
        filters = W.HBox([self.language, self.color, self.align])
        return W.VBox([controls, filters, self.map_out, self.curve_out, self.table_out])


class CueExplorer:
    """Type a sentence; see the anchors the teacher and the student pick, and the cue tokens.

    Controls: K (the number of anchors), the temperature (of the scores in the chart) and m (how many
    cues, 1..K). Only the run's own K has cue tokens in the model; for another K the explorer derives
    anchors and fits a projection step on the spot, and says so (:data:`ILLUSTRATIVE`). The cues are the
    top-m anchors by raw score, so the temperature cannot change them (:data:`TEMPERATURE_NOTE`); m
    can.

    Args:
        setup: the :class:`~ecr_lab.experiment.Setup` (training texts, teacher rows, anchors).
        run: a trained run (its model, tokenizer and projector are the student side).
        teacher: the teacher encoder (only to show the teacher's choice; ECR's inference never calls it).
        ks: the K values offered beside the run's own (default: the profile's K sweep); ``()`` offers the
            run's K only. Anchors and projectors for other K are derived once and cached.
    """

    def __init__(self, setup, run, teacher, ks: Sequence[int] | None = None, text: str = ""):
        self.setup, self.run, self.teacher = setup, run, teacher
        self.student = run.student  # the ECRModel: its projection step is the student side
        self.k_trained, self.m_trained = int(run.anchors.k), int(run.config.m_cues)
        offered = setup.profile.k_sweep if ks is None else ks
        ks = tuple(sorted({int(k) for k in offered} | {self.k_trained}))
        self._train_feats: np.ndarray | None = None  # computed for the first illustrative K
        self._by_k: dict[int, tuple] = {self.k_trained: (run.anchors, run.projector)}
        self._topics: dict[int, list] = {}
        self.text = W.Text(value=text, placeholder="Type a sentence in en, de, fr, es, ru, zh, ja or ar",
                           description="Sentence", continuous_update=False, layout=W.Layout(width="640px"))
        wide = {"description_width": "initial"}
        self.k = W.SelectionSlider(options=list(ks), value=self.k_trained, description="K", continuous_update=False,
                                   style=wide, disabled=len(ks) == 1)
        self.temperature = W.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.1, description="Temperature",
                                            continuous_update=False, style=wide)
        self.m = W.IntSlider(value=min(self.m_trained, self.k_trained), min=1, max=self.k_trained,
                             description="m cues", continuous_update=False, style=wide)
        self.notes = W.HTML()
        self.info_out, self.chart_out = W.Output(), W.Output()
        self.result: dict = {}
        self.k.observe(lambda _change: self._limit_m(), names="value")
        for w in (self.text, self.k, self.temperature, self.m):
            w.observe(lambda _change: self.update(), names="value")
        self.update()

    def _limit_m(self) -> None:
        """m stays within 1..K when K moves."""
        self.m.max = self.k.value

    def anchors_for(self, k: int):
        """(anchors, projector) for K = k: the run's own for its K; otherwise derived from the training rows
        and cached (illustrative: the model has no cue tokens for them)."""
        if k not in self._by_k:
            if self._train_feats is None:
                self._train_feats = self.student.cue_features(self.setup.train.texts)
            a = derive_anchors(self.setup.teacher_train, k, seed=self.setup.seed, n_init=2)
            p = AnchorProjector(a, method=self.run.config.projection).fit(self._train_feats, self.setup.teacher_train)
            self._by_k[k] = (a, p)
        return self._by_k[k]

    def _anchor_topics(self, k: int) -> list:
        if k not in self._topics:
            anchors, _ = self.anchors_for(k)
            top = anchors.assign(self.setup.teacher_train, 1)[0][:, 0]
            topics = self.setup.train.topic_labels
            self._topics[k] = [pd.Series(topics[top == a]).value_counts().index[0] if (top == a).any() else "-"
                               for a in range(k)]
        return self._topics[k]

    def notes_for(self, k: int, m: int) -> list[str]:
        """What the view must say about K and m: illustrative when K is not the run's, and when m is not."""
        kt, out = self.k_trained, []
        if k != kt:
            which = (f"{cue_token(0)} … {cue_token(k - 1)} exist in its vocabulary but stand for the anchors it learned "
                     f"for K = {kt}, not these" if k < kt else
                     f"{cue_token(kt)} … {cue_token(k - 1)} are not in its vocabulary at all, and the ids below {kt} "
                     "stand for other anchors than these")
            out.append(f"K = {k} is {ILLUSTRATIVE}. The run was trained with K = {kt} ({cue_token(0)} … "
                       f"{cue_token(kt - 1)}); these {k} anchors and their projection step were derived just now for "
                       f"this view: {which}.")
        if m != self.m_trained:
            out.append(f"m = {m}: the run was trained with m = {self.m_trained} cues per sentence, so this input is "
                       "one it never saw in training.")
        return out

    def explain(self, text: str, k: int | None = None, temperature: float | None = None, m: int | None = None) -> dict:
        """What ECR does with ``text``: {"ok", "message", "teacher", "student", "cues", "agree", "topics",
        "scores", "illustrative", "notes", "k", "m", "temperature"}.

        The cues are the top ``m`` anchors by raw score (the teacher's cosine; the projection step's
        similarity, as :meth:`ecr_lab.ecr_model.ECRModel.cues` picks them); ``scores`` holds the softmax
        at ``temperature``, which only the chart reads. ``illustrative`` is True when ``k`` is not the K
        the run was trained with. ``ok`` is False (with a friendly ``message``) for an empty sentence or
        one written in a script none of the corpus languages use.
        """
        k = k or self.k.value
        temperature = temperature or self.temperature.value
        m = m or self.m.value
        if not 1 <= m <= k:
            raise ValueError(f"m must be within 1..K = {k}, got {m}")
        base = {"k": k, "m": m, "temperature": temperature, "illustrative": k != self.k_trained,
                "notes": self.notes_for(k, m)}
        text = (text or "").strip()
        if not text:
            return {**base, "ok": False, "message": "Type a sentence above to see its anchors and cue tokens."}
        scripts = detect_scripts(text)
        foreign = scripts - CORPUS_SCRIPTS
        if foreign or not scripts:
            what = ", ".join(sorted(foreign)) or "no letters"
            return {**base, "ok": False, "message": (
                f"This sentence uses {what}, which none of the corpus languages ({', '.join(self.setup.corpus.languages)}) "
                "are written in: the anchors know nothing about it. Try a sentence in one of those languages.")}
        anchors, projector = self.anchors_for(k)
        t_cos = anchors.similarities(self.teacher.encode([text]))[0]
        feats = self.student.cue_features([text])
        t_top = np.argsort(-t_cos, kind="stable")[:m]  # raw scores: no temperature can reorder them
        s_top = projector.cues(feats, m)[0]
        t_scores = softmax(t_cos / temperature)
        s_scores = projector.scores(feats, temperature)[0]
        topics = self._anchor_topics(k)
        shown = list(dict.fromkeys(list(np.argsort(-t_scores)[:6]) + list(np.argsort(-s_scores)[:6])))
        scores = pd.DataFrame([{"anchor": cue_token(a), "source": src, "score": float(sc[a]), "top_topic": topics[a]}
                               for a in shown for src, sc in (("teacher", t_scores), ("student", s_scores))])
        return {**base, "ok": True, "message": "", "teacher": [int(a) for a in t_top],
                "student": [int(a) for a in s_top], "cues": "".join(cue_token(a) for a in s_top),
                "agree": bool(t_top[0] == s_top[0]), "topics": {int(a): topics[a] for a in set(t_top) | set(s_top)},
                "scores": scores}

    def update(self) -> None:
        self.result = self.explain(self.text.value)
        r = self.result
        notes = "".join(f"<p style='color:#a15c00'><b>Note</b>: {html.escape(n)}</p>" for n in r["notes"])
        self.notes.value = notes + f"<p style='color:#555'>{html.escape(TEMPERATURE_NOTE)}</p>"
        with self.info_out:
            self.info_out.clear_output(wait=True)
            if not r["ok"]:
                display(HTML(f"<p style='color:#a15c00'>{html.escape(r['message'])}</p>"))
            else:
                def fmt(ids):
                    return ", ".join(f"<code>{html.escape(cue_token(a))}</code> ({html.escape(str(r['topics'][a]))})" for a in ids)

                seen = " (illustrative)" if r["illustrative"] else ""
                display(HTML(
                    f"<p><b>Teacher anchors</b> (offline, for reference): {fmt(r['teacher'])}<br>"
                    f"<b>Student's projected anchors</b> (what ECR uses at inference): {fmt(r['student'])}<br>"
                    f"<b>Input the student sees</b>{seen}: <code>{html.escape(r['cues'])}</code> "
                    f"{html.escape(self.text.value)}<br>"
                    f"Top-1 agreement: <b>{'yes' if r['agree'] else 'no'}</b></p>"))
        with self.chart_out:
            self.chart_out.clear_output(wait=True)
            if r["ok"]:
                tag = f"K={r['k']}{', illustrative' if r['illustrative'] else ''}, T={r['temperature']:.2f}"
                display(viz.cue_scores_chart(r["scores"], title=f"Anchor scores ({tag})"))

    def view(self) -> W.Widget:
        return W.VBox([self.text, W.HBox([self.k, self.temperature, self.m]), self.notes, self.info_out,
                       self.chart_out])
