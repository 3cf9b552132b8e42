"""Corpus, validation, split and loaders (local files and Hugging Face datasets on local folders)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ecr_lab import data
from ecr_lab.data import Corpus, CorpusError


def _records(units=6, langs=("en", "de"), topics=("a", "b")):
    rows = []
    for t in topics:
        for u in range(units):
            for lang in langs:
                rows.append({"text": f"{t} sentence {u} in {lang}", "lang": lang, "topic": t, "pair_id": f"{t}-{u}"})
    return rows


def test_bundled_corpus_meets_the_spec(corpus):
    assert len(corpus) >= 4800
    assert set(corpus.languages) == set(data.BUNDLED_LANGUAGES)
    assert len(corpus.topics) >= 12
    units = corpus.frame.groupby("topic")["pair_id"].nunique()
    assert (units >= 50).all(), units
    # every meaning unit is written in every language
    per_unit = corpus.frame.groupby("pair_id")["lang"].nunique()
    assert (per_unit == 8).all()
    scripts = {data.LANGUAGES[lang][1] for lang in corpus.languages}
    assert len(scripts) >= 4
    en = corpus.frame[corpus.frame.lang == "en"]["text"]
    words = en.str.split().str.len()
    assert words.between(6, 25).all(), en[~words.between(6, 25)].tolist()[:3]
    assert en.is_unique


def test_summary_table(corpus):
    s = corpus.summary()
    assert list(s.columns)[-1] == "total" and s.index[-1] == "total"
    assert s.loc["total", "total"] == len(corpus)


def test_subset_and_units_keep_all_languages(corpus):
    sub = corpus.subset(langs=["en", "zh"], topics=["food"])
    assert set(sub.languages) == {"en", "zh"} and sub.topics == ["food"]
    small = corpus.subset(units_per_topic=5, seed=1)
    assert small.frame.groupby("topic")["pair_id"].nunique().eq(5).all()
    assert small.frame.groupby("pair_id")["lang"].nunique().eq(8).all()
    assert small.frame.equals(corpus.subset(units_per_topic=5, seed=1).frame)
    with pytest.raises(CorpusError, match="no rows in"):
        corpus.subset(langs=["ko"])
    with pytest.raises(CorpusError, match="no topic"):
        corpus.subset(topics=["astrology"])


def test_split_never_straddles_translations(corpus):
    train, test = corpus.split(test_size=0.25, seed=0)
    assert len(train) + len(test) == len(corpus)
    assert not set(train.pair_ids) & set(test.pair_ids)
    frac = test.frame.groupby("topic")["pair_id"].nunique() / corpus.frame.groupby("topic")["pair_id"].nunique()
    assert frac.between(0.15, 0.35).all()
    again = corpus.split(test_size=0.25, seed=0)[1]
    assert test.frame.equals(again.frame)


def test_content_hash_changes_with_content():
    a = Corpus.from_records(_records())
    b = Corpus.from_records(_records()[:-1])
    assert a.content_hash() == Corpus.from_records(_records()).content_hash()
    assert a.content_hash() != b.content_hash()


@pytest.mark.parametrize(
    "records, match",
    [
        ([], "empty"),
        ([{"text": "hello there", "lang": "xx"}], "unknown language code 'xx'"),
        ([{"text": "  ", "lang": "en"}], "no text"),
        ([{"text": None, "lang": "en"}], "no text"),
        ([{"text": "a b", "lang": "en", "pair_id": "1"}, {"text": "c d", "lang": "en", "pair_id": "1"}], "pair_id '1' appears 2 times"),
        ([{"sentence": "hello", "language": "en"}], r"lacks the column\(s\) \['text', 'lang'\]"),
    ],
)
def test_bad_input_is_a_clear_error(records, match):
    with pytest.raises(CorpusError, match=match):
        Corpus.from_frame(pd.DataFrame(records), name="t")


def test_language_codes_normalised():
    assert data.normalize_lang("de-DE") == "de"
    assert data.normalize_lang("zho_Hans") == "zh"
    assert data.normalize_lang("arb_Arab") == "ar"
    assert data.normalize_lang("ja_JP") == "ja"
    assert data.normalize_lang("tlh", extra_langs=["tlh"]) == "tlh"


def test_load_local_jsonl_csv_tsv(tmp_path):
    recs = _records()
    (tmp_path / "c.jsonl").write_text("\n".join(json.dumps(r) for r in recs), encoding="utf-8")
    pd.DataFrame(recs).to_csv(tmp_path / "c.csv", index=False)
    pd.DataFrame(recs).rename(columns={"text": "sentence"}).to_csv(tmp_path / "c.tsv", sep="\t", index=False)
    a = data.load_local(tmp_path / "c.jsonl")
    b = data.load_local(tmp_path / "c.csv")
    c = data.load_local(tmp_path / "c.tsv", columns={"sentence": "text"})
    assert len(a) == len(b) == len(c) == len(recs)
    assert a.frame.equals(b.frame) and a.frame.equals(c.frame)


def test_load_local_errors(tmp_path):
    bad = tmp_path / "latin1.csv"
    bad.write_bytes("text,lang\ncaf\xe9 au lait pour moi,fr\n".encode("latin-1"))
    with pytest.raises(CorpusError, match=r"not UTF-8 \(byte 0xe9 .* line 2\)"):
        data.load_local(bad)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("sentence,language\nhello there,en\n")
    with pytest.raises(CorpusError, match="lacks the column"):
        data.load_local(wrong)
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"text": "ok fine", "lang": "en"}\n{"text": oops}\n')
    with pytest.raises(CorpusError, match="line 2: not valid JSON"):
        data.load_local(broken)
    with pytest.raises(CorpusError, match="unsupported format"):
        data.load_local(tmp_path / "wrong.csv", fmt="xml")
    with pytest.raises(CorpusError, match="mapping names"):
        data.load_local(wrong, columns={"txt": "text"})


def _hf_folder(root, configs: dict[str, pd.DataFrame]):
    """A local dataset folder with one config per language, like the hub layout (README YAML)."""
    lines = ["---", "configs:"]
    for name, df in configs.items():
        (root / name).mkdir(parents=True)
        df.to_csv(root / name / "train.tsv", sep="\t", index=False)
        lines += [f"- config_name: {name}", "  data_files:", "  - split: train", f"    path: {name}/train.tsv"]
    (root / "README.md").write_text("\n".join(lines + ["---", ""]))
    return root


def test_load_sib200_from_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    cats = ["science/technology", "sports", "health"]
    eng = pd.DataFrame({"index_id": [1, 2, 3], "category": cats, "text": ["The sun is a star.", "He scored twice.", "Drink water daily."]})
    deu = pd.DataFrame({"index_id": [1, 2, 3], "category": cats, "text": ["Die Sonne ist ein Stern.", "Er traf zweimal.", "Trink täglich Wasser."]})
    folder = _hf_folder(tmp_path / "sib", {"eng_Latn": eng, "deu_Latn": deu})
    c = data.load_sib200(langs=["en", "de"], path=str(folder))
    assert len(c) == 6 and set(c.languages) == {"en", "de"}
    assert c.frame.groupby("pair_id")["lang"].nunique().eq(2).all()
    assert set(c.topics) == set(cats)


def test_load_massive_from_local_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    en = pd.DataFrame({"id": ["0", "1"], "locale": "en-US", "scenario": ["alarm", "weather"], "utt": ["wake me up at six", "will it rain tomorrow"]})
    ja = pd.DataFrame({"id": ["0", "1"], "locale": "ja-JP", "scenario": ["alarm", "weather"], "utt": ["六時に起こして", "明日は雨が降りますか"]})
    folder = _hf_folder(tmp_path / "massive", {"en-US": en, "ja-JP": ja})
    c = data.load_massive(locales=["en-US", "ja-JP"], path=str(folder))
    assert set(c.languages) == {"en", "ja"} and len(set(c.pair_ids)) == 2
