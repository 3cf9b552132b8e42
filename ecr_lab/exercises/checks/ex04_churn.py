"""ex04_churn (notebook 04, predict: when does the map move most?).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb04``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb04

OK_FORMAT = False
name = "ex04_churn"


@test_case(name="ex04_churn: prediction vs measurement",
           success_message="Your prediction matches the measurement.")
def churn_prediction(pred_churn, churn_measured):
    nb04.churn_prediction(pred_churn, churn_measured)
