"""ex02_shuffled (notebook 02, predict: topic purity of shuffled labels).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb02``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb02

OK_FORMAT = False
name = "ex02_shuffled"


@test_case(name="ex02_shuffled: prediction vs measurement",
           success_message="Your prediction matches the measurement.")
def shuffled_prediction(pred_shuffled, shuffled_purity):
    nb02.shuffled_prediction(pred_shuffled, shuffled_purity)
