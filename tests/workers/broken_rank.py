"""Run by tests/test_distributed.py under torchrun: the command line, where process 1 has lost its data."""

import os
import sys

from course_utils.__main__ import main

if __name__ == "__main__":
    argv = sys.argv[1:]
    if os.environ["RANK"] == "1":
        argv[argv.index("--data") + 1] += "-missing"
    sys.exit(main(argv))
