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
"""

from . import (  # noqa: F401 -- importing a notebook's module registers its exercises, in order
    nb01_machine,
    nb02_data,
    nb03_lab,
    nb04_generator,
    nb05_discriminator,
    nb06_init,
    nb07_training,
    nb08_colorize,
)
from .core import CHECK_CALL, EXERCISES, MARKER, SOLUTIONS_ENV, Exercise, ExerciseFailed, check, solution

__all__ = ["CHECK_CALL", "EXERCISES", "MARKER", "SOLUTIONS_ENV", "Exercise", "ExerciseFailed", "check",
           "solution"]
