"""The glossary: every term the notebooks use, defined once, rendered anywhere.

:data:`GLOSSARY` maps a short slug (``"probe"``, ``"knn_overlap"``) to a :class:`Term`. The same
entries render as ``docs/glossary.md`` (``python -m ecr_lab.glossary > docs/glossary.md``; a test
keeps the file in sync), as a "Terms used here" cell in a notebook (:func:`show`), and are checked
against the notebooks' prose (:func:`first_use_violations`).

**The notebook convention.** A term is *defined* in a notebook by a code cell that calls
``glossary.show`` with string literals (slugs, names or aliases), after ``from ecr_lab import
glossary``::

    glossary.show("probe", "meaning_unit", "cka")

A term is *used* wherever its name or an alias occurs, whole word and case-insensitive, with a
plural "s" / "es" allowed, in the source of a **markdown** cell; code, inline code spans, link
targets and HTML tags do not count. Every use must come after a defining cell, the title cell
included (keep glossary terms out of it, or show them in the cell after the title and use them
from there on). Where two terms overlap ("anchor agreement" contains "anchor"), the longer one is
the term used. Markdown cells link to the full entry with ``../docs/glossary.md#term-<slug>``.
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from IPython.display import Markdown
    from nbformat import NotebookNode


@dataclass(frozen=True)
class Term:
    """One glossary entry: its display ``name``, a 1-4 sentence ``definition`` (saying which
    direction is better where that applies), other surface forms a notebook may use (``aliases``),
    and slugs of related entries (``see_also``)."""

    name: str
    definition: str
    aliases: tuple[str, ...] = ()
    see_also: tuple[str, ...] = ()


#: slug -> Term, in reading order: collapse and its measures, the method, the three views
GLOSSARY: dict[str, Term] = {
    # -- collapse and how it is measured --------------------------------------------------------
    "collapse": Term(
        "embedding collapse",
        "A model's sentence embeddings lose the structure that carries meaning. Here that means a "
        "space organised by language instead of topic: sentences of one language sit together "
        "whatever they say and translations end up far apart, sometimes with all rows in a narrow "
        "cone or on a few directions. It can happen while the training loss looks fine, so it is "
        "measured with the metrics below rather than with the loss.",
        ("collapse", "collapsed"),
        ("probe", "retrieval_at_1", "anisotropy", "effective_rank"),
    ),
    "probe": Term(
        "probe",
        "A small classifier (here a logistic regression on standardised embeddings) trained to "
        "read a label off frozen embeddings; its held-out accuracy says how readable the label is. "
        "The topic probe should be high, well above the majority rate (guessing the most frequent "
        "topic); a language probe near 1 means language dominates the space. It is split by "
        "meaning unit, so the translations of one sentence never sit on both sides: otherwise it "
        "could score by recognising the translation of a training sentence instead of its topic.",
        ("linear probe", "topic probe", "language probe"),
        ("meaning_unit", "cross_lingual_transfer"),
    ),
    "cka": Term(
        "CKA",
        "Linear centred kernel alignment (Kornblith et al., 2019) compares the geometry of two "
        "embedding matrices of the same texts, after centring, ignoring rotations and uniform "
        "scaling (the two widths may differ). It lies in [0, 1]: 1 = the same geometry, 0 = "
        "unrelated. CKA to the teacher: higher is better.",
        ("linear CKA", "centred kernel alignment", "centered kernel alignment"),
        ("knn_overlap", "drift"),
    ),
    "knn_overlap": Term(
        "kNN overlap",
        "For each text, the share of its k nearest neighbours (by cosine, k = 10, the text itself "
        "excluded) that are the same in two spaces, averaged over texts. To the teacher, higher is "
        "better: 1 = the student agrees with the teacher on every neighbourhood, about k/(n-1) = "
        "unrelated. It is local where CKA is global.",
        ("knn overlap", "k-NN overlap", "neighbourhood overlap", "neighborhood overlap"),
        ("cka", "drift"),
    ),
    "effective_rank": Term(
        "effective rank",
        "How many directions the embeddings really use: exp of the entropy of the normalised "
        "singular values of the centred embedding matrix (Roy & Vetterli, 2007). It runs from 1 "
        "(every row on one line: collapsed) to min(n - 1, d) (variance spread evenly over every "
        "direction; centring removes one direction of n rows); higher is healthier.",
        ("erank",),
        ("anisotropy",),
    ),
    "anisotropy": Term(
        "anisotropy",
        "The mean cosine similarity of pairs of distinct embeddings (every pair of a small set, "
        "else 5,000 random pairs). Near 0 the rows point every which way (healthy); near 1 they "
        "all sit in one narrow cone (collapsed). Lower is better.",
        ("anisotropic",),
        ("effective_rank",),
    ),
    "retrieval_at_1": Term(
        "retrieval@1",
        "Cross-lingual retrieval at 1: for each text, is its nearest text (by cosine) among the "
        "texts of the other languages one of its translations? The share of yes over the texts "
        "that have a translation: 1 = translations always found (a space organised by meaning), "
        "near 0 = language dominates. Higher is better.",
        ("retrieval at 1", "cross-lingual retrieval", "retrieval"),
        ("meaning_unit",),
    ),
    "cross_lingual_transfer": Term(
        "cross-lingual transfer",
        "Zero-shot cross-lingual topic transfer: a logistic topic classifier trained on the "
        "English rows only, scored on the rows of every other language. It is high only when a "
        "topic lives in the same region whatever the language, and near the majority rate when "
        "language dominates. Higher is better.",
        ("zero-shot transfer",),
        ("probe",),
    ),
    "silhouette": Term(
        "silhouette",
        "How well rows group by a label, in [-1, 1], with cosine distances on a sample of at most "
        "2,000 rows: per row (b - a) / max(a, b), a its mean distance to its own group, b to the "
        "nearest other group, averaged. By topic, above 0 means topics form regions (higher is "
        "better); by language, above 0 means the space clusters by language (lower is better). "
        "In the K sweep it scores the anchors' clusters themselves (higher = better separated).",
        ("silhouette score", "topic silhouette", "language silhouette"),
        ("topic_purity",),
    ),
    "drift": Term(
        "drift",
        "How much a student's embedding space changes between two checkpoints, on the same texts: "
        "1 - CKA between them (0 = unchanged geometry) and kNN churn, 1 - kNN overlap between them "
        "(the share of each text's neighbours that changed). The training view averages them "
        "between successive evaluations over the late half of training (kNN churn over the early "
        "half too); late in training, lower is more stable.",
        ("kNN churn", "neighbourhood churn", "neighborhood churn"),
        ("cka", "knn_overlap"),
    ),
    "loss_spike": Term(
        "loss spike",
        "A training step whose loss exceeds 1.5 x the median loss of the previous 20 steps. "
        "Read on runs trained with gradient clipping off, as a sign of unstable training: fewer "
        "is better. Claim C3 (ECR trains stably without clipping) reads them in a stress "
        "regime where a run can spike at all.",
        ("spike", "spiked"),
        (),
    ),
    # -- the method -------------------------------------------------------------------------------
    "meaning_unit": Term(
        "meaning unit",
        "One sentence and its translations: the corpus rows sharing a `pair_id` (in the bundled "
        "corpus, one sentence in 8 languages). Splits into training, validation and test, and the "
        "probes' held-out splits, are made by meaning unit, so no translation of a test sentence "
        "is ever seen in training.",
        ("pair_id", "pair id"),
        ("probe",),
    ),
    "anchor": Term(
        "anchor",
        "A semantic anchor is one of K unit directions in the teacher's embedding space, found "
        "once, offline, by spherical k-means on the teacher embeddings of the training sentences: "
        "each is the normalised mean direction of the sentences closest to it by cosine. Anchors "
        "are numbered by size (0 is the largest). Good anchors are topic-pure and language-mixed: "
        "they stand for a meaning, not a language.",
        ("semantic anchor", "anchor set"),
        ("topic_purity", "cue"),
    ),
    "cue": Term(
        "control token",
        "A control token `<ecr_i>` is a special token added to the student's vocabulary for anchor "
        "i, one per anchor. A text's cues are the control tokens of its top-m anchors, prepended "
        "to its input (`[<ecr_a> <ecr_b>] + text`) and labelled -100, so the language-model loss is "
        "on the text tokens only. In training the cues come from the teacher (teacher cues), at "
        "inference from the projection step.",
        ("cue", "cue token", "teacher cue", "projected cue"),
        ("anchor", "projection_step"),
    ),
    "projection_step": Term(
        "projection step",
        "How ECR picks a text's cues at inference, without the teacher (`AnchorProjector`): it reads "
        "a cheap student feature (by default the mean token embedding), standardises it and "
        "applies a small map fitted once on training rows. The default map is a K-way logistic "
        "classifier of the teacher's top-1 anchor; ridge or Procrustes into the teacher space "
        "(scored against the anchors by cosine) and the KD head are the alternatives. Its top-m "
        "anchors become the cue tokens.",
        ("projector", "anchor projector", "AnchorProjector"),
        ("mean_token_embedding", "anchor_agreement", "temperature"),
    ),
    "mean_token_embedding": Term(
        "mean token embedding",
        "The mean of a student's input token embeddings over a text's tokens: the rows of its "
        "embedding table for the text's subwords, before any transformer layer. A bag of "
        "subwords (word order and context ignored), so it is cheap: one table lookup, no forward "
        "pass. It is the default feature of the projection step; the embedding the metrics read "
        "is the mean-pooled last hidden state instead.",
        ("mean input token embedding", "mean input embedding"),
        ("projection_step",),
    ),
    "anchor_agreement": Term(
        "anchor agreement",
        "The share of texts whose top-1 anchor chosen by the projection step is the teacher's "
        "top-1 anchor. Chance is about 1/K; higher is better. It limits what ECR at inference can "
        "recover of the oracle: wrong projected cues give the student wrong hints.",
        (),
        ("projection_step", "oracle", "ecr_inference"),
    ),
    "temperature": Term(
        "temperature",
        "The number T that divides the projection step's anchor scores before the softmax: "
        "p = softmax(score / T); a small T makes the probabilities peaked, a large T flat. Dividing "
        "by T keeps the order of the scores, so it never changes which top-m anchors become cues; "
        "it matters only where the probabilities themselves are used: the soft-cue router mixes "
        "cue embeddings with them, and notebook 04's anchor-score charts show them.",
        ("softmax temperature",),
        ("projection_step",),
    ),
    "distillation": Term(
        "distillation",
        "Knowledge distillation (KD) as run here: the `kd` condition adds to the language-model loss "
        "`kd_weight` x (1 - cos(head(student), teacher)), where a linear head maps the student's "
        "mean-pooled hidden state into the teacher's space. It is ECR's conventional rival (the "
        "same teacher signal, through a loss instead of input tokens); `ecr+kd` uses both, and a "
        "claim is credited to ECR only when it beats KD too.",
        ("KD", "knowledge distillation", "embedding distillation"),
        ("projection_step",),
    ),
    # -- the three views of an ECR student ---------------------------------------------------------
    "cue_free": Term(
        "cue-free",
        "The `cue_free` view: the student's own embedding of the plain text, no cue tokens. It shows "
        "what training did to the representation itself, and it is the only embedding view of "
        "runs trained without cues (the baseline, KD).",
        ("cue_free",),
        ("ecr_inference", "oracle"),
    ),
    "ecr_inference": Term(
        "ECR at inference",
        "The `ecr_inference` view: the student's embedding with the cues its own projection step "
        "chose prepended, no teacher needed. This is the deployable setting; it gets only the part "
        "of the oracle's gain that the projection recovers (see anchor agreement).",
        ("ecr_inference",),
        ("oracle", "cue_free", "anchor_agreement"),
    ),
    "oracle": Term(
        "oracle",
        "The `oracle` view: the student's embedding with the teacher's top-m anchors of each test "
        "text as cues. It needs the teacher at test time, so it cannot be deployed: it is a "
        "reference, what the teacher's own cues give this student (not a guaranteed upper bound: "
        "other cues could in principle do better).",
        (),
        ("ecr_inference", "cue_free"),
    ),
    "topic_purity": Term(
        "topic purity",
        "The share of sentences whose topic is the majority topic of their cluster (here: of "
        "their top-1 anchor); language purity is the same for languages. Topic purity should be "
        "high and language purity low, near 1 / the number of languages. Purity rises with K even "
        "for meaningless labels (smaller clusters are purer by chance), so read it against the "
        "purity of shuffled topic labels.",
        ("purity", "language purity", "topic-pure"),
        ("anchor", "silhouette"),
    ),
}


def _key(text: str) -> str:
    """Lookup key of a name, alias or slug: case-folded, with runs of spaces, "-" and "_" as one space."""
    return " ".join(re.split(r"[\s_-]+", text.casefold().strip()))


@cache
def _index() -> dict[str, str]:
    """Every lookup key (slug, name, alias) -> slug. Raises ValueError when two terms share a key."""
    index: dict[str, str] = {}
    for slug, term in GLOSSARY.items():
        for form in {slug, term.name, *term.aliases}:
            other = index.setdefault(_key(form), slug)
            if other != slug:
                raise ValueError(f"glossary form {form!r} belongs to both {other!r} and {slug!r}")
    return index


def resolve(name_or_alias: str) -> str:
    """The slug of a term given its slug, name or an alias (any case; "-", "_" and spaces alike).

    Raises KeyError naming the closest terms when nothing matches.
    """
    key = _key(name_or_alias)
    if key in _index():
        return _index()[key]
    close = difflib.get_close_matches(key, list(_index()), n=3, cutoff=0.6)
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    raise KeyError(f"{name_or_alias!r} is not in the glossary{hint} (slugs: {', '.join(GLOSSARY)})")


def lookup(name_or_alias: str) -> Term:
    """The :class:`Term` of a slug, name or alias; KeyError naming close matches otherwise."""
    return GLOSSARY[resolve(name_or_alias)]


def markdown(terms: Iterable[str] | None = None, base: str = "") -> str:
    """The chosen terms (slugs, names or aliases; None = all, alphabetically) as Markdown, one
    paragraph per term: ``<a id="term-<slug>"></a>**name**: definition``, then its aliases and
    see-also links. ``base`` prefixes those links (``"../docs/glossary.md"`` from a notebook)."""
    if isinstance(terms, str):
        terms = [terms]
    slugs = sorted(GLOSSARY, key=lambda s: GLOSSARY[s].name.casefold()) if terms is None else [
        resolve(t) for t in terms]
    blocks = []
    for slug in dict.fromkeys(slugs):
        term = GLOSSARY[slug]
        text = f'<a id="term-{slug}"></a>**{term.name}**: {term.definition}'
        if term.aliases:
            text += " *Also:* " + ", ".join(term.aliases) + "."
        if term.see_also:
            links = ", ".join(f"[{GLOSSARY[s].name}]({base}#term-{s})" for s in term.see_also)
            text += f" *See also:* {links}."
        blocks.append(text)
    return "\n\n".join(blocks) + "\n"


def document() -> str:
    """The whole of ``docs/glossary.md``: a title, how to use it, and :func:`markdown` of every term."""
    return (
        "# Glossary\n\n"
        "Every term the notebooks use, defined once. Generated from `ecr_lab/glossary.py` by\n"
        "`python -m ecr_lab.glossary > docs/glossary.md`: edit the module, not this file. Link to a\n"
        "term with `glossary.md#term-<slug>`; in a notebook, `glossary.show(\"probe\", ...)` renders\n"
        "the chosen entries.\n\n" + markdown()
    )


def show(*terms: str, base: str = "../docs/glossary.md") -> Markdown:
    """The chosen terms (all when none are given) as ``IPython.display.Markdown``, for a notebook's
    "Terms used here" cell; see-also links point into ``base`` (the glossary file, relative to the
    notebook). A cell calling ``glossary.show("a", "b")`` defines those terms (:func:`defined_in`)."""
    from IPython.display import Markdown

    return Markdown(markdown(terms or None, base=base))


# -- finding uses and definitions ---------------------------------------------------------------

#: what a use is not: fenced code, inline code spans, HTML comments and tags, link targets, bare URLs
_NOT_PROSE = [
    re.compile(r"^ {0,3}(`{3,}|~{3,}).*?^ {0,3}\1[`~]*[ \t]*$", re.M | re.S),
    re.compile(r"(`+)(?!`).+?(?<!`)\1(?!`)", re.S),
    re.compile(r"<!--.*?-->", re.S),
    re.compile(r"<[^<>\n]*>"),
    re.compile(r"\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"),
    re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+.*$", re.M),
    re.compile(r"https?://\S+"),
]


@cache
def _pattern() -> re.Pattern:
    """One regex for every name and alias, longest first, whole words, optional plural "s" / "es"."""
    forms = sorted({f for t in GLOSSARY.values() for f in (t.name, *t.aliases)}, key=len, reverse=True)
    alts = [r"[\s-]+".join(re.escape(w) for w in re.split(r"[\s-]+", f)) for f in forms]
    return re.compile(r"(?<!\w)(?:" + "|".join(alts) + r")(?:e?s)?(?!\w)", re.I)


def _slug_of_match(found: str) -> str:
    index, key = _index(), _key(found)
    for cut in (key, key[:-1], key[:-2]):  # as written, then without a plural "s" / "es"
        if cut in index:
            return index[cut]
    raise AssertionError(f"glossary pattern matched {found!r} but no term has it")  # pragma: no cover


def mentions(text: str) -> set[str]:
    """Slugs of the terms used in Markdown ``text``: a name or alias as a whole word (plural "s" /
    "es" allowed), any case, outside code, link targets and HTML tags; longer terms win overlaps."""
    for pattern in _NOT_PROSE:
        text = pattern.sub(lambda m: "]" if m.group(0).startswith("]") else " ", text)
    return {_slug_of_match(m.group(0)) for m in _pattern().finditer(text)}


def _is_glossary_show(func: ast.expr) -> bool:
    """``glossary.show`` or ``<anything>.glossary.show``."""
    if not (isinstance(func, ast.Attribute) and func.attr == "show"):
        return False
    owner = func.value
    return (isinstance(owner, ast.Name) and owner.id == "glossary") or (
        isinstance(owner, ast.Attribute) and owner.attr == "glossary")


def defined_in(cell: str | Mapping) -> set[str]:
    """Slugs a notebook cell defines: those passed to ``glossary.show(...)`` in a code cell.

    ``cell`` is a cell (a markdown cell defines nothing) or the source of a code cell. IPython
    magics are allowed; a source that is not valid Python defines nothing. Arguments must be string
    literals (ValueError otherwise) and glossary terms (KeyError naming close matches otherwise).
    """
    if isinstance(cell, Mapping):
        if cell.get("cell_type") != "code":
            return set()
        cell = _source(cell)
    source = str(cell)
    if "show" not in source:
        return set()
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        tree = ast.parse(TransformerManager().transform_cell(source))
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _is_glossary_show(node.func):
            for arg in node.args:
                if not (isinstance(arg, ast.Constant) and isinstance(arg.value, str)):
                    raise ValueError(f"glossary.show(...) takes string literals in a notebook cell, got "
                                     f"{ast.unparse(arg)!r}; write the terms out so the cell can be read without running it")
                found.add(resolve(arg.value))
    return found


def _source(cell: Mapping) -> str:
    """A cell's source as one string (nbformat keeps a string; raw JSON may keep a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _read(notebook: str | Path | NotebookNode) -> NotebookNode:
    if isinstance(notebook, (str, Path)):
        import nbformat

        return nbformat.read(str(notebook), as_version=4)
    return notebook


