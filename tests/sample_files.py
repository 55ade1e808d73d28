"""Real files for tests: small images Pillow decodes and a PDF pypdf reads (the store opens what it keeps)."""

from __future__ import annotations

import io

from PIL import Image
from pypdf import PdfWriter


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (40, 30), colour: str = "teal") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def pdf_bytes(pages: int = 1) -> bytes:
    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(width=595, height=842)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


JPEG = image_bytes("JPEG")
PNG = image_bytes("PNG")
PDF = pdf_bytes()
