"""ex01_centring (notebook 01, predict: what subtracting the mean embedding changes).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb01``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb01

OK_FORMAT = False
name = "ex01_centring"


@test_case(name="ex01_centring: prediction vs measurement",
           success_message="Your prediction matches the measurement.")
def centring_prediction(pred_centring, centring_measured):
    nb01.centring_prediction(pred_centring, centring_measured)
