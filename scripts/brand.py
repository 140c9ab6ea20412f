"""Draw BaluPi's brand images into custom_components/balupi/brand/.

Home Assistant 2026.3 and later serve a custom integration's icon and logo from the
``brand/`` folder inside the integration, and HACS's brands check accepts
``custom_components/<domain>/brand/icon.png``. The images follow the rules of the
home-assistant/brands README: PNG with transparency, trimmed to the subject, icons
256x256 and 512x512 (``@2x``), logos with the shortest side 256 (512 for ``@2x``).

Everything is drawn here from geometry, nothing is copied and no font is needed:
each shape is a signed distance field (``numpy``, which Home Assistant ships anyway)
and its edge is antialiased analytically, so every size is drawn sharp rather than
scaled from another. Only ``+ - * /``, ``sqrt``, ``min`` and ``max`` are used, which
IEEE 754 rounds the same everywhere, so the pixels do not depend on the machine.

The mark: a navy tile holding a white two-bay NAS whose drive LEDs are lit, with a
raspberry power badge on its corner (the Pi that watches its power and wakes it).
The logo adds the word "BaluPi" in rounded monoline letters drawn the same way;
``dark_logo`` recolours the word for dark themes. The tile reads on light and dark
backgrounds alike, so there is no ``dark_icon``: Home Assistant falls back to the icon.

Run: .venv/bin/python scripts/brand.py [--out DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Field = NDArray[np.float64]
RGB = tuple[int, int, int]

BRAND_DIR = (
    Path(__file__).resolve().parent.parent / "custom_components" / "balupi" / "brand"
)

NAVY: RGB = (23, 58, 94)
BERRY: RGB = (214, 51, 108)
WHITE: RGB = (255, 255, 255)
# The word on a dark theme: near-white and a lighter raspberry.
DARK_TEXT: RGB = (238, 242, 246)
DARK_BERRY: RGB = (244, 104, 150)

ICON_PX = 256  # icon.png; icon@2x.png is twice this
LOGO_PX = 256  # height of logo.png; logo@2x.png is twice this


class Canvas:
    """An RGBA surface measured in units of its height (the height is 1.0)."""

    def __init__(self, width_px: int, height_px: int) -> None:
        """Make a transparent canvas; one unit is ``height_px`` pixels."""
        self.scale = float(height_px)
        xs = (np.arange(width_px, dtype=np.float64) + 0.5) / self.scale
        ys = (np.arange(height_px, dtype=np.float64) + 0.5) / self.scale
        self.x, self.y = np.meshgrid(xs, ys)
        self._rgb: Field = np.zeros((height_px, width_px, 3))  # premultiplied
        self._alpha: Field = np.zeros((height_px, width_px))

    def fill(self, dist: Field, color: RGB) -> None:
        """Paint where ``dist`` (units, negative inside) is inside, over what is there."""
        cover = np.clip(0.5 - dist * self.scale, 0.0, 1.0)
        keep = 1.0 - cover
        paint = np.array(color, dtype=np.float64) / 255.0
        self._rgb = self._rgb * keep[..., None] + paint * cover[..., None]
        self._alpha = self._alpha * keep + cover

    def image(self) -> Image.Image:
        """Return the canvas as a straight-alpha RGBA image."""
        alpha = self._alpha
        safe = np.where(alpha > 0.0, alpha, 1.0)
        rgb = np.clip(self._rgb / safe[..., None], 0.0, 1.0)
        a8 = np.rint(alpha * 255.0).astype(np.uint8)
        rgb8 = np.rint(rgb * 255.0).astype(np.uint8)
        rgb8[a8 == 0] = 0  # invisible pixels carry no colour: smaller, reproducible
        return Image.fromarray(np.dstack([rgb8, a8]), "RGBA")


# Distance fields. Points are the canvas grids (x right, y down); all in units.


def _length(dx: Field, dy: Field) -> Field:
    return np.sqrt(dx * dx + dy * dy)


def circle(c: Canvas, cx: float, cy: float, r: float) -> Field:
    """Disc of radius ``r``."""
    return _length(c.x - cx, c.y - cy) - r


def rounded_box(
    c: Canvas, x0: float, y0: float, x1: float, y1: float, r: float
) -> Field:
    """Rectangle from (x0, y0) to (x1, y1) with corner radius ``r``."""
    qx = np.abs(c.x - (x0 + x1) / 2) - ((x1 - x0) / 2 - r)
    qy = np.abs(c.y - (y0 + y1) / 2) - ((y1 - y0) / 2 - r)
    outside = _length(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    inside: Field = np.minimum(np.maximum(qx, qy), 0.0)
    return outside + inside - r


def segment(c: Canvas, ax: float, ay: float, bx: float, by: float) -> Field:
    """Distance to the line segment from (ax, ay) to (bx, by)."""
    px, py = c.x - ax, c.y - ay
    vx, vy = bx - ax, by - ay
    t = np.clip((px * vx + py * vy) / (vx * vx + vy * vy), 0.0, 1.0)
    return _length(px - t * vx, py - t * vy)


def half_ring(c: Canvas, cx: float, cy: float, r: float, dx: float, dy: float) -> Field:
    """Distance to the half circle around (cx, cy) that bulges along (dx, dy)."""
    px, py = c.x - cx, c.y - cy
    ring = np.abs(_length(px, py) - r)
    # Behind the diameter the nearest point of a half circle is one of its ends.
    ends = np.minimum(
        _length(px + dy * r, py - dx * r), _length(px - dy * r, py + dx * r)
    )
    return np.where(px * dx + py * dy >= 0.0, ring, ends)


def ring(c: Canvas, cx: float, cy: float, r: float) -> Field:
    """Distance to the circle of radius ``r``."""
    return np.abs(_length(c.x - cx, c.y - cy) - r)


def open_ring(c: Canvas, cx: float, cy: float, r: float, sin: float) -> Field:
    """Distance to a circle with a gap at the top of half-angle asin(``sin``)."""
    cos = float(np.sqrt(1.0 - sin * sin))
    px, py = c.x - cx, c.y - cy
    up = -py
    in_gap = (up > 0.0) & (np.abs(px) * cos < up * sin)
    ends = np.minimum(
        _length(px - sin * r, py + cos * r), _length(px + sin * r, py + cos * r)
    )
    return np.where(in_gap, ends, np.abs(_length(px, py) - r))


def union(fields: Iterable[Field]) -> Field:
    """Distance to the union of several shapes."""
    it = iter(fields)
    out = next(it)
    for f in it:
        out = np.minimum(out, f)
    return out


# The mark fills the unit square at the canvas's top left.


def draw_mark(c: Canvas) -> None:
    """Draw the tile with the NAS and the power badge."""
    tile = rounded_box(c, 0.0, 0.0, 1.0, 1.0, 0.22)
    c.fill(tile, NAVY)

    # Power badge on the NAS's lower right corner, with a navy moat around it.
    bx, by, br = 0.69, 0.69, 0.19
    moat = circle(c, bx, by, br + 0.045)

    # The NAS: a white box with two drive bays cut into it.
    nas = rounded_box(c, 0.19, 0.15, 0.63, 0.85, 0.075)
    bays = union(segment(c, 0.29, y, 0.45, y) - 0.032 for y in (0.31, 0.455))
    c.fill(np.maximum(np.maximum(nas, -bays), -moat), WHITE)
    for y in (0.31, 0.455):
        c.fill(circle(c, 0.535, y, 0.036), BERRY)

    c.fill(circle(c, bx, by, br), BERRY)
    power = union(
        [
            open_ring(c, bx, by + 0.012, 0.092, 0.6),
            segment(c, bx, by - 0.11, bx, by - 0.03),
        ]
    )
    c.fill(power - 0.026, WHITE)  # a stroke 0.052 wide


# The word "BaluPi": rounded monoline letters. A glyph gives the distance to its centre
# lines, for a left edge at x and the baseline at BASE, and its advance width; the word
# is then filled as those lines widened by HALF on each side.

CAP = 0.44  # cap height (units of logo height)
XH = 0.30  # x-height
STROKE = 0.084
HALF = STROKE / 2
BASE = 0.5 + CAP / 2  # baseline: the capitals sit centred on the tile
TRACK = 0.048  # gap between the inks of neighbouring letters

Glyph = Callable[[Canvas, float], tuple[Field, float]]


def glyph_b(c: Canvas, x: float) -> tuple[Field, float]:
    """Capital B: a stem and two bowls, the lower one larger."""
    top, bot, mid = BASE - CAP + HALF, BASE - HALF, BASE - CAP * 0.53
    stem = x + HALF
    r1, r2 = (mid - top) / 2, (bot - mid) / 2
    x1, x2 = stem + 0.105, stem + 0.125
    parts = [
        segment(c, stem, top, stem, bot),
        segment(c, stem, top, x1, top),
        half_ring(c, x1, top + r1, r1, 1.0, 0.0),
        segment(c, stem, mid, x2, mid),
        half_ring(c, x2, mid + r2, r2, 1.0, 0.0),
        segment(c, stem, bot, x2, bot),
    ]
    return union(parts), x2 + r2 + HALF - x


def glyph_a(c: Canvas, x: float) -> tuple[Field, float]:
    """Single-storey a: a bowl and a stem on its right."""
    r = (XH - STROKE) / 2
    cx, cy = x + HALF + r, BASE - XH / 2
    stem = cx + r
    parts = [ring(c, cx, cy, r), segment(c, stem, BASE - XH + HALF, stem, BASE - HALF)]
    return union(parts), stem + HALF - x


def glyph_l(c: Canvas, x: float) -> tuple[Field, float]:
    """Lower-case l: a single stem as tall as the capitals."""
    stem = x + HALF
    return segment(c, stem, BASE - CAP + HALF, stem, BASE - HALF), STROKE


def glyph_u(c: Canvas, x: float) -> tuple[Field, float]:
    """Lower-case u: two stems joined by a round bottom; the right stem is whole."""
    r = (XH - STROKE) / 2
    left, right = x + HALF, x + HALF + 2 * r
    cy = BASE - HALF - r
    top = BASE - XH + HALF
    parts = [
        segment(c, left, top, left, cy),
        half_ring(c, (left + right) / 2, cy, r, 0.0, 1.0),
        segment(c, right, top, right, BASE - HALF),
    ]
    return union(parts), right + HALF - x


def glyph_p(c: Canvas, x: float) -> tuple[Field, float]:
    """Capital P: a stem and one bowl."""
    top, bot = BASE - CAP + HALF, BASE - HALF
    mid = BASE - CAP * 0.44
    stem = x + HALF
    r = (mid - top) / 2
    x1 = stem + 0.11
    parts = [
        segment(c, stem, top, stem, bot),
        segment(c, stem, top, x1, top),
        half_ring(c, x1, top + r, r, 1.0, 0.0),
        segment(c, stem, mid, x1, mid),
    ]
    return union(parts), x1 + r + HALF - x


def glyph_i(c: Canvas, x: float) -> tuple[Field, float]:
    """Lower-case i: a stem and a slightly wider dot level with the capitals' top."""
    dot_r = HALF * 1.1
    stem = x + dot_r
    parts = [
        segment(c, stem, BASE - XH + HALF, stem, BASE - HALF),
        circle(c, stem, BASE - CAP + dot_r, dot_r - HALF),  # strokes add HALF
    ]
    return union(parts), 2 * dot_r


