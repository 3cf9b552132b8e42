"""Bring your own data (issue 15): ``ecr-lab run --corpus PATH|hf:NAME[:CONFIG[:SPLIT]] --columns MAP``.

The corpora are written by the tests from rows of the bundled corpus (so the teacher's embeddings
mean something), as JSONL with the corpus's own column names and as CSV with other names mapped by
``--columns``. Nothing is loaded from a hub: ``hf:`` specs are tested with ``load_hf`` replaced.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ecr_lab import cli, data, pipeline
from ecr_lab.config import get_profile
from ecr_lab.data import (
    LANGUAGES,
    Corpus,
    CorpusError,
    format_columns,
    load_corpus,
    load_corpus_spec,
    missing_labels,
    missing_labels_message,
    parse_columns,
)

LANGS = ("en", "de", "zh")
#: 20 meaning units per topic: 4 of every topic in each held-out split, the fewest the probes accept
UNITS = 20
CSV_COLUMNS = {"text": "sentence", "lang": "language", "topic": "category", "pair_id": "index_id"}
COLUMNS_ARG = ",".join(f"{target}={source}" for target, source in CSV_COLUMNS.items())
# a tiny run: the whole (small) corpus, 4 steps, the baseline and the claim condition only
TINY = get_profile("fast").replace(units_per_topic=None, languages=None, train_steps=4, eval_every=2, k_anchors=6,
                                   batch_size=8, kmeans_restarts=1, conditions=("baseline", "ecr+kd"), seeds=1)


@pytest.fixture(scope="module")
def small(corpus) -> Corpus:
    """3 topics x 20 meaning units x 3 languages = 180 rows of the bundled corpus."""
    sub = corpus.subset(langs=LANGS, topics=corpus.topics[:3], units_per_topic=UNITS, seed=0)
    assert len(sub) == 3 * UNITS * len(LANGS)
    return sub


@pytest.fixture(scope="module")
def files(small, tmp_path_factory) -> dict:
    """The same rows as ``corpus.jsonl`` (own column names), ``corpus.csv`` (other names, FLORES
    language codes) and ``no_topic.csv`` (no topic column)."""
    folder = tmp_path_factory.mktemp("byod")
    frame = small.frame
    jsonl = folder / "corpus.jsonl"
    jsonl.write_text(frame.to_json(orient="records", lines=True, force_ascii=False), encoding="utf-8")
    other = frame.rename(columns=CSV_COLUMNS).assign(language=[LANGUAGES[x][2] for x in frame["lang"]])
    csv = folder / "corpus.csv"
    other.to_csv(csv, index=False)
    no_topic = folder / "no_topic.csv"
    other.drop(columns=["category"]).to_csv(no_topic, index=False)
    return {"jsonl": jsonl, "csv": csv, "no_topic": no_topic, "folder": folder}


# -- --columns ---------------------------------------------------------------------------------
def test_parse_columns_gives_source_to_target():
    cols = parse_columns(" text=sentence, lang=language,topic=category,pair_id=index_id ,")
    assert cols == {"sentence": "text", "language": "lang", "category": "topic", "index_id": "pair_id"}
    assert parse_columns(format_columns(cols)) == cols
    assert format_columns(cols) == COLUMNS_ARG


@pytest.mark.parametrize(("arg", "match"), [
    ("", "names no column"),
    ("text", "is not TARGET=SOURCE"),
    ("text=", "is not TARGET=SOURCE"),
    ("=sentence", "is not TARGET=SOURCE"),
    ("label=category", r"unknown target column 'label'.*text, lang, topic, pair_id"),
    ("sentence=text", r"did you mean text=sentence\?"),
    ("text=a,text=b", "maps 'text' twice"),
    ("text=a,lang=a", "maps the column 'a' to both"),
])
def test_parse_columns_rejects_malformed(arg, match):
    with pytest.raises(CorpusError, match=match):
        parse_columns(arg)


# -- --corpus ----------------------------------------------------------------------------------
def test_local_files_load_to_the_same_corpus(files, small):
    from_jsonl = load_corpus_spec(files["jsonl"])
    from_csv = load_corpus_spec(str(files["csv"]), parse_columns(COLUMNS_ARG))
    assert from_jsonl.content_hash() == from_csv.content_hash() == small.content_hash()
    assert from_csv.languages == list(LANGS) and len(from_csv.topics) == 3
    assert missing_labels(from_csv) == {} and missing_labels_message(from_csv) == ""
    with pytest.raises(CorpusError, match=r"column mapping names \['category'\]"):
        load_corpus_spec(files["no_topic"], parse_columns(COLUMNS_ARG))


def test_missing_file_and_bundled_spec(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*hf:NAME"):
        load_corpus_spec(tmp_path / "nope.jsonl")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_corpus_spec(tmp_path)
    with pytest.raises(CorpusError, match="--corpus is empty"):
        load_corpus_spec("  ")
    assert len(load_corpus_spec("bundled")) == len(load_corpus())
    with pytest.raises(CorpusError, match="does not apply to the bundled corpus"):
        load_corpus_spec("bundled", {"s": "text"})


def test_hf_specs_call_load_hf(monkeypatch, small):
    calls = []

    def fake_load_hf(path, config=None, split="train", columns=None, lang=None, extra_langs=(), **kw):
        calls.append({"path": path, "config": config, "split": split, "columns": columns, "lang": lang})
        rows = small.frame[small.frame["lang"] == (lang or "en")]
        return Corpus.from_frame(rows, name=f"{path}[{config}/{split}]")

    monkeypatch.setattr(data, "load_hf", fake_load_hf)
    c = load_corpus_spec("hf:someone/parallel")
    assert calls[-1] == {"path": "someone/parallel", "config": None, "split": "train", "columns": None, "lang": None}
    assert c.languages == ["en"]
    cols = {"index_id": "pair_id", "category": "topic"}
    calls.clear()
    c = load_corpus_spec("hf:Davlan/sib200:eng_Latn+deu_Latn+zho_Hans:test", cols)
    assert [(k["config"], k["lang"], k["split"], k["columns"]) for k in calls] == [
        ("eng_Latn", "en", "test", cols), ("deu_Latn", "de", "test", cols), ("zho_Hans", "zh", "test", cols)]
    assert c.languages == ["en", "de", "zh"] and c.name == "hf:Davlan/sib200:eng_Latn+deu_Latn+zho_Hans:test"
    assert missing_labels(c) == {}
    calls.clear()
    load_corpus_spec("hf:AmazonScience/massive:en-US", {"locale": "lang", "utt": "text"})  # lang mapped: kept
    load_corpus_spec("hf:org/data:default:")  # not a language: no lang; empty split: train
    assert [(k["config"], k["lang"], k["split"]) for k in calls] == [("en-US", None, "train"),
                                                                    ("default", None, "train")]
    for bad in ("hf:", "hf::cfg", "hf:a:b:c:d", "hf:a:en+:train"):
        with pytest.raises(CorpusError, match="hf:NAME|empty config"):
            load_corpus_spec(bad)


# -- missing labels ------------------------------------------------------------------------------
def test_missing_labels_name_the_metrics(small):
    f = small.frame
    no_topic = Corpus.from_frame(f.drop(columns=["topic"]), name="no-topic")
    assert missing_labels(no_topic) == {"topic": ["topic_probe", "silhouette_topic", "cross_lingual_transfer"]}
    msg = missing_labels_message(no_topic, {"topic_probe": ["C5"], "silhouette_topic": ["C2"]})
    assert "no-topic has 0 topic(s)" in msg and "topic_probe, silhouette_topic, cross_lingual_transfer" in msg
    assert "claim(s) C2, C5" in msg and "--columns topic=" in msg
    one_topic = Corpus.from_frame(f.assign(topic="all"))
    assert set(missing_labels(one_topic)) == {"topic"}
    unpaired = Corpus.from_frame(f.drop(columns=["pair_id"]), name="unpaired")
    assert missing_labels(unpaired) == {"pair_id": ["retrieval_at_1", "topic_probe", "language_probe"]}
    assert "has no pair_id" in missing_labels_message(unpaired)
    own_ids = Corpus.from_frame(f.assign(pair_id=[f"r{i}" for i in range(len(f))]), name="own-ids")
    assert missing_labels(own_ids) == {"pair_id": ["retrieval_at_1"]}
    assert "none is shared by rows of two languages" in missing_labels_message(own_ids)
    english = Corpus.from_frame(f[f["lang"] == "en"])
    assert missing_labels(english) == {"lang": ["retrieval_at_1", "cross_lingual_transfer", "language_probe",
                                                "silhouette_language"]}
    no_en = Corpus.from_frame(f[f["lang"] != "en"])
    assert missing_labels(no_en) == {"lang": ["cross_lingual_transfer"]}
    assert "no English (en) rows" in missing_labels_message(no_en)


# -- the CLI: parsing only (run_pipeline replaced) -------------------------------------------------
@pytest.fixture
def captured(monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_pipeline", lambda *a, **k: calls.append((a, k)))
    return calls


def test_cli_run_passes_corpus_and_columns(captured, files, tmp_path, small):
    argv = ["run", "--profile", "fast", "--corpus", str(files["csv"]), "--columns", COLUMNS_ARG, "--out", str(tmp_path)]
    assert cli.main(argv) == 0
    (args, kwargs), = captured
    assert args == ("fast", str(tmp_path), None)
    assert kwargs == {"corpus": str(files["csv"]), "columns": parse_columns(COLUMNS_ARG)}
    # what run_pipeline does with them first
    assert load_corpus_spec(kwargs["corpus"], kwargs["columns"]).content_hash() == small.content_hash()
    assert cli.main(["run", "--out", str(tmp_path)]) == 0
    assert captured[-1][1] == {"corpus": None, "columns": None}
    # without --out, your own data gets its own folder (the bundled corpus's runs stay in ecr_runs)
    for spec, out in ((str(files["csv"]), "ecr_runs/corpus"), ("bundled", "ecr_runs"), (None, "ecr_runs"),
                      ("hf:Davlan/sib200:eng_Latn+deu_Latn", "ecr_runs/Davlan_sib200_eng_Latn+deu_Latn")):
        assert cli.main(["run"] + (["--corpus", spec] if spec else [])) == 0
        assert captured[-1][0][1] == out


def test_cli_run_rejects_bad_columns(captured, capsys, files):
    with pytest.raises(SystemExit) as e:
        cli.main(["run", "--corpus", str(files["csv"]), "--columns", "text=sentence,label=category"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "argument --columns" in err and "unknown target column 'label'" in err and "pair_id" in err
    assert cli.main(["run", "--columns", COLUMNS_ARG]) == 2
    assert "give --corpus too" in capsys.readouterr().err
    assert not captured


def test_cli_run_reports_bad_data_without_traceback(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("ecr_lab.experiment.prepare", lambda *a, **k: pytest.fail("prepared a corpus it cannot load"))
    assert cli.main(["run", "--corpus", str(tmp_path / "missing.csv"), "--out", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,language\nhello,xx\n", encoding="utf-8")
    assert cli.main(["run", "--corpus", str(bad), "--columns", "text=sentence,lang=language", "--out", str(tmp_path)]) == 2
    assert "unknown language code 'xx'" in capsys.readouterr().err


# -- the pipeline on your own data -----------------------------------------------------------------
def test_unpaired_corpus_is_refused_before_any_work(small, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("ecr_lab.experiment.prepare", lambda *a, **k: pytest.fail("prepared an unpaired corpus"))
    unpaired = Corpus.from_frame(small.frame.drop(columns=["pair_id"]), name="unpaired")
    with pytest.raises(CorpusError, match="needs meaning units shared across languages.*--columns pair_id="):
        pipeline.run_pipeline(TINY, tmp_path / "out", corpus=unpaired, progress=False)
    assert "retrieval_at_1, topic_probe, language_probe" in capsys.readouterr().out
    assert not (tmp_path / "out").exists()


def test_too_few_units_per_topic_is_refused_before_training(corpus, tmp_path, monkeypatch, cache_root):
    monkeypatch.setattr("ecr_lab.experiment.train_matrix", lambda *a, **k: pytest.fail("trained on a corpus too small"))
    sub = corpus.subset(langs=LANGS, topics=corpus.topics[:6], units_per_topic=8, seed=0)  # 144 rows
    path = tmp_path / "six_topics.jsonl"
    path.write_text(sub.frame.to_json(orient="records", lines=True, force_ascii=False), encoding="utf-8")
    with pytest.raises(CorpusError, match="too small for the probes.*at least 4 meaning units of every topic"):
        pipeline.run_pipeline(TINY, tmp_path / "out", corpus=str(path), progress=False)


def test_pipeline_runs_on_a_jsonl_corpus(files, tmp_path, cache_root, capsys):
    res = pipeline.run_pipeline(TINY, tmp_path, corpus=str(files["jsonl"]), progress=False)
    printed = capsys.readouterr().out
    assert "corpus: Corpus(" in printed and "180 rows, 3 languages, 3 topics, 60 meaning units" in printed
    assert "skipped" not in printed
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]
    assert summary["corpus"] == str(files["jsonl"]) and summary["topics"] == 3 and summary["languages"] == "en de zh"
    assert f"--corpus {files['jsonl']}" in summary["command"] and "--columns" not in summary["command"]
    assert "skipped_metrics" not in summary
    results = pd.read_csv(tmp_path / "results.csv")
    assert {"topic_probe", "retrieval_at_1", "cross_lingual_transfer"} <= set(results.metric)
    assert list(dict.fromkeys(res["claims"]["claim"])) == ["C1", "C2", "C3", "C4", "C5", "C6"]
    assert "data:image/png;base64" in (tmp_path / "report.html").read_text()


def test_pipeline_runs_without_topics_and_says_what_it_skips(files, tmp_path, cache_root, capsys):
    columns = parse_columns("text=sentence,lang=language,pair_id=index_id")
    res = pipeline.run_pipeline(TINY, tmp_path, corpus=str(files["no_topic"]), columns=columns, progress=False)
    printed = capsys.readouterr().out
    assert "has 0 topic(s)" in printed and "topic_probe, silhouette_topic, cross_lingual_transfer" in printed
    assert "C5" in printed and "The rest of the pipeline runs." in printed
    data_ = json.loads((tmp_path / "results.json").read_text())
    summary = data_["summary"]
    assert summary["topics"] == 0 and summary["skipped_metrics"].startswith("no topic: topic_probe")
    assert "--columns text=sentence,lang=language,pair_id=index_id" in summary["command"]
    results = res["results"]
    assert not {"topic_probe", "silhouette_topic", "cross_lingual_transfer"} & set(results.metric)
    assert {"retrieval_at_1", "language_probe", "cka_to_teacher"} <= set(results.metric)
    claims = res["claims"]
    assert (claims[claims.claim == "C5"]["verdict"] == "n/a").all()
    c4 = claims[claims.claim == "C4"]
    assert set(c4.loc[c4.metric.str.endswith("cross_lingual_transfer"), "metric_verdict"]) == {"n/a"}
    html = (tmp_path / "report.html").read_text()
    assert "skipped_metrics" in html and "C5" in html
