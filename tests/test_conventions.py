"""What a learner and an instructor expect around the code: --version, make help, the citation file, the
changelog, and an sdist without tests that could not run."""

import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from course_utils import __version__
from course_utils.__main__ import main

ROOT = Path(__file__).resolve().parent.parent


def test_version(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0 and capsys.readouterr().out == f"course_utils {__version__}\n"
    assert f'\nversion = "{__version__}"\n' in (ROOT / "pyproject.toml").read_text()


def test_make_alone_prints_help_listing_every_target():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    bare = subprocess.run(["make", "-s"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = re.findall(r"^  make (\S+) +\S", bare, re.M)
    assert sorted(listed) == sorted(targets) and len(listed) == len(bare.splitlines())
    assert bare == subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True).stdout


def test_citation_names_the_course_the_paper_and_the_tutorial():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0" and cff["version"] == __version__
    paper = cff["preferred-citation"]
    assert paper["year"] == 2017 and "CVPR" in paper["collection-title"]
    assert paper["authors"][0]["family-names"] == "Isola" and "1611.07004" in paper["url"]
    assert any("Shariatnia" in str(ref["authors"]) for ref in cff["references"])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "@inproceedings{isola2017image," in readme and "https://arxiv.org/abs/1611.07004" in readme


def test_the_changelog_has_the_current_version():
    assert re.search(rf"^## {re.escape(__version__)} - \d{{4}}-\d\d-\d\d$",
                     (ROOT / "CHANGELOG.md").read_text(encoding="utf-8"), re.M)


def test_the_sdist_is_the_package_without_the_tests(tmp_path):
    build = "import sys, setuptools.build_meta as b; print(b.build_sdist(sys.argv[1]))"
    name = subprocess.run([sys.executable, "-c", build, tmp_path], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout.split()[-1]
    with tarfile.open(tmp_path / name) as sdist:
        files = {Path(*Path(n).parts[1:]).as_posix() for n in sdist.getnames()}
    assert not any(f.startswith("tests") for f in files)
    assert {"course_utils/__main__.py", "course_utils/photos/credits.csv", "CITATION.cff", "CHANGELOG.md",
            "LICENSE"} <= files
