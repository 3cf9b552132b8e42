"""Live dashboards for notebook 04 (ipywidgets + Altair).

Each dashboard is a class whose state can be driven from Python (``dash.checkpoint.value = 3``),
so tests move sliders and check that the data behind the charts changed; ``dash.view()`` returns
the widget tree to display.

- :class:`DriftDashboard`: a checkpoint slider over the embeddings a run saved while training, a
  metric picker, a language filter and a colour switch; shows the map of the probe sentences at
  that checkpoint and the metric's curve with a marker at it.
- :class:`CueExplorer`: a text box, and K / temperature / m controls; shows which anchors the
  teacher and the student's projection pick for the sentence, and the cue tokens ECR would prepend.
"""

from __future__ import annotations

import html
import unicodedata
from pathlib import Path

import ipywidgets as W
import numpy as np
import pandas as pd
from IPython.display import HTML, display

from . import viz
from .anchors import derive_anchors
from .control_tokens import cue_token
from .projection import AnchorProjector, softmax

#: Unicode script words (from character names) of the bundled corpus's languages
CORPUS_SCRIPTS = {"LATIN", "CYRILLIC", "CJK", "HIRAGANA", "KATAKANA", "ARABIC"}


def detect_scripts(text: str) -> set[str]:
    """The scripts of the letters in ``text`` (first word of each letter's Unicode name: LATIN, CYRILLIC, CJK ...)."""
    out = set()
    for ch in text:
        if ch.isalpha():
            name = unicodedata.name(ch, "")
            if name:
                out.add(name.split()[0])
    return out


def _replace_chart(out: W.Output, chart) -> None:
    with out:
        out.clear_output(wait=True)
        display(chart)


class DriftDashboard:
    """Checkpoints of one run, side by side with the metrics it logged.

    Args:
        run: a :class:`~ecr_lab.training.Run` trained with ``out_dir`` and an eval set.
        probe: the corpus whose rows the saved embeddings are (``setup.eval_set().corpus``).
    """

    def __init__(self, run, probe, method: str = "pca", seed: int = 0):
        if run.out_dir is None:
            raise ValueError("the run has no out_dir: train it with out_dir=... so its checkpoints' embeddings are saved")
        files = sorted(Path(run.out_dir, "embeddings").glob("step-*.npy"))
        if not files:
            raise ValueError(f"no saved embeddings in {run.out_dir}/embeddings; train with an eval_set")
        self.run, self.probe, self.method, self.seed = run, probe, method, seed
        self.files = files
        self.steps = [int(f.stem.split("-")[1]) for f in files]
        metrics = [c for c in run.evals.columns if c != "step"]
        self.checkpoint = W.SelectionSlider(options=self.steps, value=self.steps[-1], description="Step",
                                            continuous_update=False, layout=W.Layout(width="420px"))
        self.metric = W.Dropdown(options=metrics, value="topic_probe" if "topic_probe" in metrics else metrics[0],
                                 description="Metric")
        self.language = W.Dropdown(options=["all"] + list(probe.languages), value="all", description="Language")
        self.color = W.ToggleButtons(options=[("topic", "topic"), ("language", "lang")], value="topic",
                                     description="Colour by")
        self.map_out, self.curve_out, self.table_out = W.Output(), W.Output(), W.Output()
        self.map_frame: pd.DataFrame | None = None
        self.metric_row: pd.Series | None = None
        for w in (self.checkpoint, self.language, self.color):
            w.observe(lambda _change: self.update_map(), names="value")
        for w in (self.checkpoint, self.metric):
            w.observe(lambda _change: self.update_curve(), names="value")
        self.update_map()
        self.update_curve()

    def embeddings(self, step: int) -> np.ndarray:
        """The probe embeddings saved at ``step``: (n_probe, hidden)."""
        return np.load(self.files[self.steps.index(step)])

    def update_map(self) -> None:
        x = self.embeddings(self.checkpoint.value)
        corpus = self.probe
        if self.language.value != "all":
            corpus = self.probe.subset(langs=[self.language.value])
            x = x[self.probe.frame["lang"].to_numpy() == self.language.value]
        self.map_frame = viz.map_frame(x, corpus, method=self.method, seed=self.seed)
        title = f"{self.run.name}: probe sentences at step {self.checkpoint.value}"
        _replace_chart(self.map_out, viz.embedding_map(self.map_frame, color=self.color.value, title=title,
                                                       method=self.method))

    def update_curve(self) -> None:
        ev = self.run.evals
        self.metric_row = ev[ev["step"] == self.checkpoint.value].iloc[0]
        _replace_chart(self.curve_out, viz.metric_over_steps(ev, self.metric.value, self.checkpoint.value, self.run.name))
        with self.table_out:
            self.table_out.clear_output(wait=True)
            display(self.metric_row.drop("step").to_frame(f"step {self.checkpoint.value}").T.round(3))

    def view(self) -> W.Widget:
        controls = W.HBox([self.checkpoint, self.metric])
        filters = W.HBox([self.language, self.color])
        return W.VBox([controls, filters, W.HBox([self.map_out, self.curve_out]), self.table_out])


