"""ex02_read_anchor (notebook 02, interpret: an anchor that carries meaning).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb02``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb02

OK_FORMAT = False
name = "ex02_read_anchor"


@test_case(name="ex02_read_anchor: the anchor")
def meaning_anchor(meaning_anchor, A, emb, corpus):
    nb02.meaning_anchor_check(meaning_anchor, A, emb, corpus)


@test_case(name="ex02_read_anchor: why",
           success_message="Right: a cue that follows meaning across languages is what a collapsed student cannot produce on its own.")
def why_mixed(why_mixed):
    nb02.why_mixed_answer(why_mixed)
