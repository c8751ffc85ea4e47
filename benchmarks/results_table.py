"""The README's training-speed table, made from the files ``benchmarks/train_step.py`` writes.

    python benchmarks/results_table.py          # print the table (Markdown)

tests/test_benchmarks.py checks that the README holds exactly this table, so every figure in it comes
from a results file.
"""

from __future__ import annotations

import json
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
HEADER = ("| device (torch) | setting | plain fp32 loop, compute only | course step, compute only | "
          "seed pipeline + plain loop, end to end (0 / 2 workers) | course, end to end | "
          "course end to end / its compute |")


def rows(folder: Path = RESULTS) -> list[str]:
    """One Markdown row per measured setting, file by file."""
    out = []
    for file in sorted(folder.glob("*.json")):
        for e in json.loads(file.read_text()):
            compute, e2e = e["compute_only_images_per_s"], e["end_to_end_images_per_s"]
            precision = e["precision"].replace("torch.bfloat16", "bf16").replace("torch.float16", "fp16")
            setting = (f"{e['size']} px, batch {e['batch']}, {precision}"
                       + (", compiled" if e["compile"] else "")
                       + (", cache in GPU memory" if e["cache_in_device_memory"] else ", cache on the host"))
            seed0, seed2, course = e2e["seed_0_workers"], e2e["seed_2_workers"], e2e["course"]
            out.append(
                f"| {e['device_name']} ({e['torch'].split('+')[0]}) | {setting} | "
                f"{compute['plain_fp32_loop']:,.0f} | {compute['course']:,.0f} "
                f"({compute['course'] / compute['plain_fp32_loop']:.2f}x) | {seed0:,.0f} / {seed2:,.0f} | "
                f"{course:,.0f} ({course / seed0:.1f}x / {course / seed2:.1f}x) | "
                f"{e['end_to_end_fraction_of_compute']:.3f} |")
    return out


def table(folder: Path = RESULTS) -> str:
    return "\n".join([HEADER, "|" + "---|" * HEADER.count(" | ") + "---|", *rows(folder)])


if __name__ == "__main__":
    print(table())