def _first_line(source: str, width: int = 40) -> str:
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= width else line[: width - 1] + "…"


def first_use_violations(notebook: str | Path | NotebookNode) -> list[str]:
    """Every glossary term used in a markdown cell before (or without) a cell that defines it.

    ``notebook``: a path or an ``nbformat`` notebook. Cells are numbered from 0 as in
    ``nb.cells``. The notebook's title (a first cell's leading ``# `` heading line) may name its
    subject before anything is defined; every other line counts. One message per term, at its first use, e.g. ``'probe' is used in cell 3 ("## 2 ·
    Students") before its definition in cell 5``. An empty list means the notebook follows the
    convention of this module's docstring.
    """
    cells = _read(notebook)["cells"]
    defined: dict[str, int] = {}
    for i, cell in enumerate(cells):
        for slug in defined_in(cell):
            defined.setdefault(slug, i)
    problems, seen = [], set()
    for i, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        source = _source(cell)
        if i == 0 and source.startswith("# "):  # the title
            source = source.partition("\n")[2]
        for slug in sorted(mentions(source) - seen, key=lambda s: GLOSSARY[s].name):
            seen.add(slug)
            at = defined.get(slug)
            if at is not None and at < i:
                continue
            where = (f"before its definition in cell {at}" if at is not None
                     else f"and never defined (add {slug!r} to a glossary.show(...) cell before it)")
            problems.append(f'{GLOSSARY[slug].name!r} is used in cell {i} ("{_first_line(source)}") {where}')
    return problems


if __name__ == "__main__":
    sys.stdout.write(document())
