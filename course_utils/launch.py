"""``train --nproc-per-node N``: start N training processes on this machine, as torchrun does.

It is ``torchrun --standalone --nproc_per_node=N -m course_utils train ...`` through the same machinery
(``torch.distributed.run``), with one difference: the outcome is reported like the rest of the command
line. torchrun answers a failed process, Ctrl-C or SIGTERM with a Python traceback of its own and exit
status 1; this launcher exits with the processes' own status (2 bad input, 130 Ctrl-C, 143 SIGTERM, ...)
after their one-line messages.
"""

from __future__ import annotations

import logging
import signal
import sys


def launch(nproc: int, worker_args: list[str]) -> int:
    """Run ``python -m course_utils <worker_args>`` in ``nproc`` processes; their exit status."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for name in list(logging.Logger.manager.loggerDict):  # the processes say what matters themselves
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = get_args_parser().parse_args(["--standalone", f"--nproc-per-node={nproc}", "--module",
                                         "course_utils", *worker_args])
    handled = [s for s in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None),
                           getattr(signal, "SIGQUIT", None)) if s is not None]
    previous = {s: signal.getsignal(s) for s in handled}  # torch's launcher replaces them for good
    try:
        run(args)
    except SignalException as err:  # Ctrl-C or SIGTERM: the processes stopped after a checkpoint
        return 128 + int(err.sigval)
    except ChildFailedError as err:
        rank, failure = err.get_first_failure()
        if failure.exitcode < 0:  # killed by a signal, so it said nothing itself
            name = signal.Signals(-failure.exitcode).name
            print(f"error: process {rank} was killed by {name} (out of memory?); the run stopped.",
                  file=sys.stderr, flush=True)
            return 128 - failure.exitcode
        return failure.exitcode
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0
