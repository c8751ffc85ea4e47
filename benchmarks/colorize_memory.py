"""Peak memory of colorizing one large photo: the course's strips against converting the whole photo at once.

    python benchmarks/colorize_memory.py [--width 12000 --height 9000]

Writes a synthetic JPEG of the given size, then colorizes it in two fresh processes with the same small
generator: the baseline converts the whole photo to Lab, upsamples ab over all of it, and converts back
(what ``colorize_image`` did before it worked in strips); the course converts horizontal strips of about
2 megapixels. Prints each process's peak resident memory and their ratio.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

WRITE = """
import sys, numpy as np
from PIL import Image
width, height = int(sys.argv[2]), int(sys.argv[3])
y, x = np.mgrid[0:height, 0:width].astype(np.float32)
pixels = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 97 + y / 53)], -1)
noise = np.random.default_rng(0).integers(0, 24, pixels.shape, dtype=np.uint8)
Image.fromarray((pixels * 230).astype(np.uint8) + noise).save(sys.argv[1], quality=90)
"""

CHILD = """
import resource, sys, time, numpy as np, torch
from PIL import Image
from torch.nn import functional as F
from course_utils.color import normalize_lab, normalized_to_rgb, rgb_to_lab
from course_utils.colorize import colorize_image, read_image
from course_utils.train import Pix2PixConfig

torch.manual_seed(0)
generator = Pix2PixConfig(image_size=64, num_downs=6, ngf=16, ndf=16).build_generator().eval()
image = read_image(sys.argv[2])
start = time.perf_counter()
if sys.argv[1] == "course":
    result = colorize_image(generator, image, 64)
else:  # the whole photo at once
    with torch.no_grad():
        rgb = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]
        L = normalize_lab(rgb_to_lab(rgb))[0]
        small = torch.from_numpy(np.array(image.resize((64, 64), Image.BICUBIC))).permute(2, 0, 1)[None]
        ab = generator(normalize_lab(rgb_to_lab(small))[0])
        out = normalized_to_rgb(L, F.interpolate(ab, size=L.shape[-2:], mode="bilinear"))[0]
        result = Image.fromarray((out.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
print(time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_memory_gb(kind: str, photo: Path) -> tuple[float, float]:
    """(peak resident GB, seconds) of one fresh process colorizing ``photo`` (Linux: ru_maxrss in KiB)."""
    done = subprocess.run([sys.executable, "-c", CHILD, kind, str(photo)], capture_output=True, text=True,
                          check=True)
    seconds, peak_kib = done.stdout.split()[-2:]
    return int(peak_kib) * 1024 / 1e9, float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=12_000)
    parser.add_argument("--height", type=int, default=9_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        photo = Path(folder) / "large.jpg"
        # every large array lives in a child: this process stays small, so that it cannot inflate the
        # children's peak (a child starts as a copy of its parent)
        subprocess.run([sys.executable, "-c", WRITE, str(photo), str(args.width), str(args.height)],
                       check=True)
        megapixels = args.width * args.height / 1e6
        print(f"{args.width}x{args.height} JPEG ({megapixels:.0f} megapixels, "
              f"{photo.stat().st_size / 1e6:.0f} MB file)")
        course_gb, course_s = peak_memory_gb("course", photo)
        whole_gb, whole_s = peak_memory_gb("whole", photo)
    print(f"{'':32}{'peak memory':>14}{'seconds':>10}")
    print(f"{'baseline: the whole photo at once':32}{whole_gb:>11.1f} GB{whole_s:>10.1f}")
    print(f"{'course: strips of ~2 megapixels':32}{course_gb:>11.1f} GB{course_s:>10.1f}")
    print(f"peak memory ratio baseline / course: {whole_gb / course_gb:.1f}x; course: "
          f"{course_gb * 1e9 / (megapixels * 1e6):.0f} bytes per pixel, all included")


if __name__ == "__main__":
    main()
