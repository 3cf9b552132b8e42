"""ex04_temperature (notebook 04, predict: temperature and the cues).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb04``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb04

OK_FORMAT = False
name = "ex04_temperature"


@test_case(name="ex04_temperature: prediction vs measurement",
           success_message="Your prediction matches the measurement.")
def temperature_prediction(pred_temperature, temperature_measured):
    nb04.temperature_prediction(pred_temperature, temperature_measured)
