"""The glossary: entries, lookup, rendering, and the defined-before-used check on notebooks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ecr_lab import glossary
from ecr_lab.glossary import GLOSSARY, Term, first_use_violations

ROOT = Path(__file__).resolve().parents[1]

#: the terms issue 17 asks for, and the method's own
REQUIRED = {"collapse", "probe", "cka", "knn_overlap", "effective_rank", "anisotropy", "drift",
            "anchor_agreement", "oracle", "ecr_inference", "cue_free", "mean_token_embedding",
            "temperature", "loss_spike", "anchor", "cue", "projection_step", "distillation",
            "meaning_unit", "retrieval_at_1", "cross_lingual_transfer", "topic_purity", "silhouette"}


def assert_terms_defined_before_use(notebook) -> None:
    """Fail with every message of :func:`ecr_lab.glossary.first_use_violations` (a path or a
    notebook): the check the notebook tests run on notebooks/*.ipynb."""
    problems = glossary.first_use_violations(notebook)
    name = notebook if isinstance(notebook, (str, Path)) else "notebook"
    assert not problems, f"{name}: glossary terms used before they are defined:\n  " + "\n  ".join(problems)


def _nb(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    """A notebook of ("md" | "code", source) cells."""
    make = {"md": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell}
    return nbformat.v4.new_notebook(cells=[make[kind](src) for kind, src in cells])


# -- the entries ---------------------------------------------------------------------------------

def test_required_terms_are_there():
    assert REQUIRED <= set(GLOSSARY)


@pytest.mark.parametrize("slug", sorted(GLOSSARY))
def test_every_term_is_well_formed(slug):
    term = GLOSSARY[slug]
    assert isinstance(term, Term)
    assert term.name.strip() and term.definition.strip()
    assert term.definition.rstrip().endswith((".", ")")), "a definition is whole sentences"
    assert 1 <= len(re.findall(r"[.!?](?:\s|$)", term.definition)) <= 4, "1-4 plain sentences"
    assert slug.replace("_", "").isalnum() and slug == slug.lower()
    assert all(s in GLOSSARY and s != slug for s in term.see_also), term.see_also


def test_every_surface_form_names_one_term():
    owner: dict[str, str] = {}
    for slug, term in GLOSSARY.items():
        for form in {slug, term.name, *term.aliases}:
            key = glossary._key(form)
            assert owner.setdefault(key, slug) == slug, f"{form!r} belongs to {owner[key]!r} and {slug!r}"


def test_terms_are_frozen():
    with pytest.raises(AttributeError):
        GLOSSARY["probe"].name = "x"


# -- lookup ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("form, slug", [
    ("probe", "probe"), ("Linear probe", "probe"), ("topic probe", "probe"), ("kNN overlap", "knn_overlap"),
    ("knn overlap", "knn_overlap"), ("neighbourhood overlap", "knn_overlap"), ("knn-overlap", "knn_overlap"),
    ("KD", "distillation"), ("pair_id", "meaning_unit"), ("cue-free", "cue_free"), ("cue free", "cue_free"),
    ("ECR at inference", "ecr_inference"), ("retrieval@1", "retrieval_at_1"), ("projector", "projection_step"),
    ("control token", "cue"), ("semantic anchor", "anchor"), ("  CKA ", "cka"),
])
def test_lookup_by_slug_name_or_alias(form, slug):
    assert glossary.resolve(form) == slug
    assert glossary.lookup(form) is GLOSSARY[slug]


def test_lookup_names_a_close_match():
    with pytest.raises(KeyError, match="anisotropy"):
        glossary.lookup("anisotropi")
    with pytest.raises(KeyError, match="did you mean 'probe'"):
        glossary.lookup("probs")
    with pytest.raises(KeyError, match="not in the glossary"):
        glossary.lookup("xyzzy")


# -- rendering -------------------------------------------------------------------------------------

def test_markdown_has_anchors_in_the_order_asked():
    text = glossary.markdown(["probe", "kNN overlap", "probe"])
    assert text.index('<a id="term-probe"></a>**probe**:') < text.index('<a id="term-knn_overlap"></a>**kNN overlap**:')
    assert text.count('id="term-probe"') == 1
    assert "[meaning unit](#term-meaning_unit)" in text
    assert glossary.markdown("cka") == glossary.markdown(["cka"])


def test_markdown_of_everything_is_alphabetical():
    text = glossary.markdown()
    assert all(f'id="term-{slug}"' in text for slug in GLOSSARY)
    names = [GLOSSARY[line.split('"')[1].removeprefix("term-")].name.casefold()
             for line in text.splitlines() if line.startswith("<a id=")]
    assert names == sorted(names)


def test_markdown_needs_known_terms():
    with pytest.raises(KeyError, match="probe"):
        glossary.markdown(["probes_x"])


def test_show_renders_markdown_with_links_into_the_glossary():
    from IPython.display import Markdown

    out = glossary.show("probe", "cka")
    assert isinstance(out, Markdown)
    assert out.data == glossary.markdown(["probe", "cka"], base="../docs/glossary.md")
    assert "](../docs/glossary.md#term-meaning_unit)" in out.data
    assert glossary.show().data == glossary.markdown(base="../docs/glossary.md")


def test_docs_glossary_is_in_sync():
    path = ROOT / "docs" / "glossary.md"
    assert path.read_text(encoding="utf-8") == glossary.document(), \
        "docs/glossary.md is stale: run `python -m ecr_lab.glossary > docs/glossary.md`"
    assert glossary.markdown() in glossary.document()


def test_main_prints_the_document():
    out = subprocess.run([sys.executable, "-m", "ecr_lab.glossary"], capture_output=True, text=True, check=True,
                         cwd=ROOT).stdout
    assert out == glossary.document()


# -- uses -----------------------------------------------------------------------------------------

def test_mentions_whole_words_any_case_with_plurals():
    text = "Two Probes, loss SPIKES, the anchors and their kNN-overlap; a meaning units split; CKA."
    assert glossary.mentions(text) == {"probe", "loss_spike", "anchor", "knn_overlap", "meaning_unit", "cka"}
    assert glossary.mentions("Watch for spikes: no run spiked.") == {"loss_spike"}
    assert glossary.mentions("probes_x, probex, reprobe, anchored, cue_only, kd_weight") == set()


def test_mentions_prefers_the_longer_term():
    assert glossary.mentions("anchor agreement") == {"anchor_agreement"}
    assert glossary.mentions("the cue-free view") == {"cue_free"}
    assert glossary.mentions("ECR at inference beats the oracle") == {"ecr_inference", "oracle"}
    assert glossary.mentions("the student's mean token embedding") == {"mean_token_embedding"}
    assert glossary.mentions("cross-lingual retrieval@1 and retrieval") == {"retrieval_at_1"}


def test_mentions_skip_code_links_and_html():
    text = ("The `probe` call, ``anisotropy(X)``, a [link](../docs/glossary.md#term-drift),"
            ' <span title="oracle">x</span>, <https://example.org/cka> and https://x.org/silhouette\n'
            "```python\nmetrics.effective_rank(X)  # temperature\n```\n")
    assert glossary.mentions(text) == set()
    assert glossary.mentions("[drift](../docs/glossary.md#term-drift)") == {"drift"}


# -- definitions -----------------------------------------------------------------------------------

def test_defined_in_reads_glossary_show_calls():
    assert glossary.defined_in('from ecr_lab import glossary\nglossary.show("probe", "kNN overlap")') == \
        {"probe", "knn_overlap"}
    assert glossary.defined_in('import ecr_lab.glossary\necr_lab.glossary.show("CKA")') == {"cka"}
    assert glossary.defined_in('%matplotlib inline\nx = 1\nglossary.show(\n    "oracle",\n    "cue-free",\n)') == \
        {"oracle", "cue_free"}
    assert glossary.defined_in('chart.show("probe")\nshow("probe")\nprint("glossary.show(\'cka\')")') == set()
    assert glossary.defined_in("def f(:\n    glossary.show('probe')") == set()  # not Python


def test_defined_in_takes_cells():
    code = nbformat.v4.new_code_cell('glossary.show("drift")')
    md = nbformat.v4.new_markdown_cell('glossary.show("drift")')
    assert glossary.defined_in(code) == {"drift"}
    assert glossary.defined_in(md) == set()


def test_defined_in_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="string literals"):
        glossary.defined_in("terms = ['probe']\nglossary.show(*terms)")
    with pytest.raises(KeyError, match="probe"):
        glossary.defined_in('glossary.show("probs")')


# -- first use -------------------------------------------------------------------------------------

def test_clean_notebook_has_no_violations(tmp_path):
    nb = _nb(("md", "# 01 · A title without terms"),
             ("code", 'from ecr_lab import glossary\nglossary.show("probe", "meaning_unit")'),
             ("md", "A **probe** is split by meaning unit."),
             ("code", "probe = fit_probe(X)  # code never counts"),
             ("code", 'glossary.show("CKA")'),
             ("md", "Then CKA, and the probes again."))
    assert glossary.first_use_violations(nb) == []
    path = tmp_path / "clean.ipynb"
    nbformat.write(nb, path)
    assert glossary.first_use_violations(path) == []
    assert glossary.first_use_violations(str(path)) == []
    assert_terms_defined_before_use(path)


def test_use_before_definition_is_reported():
    nb = _nb(("md", "# Title"),
             ("md", "## Probes\nWe fit a probe."),
             ("code", "x = 1"),
             ("code", 'glossary.show("probe")'),
             ("md", "The probe again (reported once)."))
    assert glossary.first_use_violations(nb) == [
        "'probe' is used in cell 1 (\"## Probes\") before its definition in cell 3"]
    with pytest.raises(AssertionError, match="cell 1"):
        assert_terms_defined_before_use(nb)


def test_never_defined_terms_are_reported():
    nb = _nb(("md", "# Live\n\nDrift, live"),
             ("code", 'glossary.show("anchor")'),
             ("md", "Anchors, and their anchor agreement."))
    problems = glossary.first_use_violations(nb)
    assert problems == [
        "'drift' is used in cell 0 (\"Drift, live\") and never defined "
        "(add 'drift' to a glossary.show(...) cell before it)",
        "'anchor agreement' is used in cell 2 (\"Anchors, and their anchor agreement.\") and never defined "
        "(add 'anchor_agreement' to a glossary.show(...) cell before it)",
    ]


def test_a_definition_in_the_same_or_a_markdown_cell_does_not_count():
    nb = _nb(("md", 'Oracle: glossary.show("oracle")'))
    assert len(glossary.first_use_violations(nb)) == 1


def test_the_title_line_may_name_the_subject():
    nb = _nb(("md", "# 01 · Embedding collapse\n\nWe measure collapse here."),
             ("code", 'from ecr_lab import glossary\nglossary.show("collapse")'))
    problems = first_use_violations(nb)
    assert len(problems) == 1 and "cell 0" in problems[0]  # the second line of the title cell counts
    nb.cells[0].source = "# 01 · Embedding collapse\n\nWe measure it here."
    assert first_use_violations(nb) == []
    nb.cells.insert(1, nbformat.v4.new_markdown_cell("# Another heading on collapse"))
    assert first_use_violations(nb)  # only the first cell's title is exempt
