"""ex02_lloyd (notebook 02, code: one spherical Lloyd step).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb02``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb02

OK_FORMAT = False
name = "ex02_lloyd"


@test_case(name="ex02_lloyd: random rows")
def lloyd_random(lloyd_step):
    nb02.lloyd_random(lloyd_step)


@test_case(name="ex02_lloyd: an empty cluster",
           success_message="This is the step derive_anchors repeats (after scikit-learn's seeding) until the centroids stop moving.")
def lloyd_empty_cluster(lloyd_step):
    nb02.lloyd_empty_cluster(lloyd_step)
