"""Exercises a learner can check alone: 'your turn' cells with automatic feedback and solutions.

Each exercise is a code cell of its notebook. Its first line names it, its last line checks it::

    # YOUR TURN: 06.xavier_bound
    # Write the bound a of Xavier's uniform distribution U(-a, a) for a layer with these fans and gain.
    def xavier_bound(fan_in, fan_out, gain=1.0):
        raise NotImplementedError("your code here")


    check("06.xavier_bound", xavier_bound)

``check(id, answer)`` prints a short verdict (what was expected, which case failed, a hint; never the
solution) and returns True or False. A code answer is a function that the checker calls on cases of its
own; a value answer is a number, a tuple or a choice. ``solution(id)`` prints the reference solution.
With ``COURSE_SOLUTIONS=1`` a check that does not pass raises :class:`ExerciseFailed`: ``make
solutions`` runs every notebook with the reference solutions filled in and fails on the first wrong one.

The registry ``EXERCISES`` (in :mod:`.registry`) is filled by the ``@exercise`` decorators of the
modules ``nbNN_<notebook>``, one per notebook, imported here in notebook order. A checker raises
:class:`Wrong` (saying what was expected and which case failed) or :class:`NotAnswered`; returning
normally means the answer is right. Checkers compute what they expect with ``course_utils`` and PyTorch,
not from stored numbers; :mod:`.checking` holds the helpers they share.
"""

# Each registers its notebook's exercises when imported: EXERCISES lists them in this order.
from . import (  # noqa: F401
    nb01_gpu_check,
    nb02_coco_sample_dataset,
    nb03_lab_preprocessing,
    nb04_generator_unet,
    nb05_discriminator_patchgan,
    nb06_weight_init_theory,
    nb07_training_pix2pix,
    nb08_colorize_your_photos,
    nb09_doing_better_with_less,
)
from .registry import (
    CHECK_CALL,
    EXERCISES,
    MARKER,
    SOLUTIONS_ENV,
    Exercise,
    ExerciseFailed,
    check,
    solution,
)

__all__ = ["CHECK_CALL", "EXERCISES", "MARKER", "SOLUTIONS_ENV", "Exercise", "ExerciseFailed", "check",
           "solution"]
