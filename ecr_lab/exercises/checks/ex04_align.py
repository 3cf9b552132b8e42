"""ex04_align (notebook 04, code: orthogonal Procrustes).

An otter test file (exception-based format); the feedback lives in
``ecr_lab.exercises.nb04``, where it is tested."""

from otter.test_files import test_case

from ecr_lab.exercises import nb04

OK_FORMAT = False
name = "ex04_align"


@test_case(name="ex04_align: a flipped axis")
def align_flipped(procrustes_align):
    nb04.align_flipped(procrustes_align)


@test_case(name="ex04_align: a rotated cloud",
           success_message="Aligned maps show drift; unaligned PCA maps also show sign flips and rotations of the axes.")
def align_rotated(procrustes_align):
    nb04.align_rotated(procrustes_align)
