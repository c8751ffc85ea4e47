"""Rebuild ``course_utils/photos/``: the freely licensed photographs the quick profile trains on.

They come from three Debian 12 (bookworm) wallpaper packages; only real colour photographs are kept
(no renders, abstract art or logos; no monochrome photos). Each is shrunk to a short side of
``--side`` pixels (Lanczos) and saved as a JPEG of quality 90; nothing else is changed.

    mkdir debs && cd debs && apt-get download mate-backgrounds plasma-workspace-wallpapers \\
        lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    for f in *.deb; do dpkg-deb -x "$f" root; done; cd ..
    python tools/bundle_photos.py debs/root

``credits.csv`` beside the photos names each photo's origin, author and licence (read from the
package's ``/usr/share/doc/<package>/copyright`` and, for Plasma, the wallpaper's ``metadata.json``);
``copyright.<package>`` are those copyright files, ``LICENSE.*`` the GNU licence texts they refer to.
"""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

from PIL import Image, ImageOps

OUT = Path(__file__).resolve().parent.parent / "course_utils" / "photos"
MATE = "usr/share/backgrounds/mate/nature"
PLASMA = "usr/share/wallpapers"
LOMIRI = "usr/share/backgrounds"
PLASMA_NOTE = "LGPL-3.0 (metadata.json); GPL-2.0-or-later (Debian copyright file)"

BARBIN = "Charles Barbin (2008)"
AITZOL = "Aitzol Berasategi (2018)"
FREESPACE = 'Trevor "Freespace" (2018)'

# name, file in the package, package, title, author (year), licence
PHOTOS = [
    *[(name.lower(), f"{MATE}/{name}.jpg", "mate-backgrounds 1.26.0-1", name, author, "GPL-2.0-or-later")
      for name, author in [
          ("Aqua", BARBIN), ("Blinds", "Lennart Poettering, Andrea Cimitan (2008)"),
          ("Dune", "Marco Cogoni (2007), Hylke Bons (2008)"), ("FreshFlower", "Jens Ansorg (2005)"),
          ("Garden", BARBIN), ("GreenMeadow", "Timothy Schellhase (2005), Lapo Calamandrei (2008)"),
          ("LadyBird", BARBIN), ("RainDrops", "blackcombwhistler07 (2008)"),
          ("Storm", "Sergey Nazarov (2008)"), ("TwoWings", "Charles Barbin, Hylke Bons (2008)"),
          ("Wood", "Jean-François Fortin Tam (2008)"), ("YellowFlower", BARBIN)]],
    *[(name.lower(), f"{PLASMA}/{name}/contents/images/2560x1600.jpg",
       "plasma-workspace-wallpapers 4:5.27.5-2", title, f"{author} (KDE Visual Design Group, 2014)",
       PLASMA_NOTE)
      for name, title, author in [
          ("BytheWater", "By the water", "Maciej Wiklo"), ("ColorfulCups", "Colorful Cups", "Dmitri Popov"),
          ("DarkestHour", "Darkest Hour", "Risto Saukonpää"), ("EveningGlow", "Evening Glow", "Ian Hex"),
          ("FallenLeaf", "Fallen Leaf", "Martin Klapetek"), ("Kite", "Kite", "Risto Saukonpää"),
          ("OneStandsOut", "One Stands Out", "Risto Saukonpää"), ("Path", "Path", "Risto Saukonpää"),
          ("summer_1am", "summer 1am", "Risto Saukonpää")]],
    *[(name, f"{LOMIRI}/{file}", f"lomiri-wallpapers-{release} 20.04.0-2",
       file.split("_by_")[0].replace("_", " "), author, licence)
      for name, release, file, author, licence in [
          ("aitzgorri", "16.04", "aitzgorri_by_Aitzol_Berasategi.jpg", AITZOL, "CC-BY-4.0"),
          ("bridge", "16.04", "Bridge_by_Sander_Klootwijk.jpg", "Sander Klootwijk (2018)", "CC-BY-SA-4.0"),
          ("dragonfly", "16.04", "Dragonfly_by_Bolly.jpg", "Bolly (2018)", "CC-BY-SA-4.0"),
          ("fig", "16.04", "Picture_0B_by_freespace.jpg", FREESPACE, "CC-BY-4.0"),
          ("brushes", "16.04", "Picture_1A_by_freespace.jpg", FREESPACE, "CC-BY-4.0"),
          ("friends", "16.04", "friends_by_Aitzol_Berasategi.jpg", AITZOL, "CC-BY-4.0"),
          ("greentock", "16.04", "greentock_by_Peter_Nerlich.jpg", "Peter Nerlich (2018)", "CC-BY-SA-4.0"),
          ("life", "16.04", "life_by_Aitzol_Berasategi.jpg", AITZOL, "CC-BY-4.0"),
          ("picosdeeuropa", "16.04", "picosdeeuropa_by_Aitzol_Berasategi.jpg", AITZOL, "CC-BY-4.0"),
          ("seeding", "16.04", "seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt (2018)", "CC0-1.0"),
          ("sunset", "16.04", "sunset_by_Aitzol_Berasategi.jpg", AITZOL, "CC-BY-4.0"),
          ("wine", "16.04", "Wine_by_Jakkub_Mede.jpg", "Jakub Mede (2018)", "CC-BY-4.0"),
          ("kleiber", "20.04", "Kleiber_by_Lukas_Baubkus.jpg", "Lukas Baubkus (2021)", "CC-BY-SA-3.0")]],
]
LICENSES = {"copyright.mate-backgrounds": "usr/share/doc/mate-backgrounds/copyright",
            "copyright.plasma-workspace-wallpapers": "usr/share/doc/plasma-workspace-wallpapers/copyright",
            "copyright.lomiri-wallpapers": "usr/share/doc/lomiri-wallpapers-16.04/copyright",
            **{f"LICENSE.{name}": f"/usr/share/common-licenses/{name}" for name in ("GPL-2", "GPL-3",
                                                                                    "LGPL-3")}}
FIELDS = ("file", "title", "author", "licence", "source", "changes")


def shrink(src: Path, dst: Path, side: int) -> str:
    """Save ``src`` with its short side at ``side`` px as a quality-90 JPEG; describe what was done."""
    Image.MAX_IMAGE_PIXELS = None  # the largest originals are 20 megapixels
    with Image.open(src) as img:
        img = ImageOps.exif_transpose(img).convert("RGB")
        size = img.size
        scale = side / min(size)
        img = img.resize((round(size[0] * scale), round(size[1] * scale)), Image.Resampling.LANCZOS)
        img.save(dst, quality=90, optimize=True)
    return f"shrunk from {size[0]}x{size[1]} to {img.size[0]}x{img.size[1]}, JPEG quality 90"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path, help="folder the .deb files were unpacked into (dpkg-deb -x)")
    parser.add_argument("--side", type=int, default=256, help="short side of the saved photos, in px")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, file, package, title, author, licence in PHOTOS:
        changes = shrink(args.root / file, args.out / f"{name}.jpg", args.side)
        rows.append(dict(zip(FIELDS, (f"{name}.jpg", title, author, licence,
                                      f"Debian package {package}: /{file}", changes), strict=True)))
    with open(args.out / "credits.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    for name, file in LICENSES.items():
        shutil.copyfile(args.root / file, args.out / name)  # an absolute file ignores root
    total = sum(p.stat().st_size for p in args.out.glob("*.jpg"))
    print(f"{len(rows)} photos, {total / 1e6:.2f} MB, in {args.out}")


if __name__ == "__main__":
    main()
