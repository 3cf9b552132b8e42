"""The datasheet's teacher ceiling (data/README.md) is what the teacher gives today, and its block
is rendered, parsed and rewritten safely."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ecr_lab import datasheet

DATASHEET = Path(__file__).resolve().parents[1] / "data" / "README.md"

CEILING = {"rows": 6144, "retrieval_at_1": 0.99772, "topic_probe": 0.88330, "topic_majority_rate": 1 / 12,
           "language_probe": 0.70849609375, "cross_lingual_transfer_from_en": 0.96205, "seed": 0}


def test_datasheet_ceiling_matches_a_fresh_computation(corpus, teacher, corpus_embeddings):
    quoted = datasheet.parse_ceiling(DATASHEET.read_text(encoding="utf-8"), str(DATASHEET))
    assert set(datasheet.ROWS) <= set(quoted), f"the block lacks {set(datasheet.ROWS) - set(quoted)}"
    fresh = datasheet.teacher_ceiling(corpus, teacher, seed=int(quoted["seed"]))  # cached rows: fast
    bad = datasheet.ceiling_mismatches(quoted, fresh)
    assert not bad, ("data/README.md's teacher ceiling is stale; regenerate it with "
                     "`ecr-lab ceiling --write data/README.md`:\n  " + "\n  ".join(bad))


def test_markdown_round_trips_at_print_rounding():
    text = f"intro\n{datasheet.START}\n{datasheet.ceiling_markdown(CEILING)}{datasheet.END}\n"
    quoted = datasheet.parse_ceiling(text)
    assert quoted == {"rows": 6144, "retrieval_at_1": 0.998, "topic_probe": 0.883, "topic_majority_rate": 0.083,
                      "language_probe": 0.708, "cross_lingual_transfer_from_en": 0.962, "seed": 0}
    assert datasheet.ceiling_mismatches(quoted, CEILING) == []
    assert "| `rows` | 6,144 |" in datasheet.ceiling_markdown(CEILING)


def test_mismatches_name_the_stale_numbers():
    quoted = {**datasheet.parse_ceiling(f"{datasheet.START}\n{datasheet.ceiling_markdown(CEILING)}{datasheet.END}"),
              "topic_probe": 0.903, "language_probe": 0.700}
    bad = datasheet.ceiling_mismatches(quoted, CEILING)
    assert [b.split(":")[0] for b in bad] == ["topic_probe", "language_probe"]
    assert "datasheet 0.903, fresh 0.883" in bad[0]
    # within print rounding (and the language probe's cross-CPU slack) is not a mismatch
    assert datasheet.ceiling_mismatches({**quoted, "topic_probe": 0.883, "language_probe": 0.707}, CEILING) == []
    assert datasheet.ceiling_mismatches({"seed": 0}, CEILING)  # missing rows are reported


def test_update_ceiling_rewrites_only_the_block(tmp_path):
    path = tmp_path / "README.md"
    before, after = "# Datasheet\n\nintro\n\n", "\noutro, untouched\n"
    path.write_text(f"{before}{datasheet.START}\n| old | table |\n{datasheet.END}{after}", encoding="utf-8")
    assert datasheet.update_ceiling(path, CEILING) == path
    text = path.read_text(encoding="utf-8")
    assert text == f"{before}{datasheet.START}\n{datasheet.ceiling_markdown(CEILING)}{datasheet.END}{after}"
    assert datasheet.parse_ceiling(text)["topic_probe"] == 0.883
    datasheet.update_ceiling(path, CEILING)  # idempotent
    assert path.read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == ["README.md"]  # no temporary file left behind


@pytest.mark.parametrize("body", [
    "# no block at all\n",
    f"only the start {datasheet.START}\n",
    f"{datasheet.END}\nend before start\n{datasheet.START}\n",
    f"{datasheet.START}\n{datasheet.END}\n{datasheet.START}\n{datasheet.END}\n",
])
def test_missing_block_is_a_clear_error(tmp_path, body):
    path = tmp_path / "README.md"
    path.write_text(body, encoding="utf-8")
    for call in (lambda: datasheet.update_ceiling(path, CEILING), lambda: datasheet.parse_ceiling(body, str(path))):
        with pytest.raises(ValueError, match="ceiling:start.*ceiling:end") as e:
            call()
        assert str(path) in str(e.value)
    assert path.read_text(encoding="utf-8") == body  # left as it was


def test_empty_block_is_a_clear_error():
    with pytest.raises(ValueError, match=re.escape("no `key` | value rows")):
        datasheet.parse_ceiling(f"{datasheet.START}\n{datasheet.END}\n")


def test_cli_prints_json_markdown_and_writes(tmp_path, monkeypatch, capsys):
    import json

    from ecr_lab import cli

    monkeypatch.setattr(datasheet, "teacher_ceiling", lambda corpus, teacher, seed=0: {**CEILING, "seed": seed})
    monkeypatch.setattr("ecr_lab.teacher.get_teacher", lambda name: None)
    assert cli.main(["ceiling", "--seed", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["seed"] == 3
    assert cli.main(["ceiling", "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| measure | value | meaning |")
    path = tmp_path / "README.md"
    path.write_text(f"{datasheet.START}\n{datasheet.END}\n", encoding="utf-8")
    assert cli.main(["ceiling", "--write", str(path)]) == 0
    assert datasheet.parse_ceiling(path.read_text(encoding="utf-8"))["topic_probe"] == 0.883
