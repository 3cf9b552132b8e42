"""ex01_neighbours (notebook 01, interpret: a sentence that lost its translation).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb01``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb01

OK_FORMAT = False
name = "ex01_neighbours"


@test_case(name="ex01_neighbours: the row")
def lost_row(i_lost, spaces, probe):
    nb01.lost_row(i_lost, spaces, probe)


@test_case(name="ex01_neighbours: why",
           success_message="Right: the students and the teacher differ in size and in training at once, so the table alone cannot blame size.")
def why_lost(why_lost):
    nb01.why_lost_answer(why_lost)
