"""ex02_translations (notebook 02, predict: do translations share a cue?).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb02``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb02

OK_FORMAT = False
name = "ex02_translations"


@test_case(name="ex02_translations: prediction vs measurement",
           success_message="Your prediction matches the measurement.")
def translation_prediction(pred_translations, translation_cues):
    nb02.translation_prediction(pred_translations, translation_cues)
