"""How long deciding a received file's type takes (storage/files.py: Pillow decodes images, pypdf opens PDFs).

    .venv/bin/python bench/file_sniff.py [--repeat 5]

Prints, per sample, its size and the median time of `sniff` (the whole check a file gets before it is kept).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image  # noqa: E402
from pypdf import PdfWriter  # noqa: E402

from storage.files import sniff  # noqa: E402


def phone_photo(fmt: str, size: tuple[int, int]) -> bytes:
    """A phone-sized picture with detail (a noise pattern scaled up), so it compresses like a photo."""
    small = Image.effect_noise((size[0] // 8, size[1] // 8), 64).convert("RGB")
    out = io.BytesIO()
    small.resize(size).save(out, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    return out.getvalue()


def pdf(pages: int) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    samples = {
        "JPEG 4032x3024 (12 MP phone photo)": phone_photo("JPEG", (4032, 3024)),
        "JPEG 1280x960 (Telegram-compressed photo)": phone_photo("JPEG", (1280, 960)),
        "PNG 1920x1080 (screenshot)": phone_photo("PNG", (1920, 1080)),
        "PDF 20 pages": pdf(20),
        "text named id.jpg (refused)": b"this is not a photo",
    }
    print(f"{'sample':45s} {'bytes':>10s} {'type':>25s} {'median ms':>10s}")
    for name, data in samples.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            kind = sniff(data)
            times.append((time.perf_counter() - start) * 1000)
        print(f"{name:45s} {len(data):10d} {kind:>25s} {statistics.median(times):10.1f}")


if __name__ == "__main__":
    main()
