"""ex03_disagree (notebook 03, interpret: projection step vs teacher).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb03``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb03

OK_FORMAT = False
name = "ex03_disagree"


@test_case(name="ex03_disagree: the row")
def disagree_row(i_disagree, projected, teacher_top):
    nb03.disagree_row(i_disagree, projected, teacher_top)


@test_case(name="ex03_disagree: why",
           success_message="Right: ECR at inference gets the oracle's gain only on the rows its projection step gets right.")
def why_disagree(why_disagree):
    nb03.why_disagree_answer(why_disagree)
