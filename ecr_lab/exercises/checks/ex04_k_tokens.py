"""ex04_k_tokens (notebook 04, interpret: the cue tokens a model has).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb04``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb04

OK_FORMAT = False
name = "ex04_k_tokens"


@test_case(name="ex04_k_tokens: K trained")
def k_trained(k_trained, run):
    nb04.k_trained_check(k_trained, run)


@test_case(name="ex04_k_tokens: why",
           success_message="Right: only the trained K is real for this model; other K are an illustration.")
def why_k(why_k):
    nb04.why_k_answer(why_k)