class CueExplorer:
    """Type a sentence; see the anchors the teacher and the student pick, and the cue tokens.

    Args:
        setup: the :class:`~ecr_lab.experiment.Setup` (training texts, teacher rows, anchors).
        run: a trained run (its model, tokenizer and projector are the student side).
        teacher: the teacher encoder (only to show the teacher's choice; ECR's inference never calls it).
        ks: the K values offered; anchors and projectors for other K are derived once and cached.
    """

    def __init__(self, setup, run, teacher, ks: tuple[int, ...] | None = None, text: str = ""):
        self.setup, self.run, self.teacher = setup, run, teacher
        self.student = run.student  # the ECRModel: its projection step is the student side
        ks = tuple(sorted(set(ks or setup.profile.k_sweep) | {run.anchors.k}))
        self._train_feats = self.student.cue_features(setup.train.texts)
        self._by_k: dict[int, tuple] = {run.anchors.k: (run.anchors, run.projector)}
        self._topics: dict[int, list] = {}
        self.text = W.Text(value=text, placeholder="Type a sentence in en, de, fr, es, ru, zh, ja or ar",
                           description="Sentence", continuous_update=False, layout=W.Layout(width="640px"))
        wide = {"description_width": "initial"}
        self.k = W.SelectionSlider(options=list(ks), value=run.anchors.k, description="K", continuous_update=False,
                                   style=wide)
        self.temperature = W.FloatLogSlider(value=0.1, base=10, min=-2, max=0, step=0.1, description="Temperature",
                                            continuous_update=False, style=wide)
        self.m = W.IntSlider(value=run.config.m_cues, min=1, max=4, description="m cues", continuous_update=False,
                             style=wide)
        self.info_out, self.chart_out = W.Output(), W.Output()
        self.result: dict = {}
        for w in (self.text, self.k, self.temperature, self.m):
            w.observe(lambda _change: self.update(), names="value")
        self.update()

    def anchors_for(self, k: int):
        """(anchors, projector) for K = k, derived from the training rows and cached."""
        if k not in self._by_k:
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

    def explain(self, text: str, k: int | None = None, temperature: float | None = None, m: int | None = None) -> dict:
        """What ECR does with ``text``: {"ok", "message", "teacher", "student", "cues", "scores"}.

        ``ok`` is False (with a friendly ``message``) for an empty sentence or one written in a script
        none of the corpus languages use.
        """
        k = k or self.k.value
        temperature = temperature or self.temperature.value
        m = m or self.m.value
        text = (text or "").strip()
        if not text:
            return {"ok": False, "message": "Type a sentence above to see its anchors and cue tokens."}
        scripts = detect_scripts(text)
        foreign = scripts - CORPUS_SCRIPTS
        if foreign or not scripts:
            what = ", ".join(sorted(foreign)) or "no letters"
            return {"ok": False, "message": (
                f"This sentence uses {what}, which none of the corpus languages ({', '.join(self.setup.corpus.languages)}) "
                "are written in: the anchors know nothing about it. Try a sentence in one of those languages.")}
        anchors, projector = self.anchors_for(k)
        t_cos = anchors.similarities(self.teacher.encode([text]))[0]
        t_scores = softmax(t_cos / temperature)
        s_scores = projector.scores(self.student.cue_features([text]), temperature)[0]
        topics = self._anchor_topics(k)
        t_top, s_top = np.argsort(-t_scores)[:m], np.argsort(-s_scores)[:m]
        shown = list(dict.fromkeys(list(np.argsort(-t_scores)[:6]) + list(np.argsort(-s_scores)[:6])))
        scores = pd.DataFrame([{"anchor": cue_token(a), "source": src, "score": float(sc[a]), "top_topic": topics[a]}
                               for a in shown for src, sc in (("teacher", t_scores), ("student", s_scores))])
        return {"ok": True, "message": "", "teacher": [int(a) for a in t_top], "student": [int(a) for a in s_top],
                "cues": "".join(cue_token(a) for a in s_top), "agree": bool(t_top[0] == s_top[0]),
                "topics": {int(a): topics[a] for a in set(t_top) | set(s_top)}, "scores": scores}

    def update(self) -> None:
        self.result = self.explain(self.text.value)
        r = self.result
        with self.info_out:
            self.info_out.clear_output(wait=True)
            if not r["ok"]:
                display(HTML(f"<p style='color:#a15c00'>{html.escape(r['message'])}</p>"))
            else:
                def fmt(ids):
                    return ", ".join(f"<code>{html.escape(cue_token(a))}</code> ({html.escape(str(r['topics'][a]))})" for a in ids)

                display(HTML(
                    f"<p><b>Teacher anchors</b> (offline, for reference): {fmt(r['teacher'])}<br>"
                    f"<b>Student's projected anchors</b> (what ECR uses at inference): {fmt(r['student'])}<br>"
                    f"<b>Input the student sees</b>: <code>{html.escape(r['cues'])}</code> {html.escape(self.text.value)}<br>"
                    f"Top-1 agreement: <b>{'yes' if r['agree'] else 'no'}</b></p>"))
        with self.chart_out:
            self.chart_out.clear_output(wait=True)
            if r["ok"]:
                display(viz.cue_scores_chart(r["scores"], title=f"Anchor scores (K={self.k.value}, T={self.temperature.value:.2f})"))

    def view(self) -> W.Widget:
        return W.VBox([self.text, W.HBox([self.k, self.temperature, self.m]), self.info_out, self.chart_out])
