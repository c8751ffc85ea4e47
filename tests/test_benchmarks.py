"""The README's training-speed table is the one made from the benchmark's results files."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import results_table  # noqa: E402


def test_the_readme_speed_table_comes_from_the_results_files():
    assert results_table.rows(), "no results file in benchmarks/results"
    assert results_table.table() in (ROOT / "README.md").read_text()


def test_a_row_shows_the_measured_ratios(tmp_path):
    entry = {"device_name": "GPU X", "torch": "2.0+cu", "size": 256, "batch": 16,
             "precision": "torch.bfloat16",
             "compile": False, "cache_in_device_memory": True, "end_to_end_fraction_of_compute": 0.5,
             "compute_only_images_per_s": {"plain_fp32_loop": 100.0, "course": 200.0},
             "end_to_end_images_per_s": {"seed_0_workers": 10.0, "seed_2_workers": 20.0, "course": 100.0}}
    (tmp_path / "gpu-x.json").write_text(json.dumps([entry]))
    assert results_table.rows(tmp_path) == [
        "| GPU X (2.0) | 256 px, batch 16, bf16, cache in GPU memory | 100 | 200 (2.00x) | 10 / 20 | "
        "100 (10.0x / 5.0x) | 0.500 |"]
