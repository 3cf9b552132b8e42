"""ex03_agreement (notebook 03, code: anchor agreement from scratch).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb03``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb03

OK_FORMAT = False
name = "ex03_agreement"


@test_case(name="ex03_agreement: random ids")
def agreement_random(agreement):
    nb03.agreement_random(agreement)


@test_case(name="ex03_agreement: an (n, 1) column")
def agreement_column(agreement):
    nb03.agreement_column(agreement)


@test_case(name="ex03_agreement: mismatched lengths",
           success_message="Compare the notebook's agreement with chance, 1/K: the projection step is only as good as this number.")
def agreement_mismatch(agreement):
    nb03.agreement_mismatch(agreement)
