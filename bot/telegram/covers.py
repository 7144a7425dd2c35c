"""A generated cover picture for tracks without a thumbnail (``bot.now_playing_images``)."""

from __future__ import annotations

import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFont

SIZE = 320


def cover_png(title: str) -> bytes:
    """A square PNG: a colour derived from the title (stable per track) and the title."""
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    top = (digest[0] // 2, digest[1] // 2, digest[2] // 2 + 60)
    bottom = (digest[3] // 3, digest[4] // 3, digest[5] // 3)
    image = Image.new("RGB", (SIZE, SIZE), top)
    draw = ImageDraw.Draw(image)
    for y in range(SIZE):
        mix = y / SIZE
        colour = tuple(int(a + (b - a) * mix) for a, b in zip(top, bottom, strict=True))
        draw.line([(0, y), (SIZE, y)], fill=colour)
    font = ImageFont.load_default(size=22)
    lines = textwrap.wrap(title, width=22)[:5] or ["♪"]
    y = SIZE // 2 - len(lines) * 14
    for line in lines:
        draw.text((SIZE // 2, y), line, fill=(255, 255, 255), font=font, anchor="mt")
        y += 28
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()
