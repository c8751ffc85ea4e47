"""The course's published checkpoint: written by `make repo-links` from pyproject.toml [tool.course].

Edit pyproject.toml, not this file; an empty URL means that no checkpoint is published yet.
"""

WEIGHTS_URL = ""
WEIGHTS_SHA256 = ""
