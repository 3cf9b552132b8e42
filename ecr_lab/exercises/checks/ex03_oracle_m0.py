"""ex03_oracle_m0 (notebook 03, predict: the oracle without its cues).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb03``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb03

OK_FORMAT = False
name = "ex03_oracle_m0"


@test_case(name="ex03_oracle_m0: prediction vs measurement",
           success_message="Your prediction matches the measurement. Try m_cues = 1 next.")
def m0_prediction(pred_m0, m0_measured):
    nb03.m0_prediction(pred_m0, m0_measured)
