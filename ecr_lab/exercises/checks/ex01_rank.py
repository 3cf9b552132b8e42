"""ex01_rank (notebook 01, code: effective rank from scratch).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb01``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb01

OK_FORMAT = False
name = "ex01_rank"


@test_case(name="ex01_rank: a random matrix")
def rank_random(effective_rank):
    nb01.rank_random(effective_rank)


@test_case(name="ex01_rank: a shared offset")
def rank_offset(effective_rank):
    nb01.rank_offset(effective_rank)


@test_case(name="ex01_rank: a fully collapsed space",
           success_message="A collapsed space spreads its variance over few directions: its effective rank falls towards 1.")
def rank_collapsed(effective_rank):
    nb01.rank_collapsed(effective_rank)
