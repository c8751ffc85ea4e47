"""The exercises: reference solutions pass, typical wrong answers fail with a verdict that helps, stubs
are "not answered yet", and the solutions mode of tools/run_notebooks.py fills and runs them."""

import importlib.util
import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from course_utils.exercises import (
    CHECK_CALL,
    EXERCISES,
    MARKER,
    SOLUTIONS_ENV,
    ExerciseFailed,
    check,
    solution,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
IDS = list(EXERCISES)


@pytest.fixture(autouse=True)
def learner_mode(monkeypatch):
    """Checks run as a learner runs them, unless a test sets the switch itself."""
    monkeypatch.delenv(SOLUTIONS_ENV, raising=False)


def answer(exercise, source):
    namespace = {}
    exec(source, namespace)
    return namespace[exercise.name]


def code_lines(source):
    """The solution's lines that give something away (no imports, signatures, comments or short lines)."""
    lines = (line.split("#")[0].strip() for line in source.splitlines())
    return [line for line in lines if len(line) >= 12 and not line.startswith(("import", "from", "def "))]


def test_every_notebook_has_three_exercises_of_both_kinds():
    by_notebook = {}
    for exercise in EXERCISES.values():
        assert re.fullmatch(r"0[1-9]\.[a-z][a-z0-9_]*", exercise.id), exercise.id
        assert len(exercise.wrong) >= 2 and exercise.solution not in exercise.wrong
        by_notebook.setdefault(exercise.notebook, []).append(exercise.kind)
    assert sorted(by_notebook) == [f"{n:02d}" for n in range(1, 10)]
    for notebook, kinds in by_notebook.items():
        assert len(kinds) >= 3 and set(kinds) == {"code", "value"}, notebook


@pytest.mark.parametrize("exercise_id", IDS)
def test_reference_solution_passes(exercise_id, capsys):
    exercise = EXERCISES[exercise_id]
    assert check(exercise_id, answer(exercise, exercise.solution)) is True
    assert capsys.readouterr().out == f"✓ {exercise_id}: correct.\n"


@pytest.mark.parametrize("exercise_id", IDS)
def test_typical_wrong_answers_fail_with_a_verdict(exercise_id, capsys):
    exercise = EXERCISES[exercise_id]
    for source in exercise.wrong:
        assert check(exercise_id, answer(exercise, source)) is False, source
        verdict = capsys.readouterr().out
        what, hint = verdict.split("\n  Hint: ")
        start = f"✗ {exercise_id}: not yet. "
        assert what.startswith(start) and len(what) > len(start)
        assert hint.strip() and "could not be checked" not in what
        for line in code_lines(exercise.solution):
            assert line not in verdict, "a verdict must not give the solution away"


@pytest.mark.parametrize("exercise_id", IDS)
def test_cells_stub_is_not_answered_yet_and_solved_cell_passes(exercise_id, capsys, monkeypatch):
    exercise = EXERCISES[exercise_id]
    stub = exercise.cell()
    assert stub.splitlines()[0] == MARKER + exercise_id and stub.splitlines()[-1] == exercise.check_line
    exec(stub, {"check": check})  # the learner's starting point runs without an error...
    assert capsys.readouterr().out.startswith(f"○ {exercise_id}: not answered yet. ")  # ...and says so
    monkeypatch.setenv(SOLUTIONS_ENV, "1")
    exec(exercise.cell(solved=True), {"check": check})  # what `make solutions` runs; raises if wrong


def test_placeholders_are_not_answered_yet(capsys):
    for exercise_id in IDS:
        for placeholder in (None, ...):
            assert check(exercise_id, placeholder) is False
            assert "not answered yet" in capsys.readouterr().out


def test_a_learners_error_is_one_line_not_a_traceback(capsys):
    def xavier_bound(fan_in, fan_out, gain=1.0):
        return 1 / 0

    def forgot_return(fan_in, fan_out, gain=1.0):
        gain * (6 / (fan_in + fan_out)) ** 0.5

    assert check("06.xavier_bound", xavier_bound) is False
    out = capsys.readouterr().out
    assert "raised ZeroDivisionError: division by zero" in out and "Traceback" not in out
    assert len(out.splitlines()) == 2  # the verdict and its hint
    assert check("06.xavier_bound", forgot_return) is False
    assert "returned None" in capsys.readouterr().out
    assert check("06.xavier_bound", 0.17) is False  # the value instead of the function
    assert "Expected a function" in capsys.readouterr().out
    assert check("04.bottleneck_shape", lambda *args: "512x1x1") is False  # the wrong type
    assert "expected a tuple of 3 whole numbers" in capsys.readouterr().out


def test_the_switch_makes_a_failing_check_raise(monkeypatch, capsys):
    exercise = EXERCISES["05.receptive_field"]
    wrong, right = (answer(exercise, source) for source in (exercise.wrong[0], exercise.solution))
    monkeypatch.setenv(SOLUTIONS_ENV, "0")
    assert check(exercise.id, wrong) is False
    monkeypatch.setenv(SOLUTIONS_ENV, "1")
    for unsolved in (wrong, None):
        with pytest.raises(ExerciseFailed, match=re.escape(exercise.id)):
            check(exercise.id, unsolved)
    assert check(exercise.id, right) is True


def test_solution_prints_the_reference(capsys):
    exercise = EXERCISES["06.he_std"]
    solution(exercise.id)
    out = capsys.readouterr().out
    assert exercise.solution in out and exercise.task in out


def test_an_unknown_id_names_the_notebooks_exercises():
    with pytest.raises(KeyError, match=r"06\.xavier_bound"):
        check("06.xavier", 0.1)


def test_a_check_leaves_the_notebooks_random_sequence_alone():
    def gpu_ok(returncode, output):  # a learner's function that draws random numbers
        random.random(), np.random.rand(), torch.rand(1)
        return returncode == 0

    states = random.getstate(), np.random.get_state()[1].copy(), torch.get_rng_state()
    assert check("01.exit_status", gpu_ok)
    assert random.getstate() == states[0]
    assert np.array_equal(np.random.get_state()[1], states[1])
    assert torch.equal(torch.get_rng_state(), states[2])


# --- The solutions mode of tools/run_notebooks.py ---------------------------------------------------------

def run_notebooks_module():
    spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def notebook(*sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# A notebook"), *map(nbformat.v4.new_code_cell, sources)]
    return nb


def test_fill_solutions_replaces_exactly_the_exercise_cells():
    tool, exercise = run_notebooks_module(), EXERCISES["04.conv_out_side"]
    nb = notebook("x = 1", exercise.cell(), "y = 2")
    assert tool.fill_solutions(nb) == [exercise.id]
    assert [c.source for c in nb.cells[1:]] == ["x = 1", exercise.cell(solved=True), "y = 2"]


@pytest.mark.parametrize("source, problem", [
    ('check("04.conv_out_side", conv_out_side)', "does not start with"),
    (f"{MARKER}04.no_such_exercise\ncheck(\"04.no_such_exercise\", x)", "no exercise"),
    (f"{MARKER}04.conv_out_side\ncheck(\"04.conv_out_side\", my_function)", "must end with"),
    (f"{MARKER}04.conv_out_side\ncheck(\"05.receptive_field\", conv_out_side)", "must end with"),
])
def test_fill_solutions_refuses_a_malformed_exercise_cell(source, problem):
    with pytest.raises(ValueError, match=problem):
        run_notebooks_module().fill_solutions(notebook(source))


def test_solutions_are_never_written_in_place(monkeypatch, tmp_path):
    arguments = ["run_notebooks.py", "--solutions", "--inplace", str(tmp_path / "a.ipynb")]
    monkeypatch.setattr(sys, "argv", arguments)
    with pytest.raises(SystemExit) as exit_info:
        run_notebooks_module().main()
    assert exit_info.value.code == 2


def test_make_solutions_runs_the_references_and_fails_on_a_failing_check(tmp_path):
    """One kernel run: the exercise cell is filled and passes; a later check that fails stops the run."""
    exercise = EXERCISES["05.receptive_field"]
    indirect = f'exercise_id = "{exercise.id}"\ncheck(exercise_id, lambda layers: 0)'  # not filled: fails
    nbformat.write(notebook("from course_utils.exercises import check", exercise.cell(), indirect),
                   tmp_path / "demo.ipynb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"), "--solutions", "--out",
                             str(tmp_path / "out"), str(tmp_path / "demo.ipynb")],
                            capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 1 and "ExerciseFailed" in result.stderr, result.stderr[-2000:]
    ran = nbformat.read(tmp_path / "out" / "demo.ipynb", as_version=4).cells
    assert ran[2].source == exercise.cell(solved=True)
    assert ran[2].outputs[0]["text"] == f"✓ {exercise.id}: correct.\n"
    assert ran[3].outputs[-1]["ename"] == "ExerciseFailed"


# --- The notebooks' exercise cells ------------------------------------------------------------------------

def code_cells(path):
    return ["".join(c["source"]) for c in json.loads(path.read_text(encoding="utf-8"))["cells"]
            if c["cell_type"] == "code"]


def test_every_check_in_the_notebooks_is_a_registered_exercise_of_that_notebook():
    calls = 0
    for path in NOTEBOOKS:
        for source in code_cells(path):
            for exercise_id in CHECK_CALL.findall(source):
                calls += 1
                assert exercise_id in EXERCISES, f"{path.name}: check({exercise_id!r}) is not registered"
                assert exercise_id[:2] == path.name[:2], f"{path.name}: {exercise_id} belongs elsewhere"
                assert source.startswith(MARKER + exercise_id + "\n"), f"{path.name}: {exercise_id}"
                assert EXERCISES[exercise_id].check_line in source
    assert calls


def test_every_registered_exercise_is_in_its_notebook():
    first_lines = {path.name[:2]: {s.splitlines()[0] for s in code_cells(path) if s} for path in NOTEBOOKS}
    missing = [i for i in IDS if MARKER + i not in first_lines[i[:2]]]
    assert not missing, f"exercises without a cell: {missing}"


def test_the_readme_counts_each_notebooks_exercises():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        count = sum(exercise.notebook == path.name[:2] for exercise in EXERCISES.values())
        row = next(line for line in readme.splitlines() if line.startswith(f"| {path.name[:2]} | [`"))
        assert row.rstrip().endswith(f"| {count} |"), row


# --- Answers a learner must not fool the checkers with, and everyday types they must accept ---------------

FOOLING = [  # (exercise, answer's source, what the verdict must say): each passed an earlier checker
    ("01.exit_status", "def gpu_ok(returncode, output):\n    return '|' in output", "nvidia-smi -L"),
    ("01.exit_status", "def gpu_ok(returncode, output):\n    return 'has failed' not in output",
     "Status 127"),
    ("01.exit_status", "def gpu_ok(returncode, output):\n    return returncode < 9", "Status 6"),
    ("02.deterministic_split", "def my_split(names, val_fraction, seed):\n"
                               "    order = sorted(names, key=lambda n: hash((n, seed)))\n"
                               "    k = round(len(order) * val_fraction)\n"
                               "    return order[k:], order[:k]", "two fresh Python processes"),
    ("04.conv_out_side", "def conv_out_side(side, kernel, stride, padding):\n"
                         "    return round((side + 2 * padding - kernel) / stride) + 1", "one too many"),
    ("04.conv_out_side", "def conv_out_side(side, kernel, stride, padding):\n"
                         "    return {128: 64, 31: 30, 70: 70, 8: 3}[side]", "KeyError"),
    ("04.bottleneck_shape", "def bottleneck_shape(image_size, num_downs, ngf):\n"
                            "    side = image_size // 2**num_downs\n"
                            "    return 8 * ngf, side, side", "channels"),
    ("04.dropout_blocks", "dropout_blocks = [False, True, 2]", "True and False are not indices"),
    ("06.variance_after_n", "def variance_ratio(n_layers, gain):\n    return 1.12 * gain ** (2 * n_layers)",
     "too large"),
    ("06.variance_after_n", "def variance_ratio(n_layers, gain):\n"
                            "    return gain ** (2 * n_layers) * 1.02**n_layers", "too large"),
    ("06.he_std", "def he_std(fan_in, a=0.0):\n"
                  "    return (1.3867504905630728 if a == 0.2 else 2**0.5) / fan_in**0.5", "a=0.01"),
    ("06.xavier_bound", "def xavier_bound(fan_in, fan_out, gain=1.0):\n"
                        "    return (5 / 3 if gain != 1 else 1) * (6 / (fan_in + fan_out)) ** 0.5",
     "gain=1.41"),
    ("08.full_resolution", "import torch.nn.functional as F\nimport torch\n"
                           "def full_resolution(L_full, ab_small):\n"
                           "    ab = F.interpolate(ab_small[:1], size=L_full.shape[-2:], mode='bilinear')\n"
                           "    return torch.cat([L_full, ab.expand(len(L_full), -1, -1, -1)], dim=1)",
     "photo 1 of the batch"),
]


@pytest.mark.parametrize("exercise_id, source, said", FOOLING,
                         ids=[f"{i}-{n}" for n, (i, *_) in enumerate(FOOLING)])
def test_an_answer_that_fooled_a_checker_is_rejected_with_a_reason(exercise_id, source, said, capsys):
    assert check(exercise_id, answer(EXERCISES[exercise_id], source)) is False
    verdict = capsys.readouterr().out
    assert verdict.startswith(f"✗ {exercise_id}: not yet. ") and said in verdict, verdict
    assert "could not be checked" not in verdict


def test_conv_out_side_tries_new_cases_at_every_check():
    from course_utils.exercises.nb04_generator_unet import _conv_cases

    first, second = _conv_cases(), _conv_cases()
    assert first[:6] == second[:6] and first[6:] != second[6:]
    fractions = {(s + 2 * p - k) / st % 2 for s, k, st, p in first[:6]}
    assert {0.5, 1.5} <= fractions  # x.5 with an even and an odd whole part


EVERYDAY = [  # right answers in types a learner reaches for
    ("04.dropout_blocks", "import numpy as np\ndropout_blocks = np.array([0, 1, 2])"),
    ("04.dropout_blocks", "import torch\ndropout_blocks = torch.tensor([0, 1, 2])"),
    ("04.dropout_blocks", "import numpy as np\ndropout_blocks = [np.int64(0), np.int64(1), np.int64(2)]"),
    ("04.dropout_blocks", "dropout_blocks = (2, 1, 0)"),
    ("04.bottleneck_shape", "import numpy as np\ndef bottleneck_shape(image_size, num_downs, ngf):\n"
                            "    side = image_size // 2**num_downs\n"
                            "    return np.array([ngf * min(2 ** (num_downs - 1), 8), side, side])"),
    ("08.output_name", "from pathlib import Path\ndef output_name(filename):\n"
                       "    return Path(filename).with_name(Path(filename).stem + '_color.png')"),
    ("02.kept_files", "import numpy as np\nkept = np.int64(2)"),
    ("01.activation_ratio", "import numpy as np\nratio = np.array(16.0)"),
    ("01.activation_ratio", "import torch\nratio = torch.tensor([16.0])"),
    ("08.exit_status", "import torch\nexit_status = torch.tensor(1)"),
]


@pytest.mark.parametrize("exercise_id, source", EVERYDAY,
                         ids=[f"{i}-{n}" for n, (i, _) in enumerate(EVERYDAY)])
def test_a_right_answer_in_an_everyday_type_passes(exercise_id, source, capsys):
    assert check(exercise_id, answer(EXERCISES[exercise_id], source)) is True, capsys.readouterr().out


ODD = [[1, 2], {"a"}, {"a": 1}, (1, 2, 3), np.array([1, 2]), torch.zeros(2, 2), "abc", 3.5, True]


@pytest.mark.parametrize("exercise_id", IDS)
def test_every_answer_of_any_type_gets_a_verdict(exercise_id, capsys):
    """A list, a set, an array... where something else is expected: 'not yet' with the reason, never
    'could not be checked (TypeError ...)'."""
    exercise = EXERCISES[exercise_id]
    for odd in ODD:
        given = (lambda *args, odd=odd, **kwargs: odd) if exercise.kind == "code" else odd
        assert check(exercise_id, given) is False, odd
        verdict = capsys.readouterr().out
        assert verdict.startswith(f"✗ {exercise_id}: not yet. "), verdict
        assert "could not be checked" not in verdict, verdict