WORD: tuple[tuple[Glyph, str], ...] = (
    (glyph_b, "name"),
    (glyph_a, "name"),
    (glyph_l, "name"),
    (glyph_u, "name"),
    (glyph_p, "pi"),
    (glyph_i, "pi"),
)
WORD_X = 1.0 + 0.18  # the word starts this far from the logo's left edge


def _layout_word(c: Canvas) -> tuple[list[tuple[Field, str]], float]:
    x = WORD_X
    placed = []
    for glyph, part in WORD:
        field, advance = glyph(c, x)
        placed.append((field, part))
        x += advance + TRACK
    return placed, x - TRACK


def logo_width_px(height_px: int) -> int:
    """Width of the logo at a height, proportional so @2x is exactly twice as wide."""
    probe = Canvas(1, 1)
    _, right = _layout_word(probe)
    return math.ceil(right * LOGO_PX) * height_px // LOGO_PX


def draw_icon(px: int) -> Image.Image:
    """The square icon."""
    c = Canvas(px, px)
    draw_mark(c)
    return c.image()


def draw_logo(height_px: int, *, dark: bool = False) -> Image.Image:
    """The mark followed by the word, for a light or a dark background."""
    c = Canvas(logo_width_px(height_px), height_px)
    draw_mark(c)
    colors = (
        {"name": DARK_TEXT, "pi": DARK_BERRY} if dark else {"name": NAVY, "pi": BERRY}
    )
    placed, _ = _layout_word(c)
    for part in ("name", "pi"):
        c.fill(union(f for f, p in placed if p == part) - HALF, colors[part])
    return c.image()


def render() -> dict[str, Image.Image]:
    """Every brand image by file name."""
    return {
        "icon.png": draw_icon(ICON_PX),
        "icon@2x.png": draw_icon(2 * ICON_PX),
        "logo.png": draw_logo(LOGO_PX),
        "logo@2x.png": draw_logo(2 * LOGO_PX),
        "dark_logo.png": draw_logo(LOGO_PX, dark=True),
        "dark_logo@2x.png": draw_logo(2 * LOGO_PX, dark=True),
    }


def save(image: Image.Image, path: Path) -> None:
    """Write a losslessly compressed PNG.

    The brands README prefers interlaced PNGs; Pillow cannot write them, and for
    images this small interlacing would only make the files larger.
    """
    image.save(path, format="PNG", optimize=True)


def main() -> None:
    """Write the images."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BRAND_DIR, help="target folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, image in render().items():
        path = args.out / name
        save(image, path)
        print(f"{path}: {image.width}x{image.height}, {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
