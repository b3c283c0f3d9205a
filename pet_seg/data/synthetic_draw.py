"""Drawing for the synthetic pets: textured backgrounds and ellipse-and-triangle animals.

The aim is not realism but the same difficulties as the real photos: the pet is not the only
textured thing, colours overlap, outlines are curved, pets may be cut by the image border, and
the trimap has an unclassified band along the outline. Everything draws from the caller's
``numpy.random.Generator`` so one seed gives byte-identical files.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0, 255, size=3)


def _blotches(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Smooth random field in [0, 1], (H, W): a coarse grid upsampled bicubically."""
    grid = rng.integers(0, 256, size=(cells, cells), dtype=np.uint8)
    field = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(field, dtype=np.float32)[..., None] / 255.0  # (H, W, 1)


def _stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sinusoidal stripes in [0, 1], (H, W, 1), random angle and period."""
    angle, period = rng.uniform(0, np.pi), rng.uniform(4, 24)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    phase = (x * np.cos(angle) + y * np.sin(angle)) * (2 * np.pi / period)
    return (0.5 + 0.5 * np.sin(phase))[..., None]


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Linear ramp in [0, 1], (H, W, 1), random direction."""
    angle = rng.uniform(0, 2 * np.pi)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = x * np.cos(angle) + y * np.sin(angle)
    return ((ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0))[..., None]


def texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Two random colours mixed by a random pattern plus pixel noise: (H, W, 3) float32."""
    kind = int(rng.integers(3))
    if kind == 0:
        weight = _blotches(rng, height, width, cells=int(rng.integers(3, 10)))
    elif kind == 1:
        weight = _stripes(rng, height, width)
    else:
        weight = _gradient(rng, height, width)
    low, high = _colour(rng), _colour(rng)
    image = low * (1 - weight) + high * weight
    return image + rng.normal(0, rng.uniform(2, 12), size=(height, width, 3))


def _ellipse(centre: Point, a: float, b: float, angle: float, n: int = 48) -> list[Point]:
    """Polygon of a rotated ellipse (Pillow's ellipse cannot rotate)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    cos, sin = np.cos(angle), np.sin(angle)
    return [
        (centre[0] + xi * cos - yi * sin, centre[1] + xi * sin + yi * cos)
        for xi, yi in zip(x, y, strict=True)
    ]


def _centre(rng: np.random.Generator, width: int, height: int, touch_border: bool) -> Point:
    if not touch_border:
        return rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    # Put the body on an edge so part of the pet is cut off, as in close-up photos.
    edge = int(rng.integers(4))
    along = rng.uniform(0.25, 0.75)
    return [
        (along * width, 0.05 * height),
        (along * width, 0.95 * height),
        (0.05 * width, along * height),
        (0.95 * width, along * height),
    ][edge]


def draw_animal(
    draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: tuple[int, int], touch: bool
) -> None:
    """Body ellipse, head, two ears, legs and a tail, rotated as a whole, filled with 255."""
    width, height = size
    a = rng.uniform(0.16, 0.3) * min(width, height)  # body half-length
    b = a * rng.uniform(0.5, 0.8)  # body half-height
    r = b * rng.uniform(0.6, 0.9)  # head radius
    angle = rng.uniform(0, 2 * np.pi)
    cx, cy = _centre(rng, width, height, touch)
    fwd = np.array([np.cos(angle), np.sin(angle)])
    up = np.array([-fwd[1], fwd[0]]) * rng.choice([-1.0, 1.0])
    centre = np.array([cx, cy])

    def at(along: float, across: float) -> Point:
        x, y = centre + fwd * along + up * across
        return float(x), float(y)

    draw.polygon(_ellipse((cx, cy), a, b, angle), fill=255)
    head_along = a * 0.85 + r * 0.4
    draw.polygon(_ellipse(at(head_along, b * 0.3), r, r * 0.9, angle), fill=255)
    for side in (-1.0, 1.0):
        base = head_along + side * r * 0.45
        ear = [at(base - r * 0.3, b * 0.3 + r * 0.5), at(base + r * 0.3, b * 0.3 + r * 0.5)]
        draw.polygon([*ear, at(base, b * 0.3 + r * 1.5)], fill=255)
    leg = max(2, round(b * 0.3))
    for along in (-0.6 * a, 0.55 * a):
        draw.line([at(along, -b * 0.5), at(along, -b * 1.5)], fill=255, width=leg)
    draw.line([at(-a * 0.9, 0), at(-a * 1.5, b * 0.9)], fill=255, width=max(2, leg - 1))


def to_trimap(mask: Image.Image, band: int) -> np.ndarray:
    """Binary "L" mask (0/255) → trimap: 1 pet, 2 background, 3 a band of ``band - 1`` px
    straddling the outline (dilation minus erosion, like the real annotators' unsure zone)."""
    grown = np.asarray(mask.filter(ImageFilter.MaxFilter(band))) > 0
    shrunk = np.asarray(mask.filter(ImageFilter.MinFilter(band))) > 0
    trimap = np.full(grown.shape, 2, dtype=np.uint8)
    trimap[grown] = 3
    trimap[shrunk] = 1
    return trimap  # (H, W) uint8 in {1, 2, 3}


def render(
    rng: np.random.Generator, min_size: int, max_size: int, touch_border: bool
) -> tuple[Image.Image, np.ndarray]:
    """One RGB picture with one or two animals, and its (H, W) uint8 trimap."""
    width, height = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    image = texture(rng, height, width)
    mask = np.zeros((height, width), dtype=bool)
    for k in range(1 + int(rng.random() < 0.25)):
        one = Image.new("L", (width, height), 0)
        draw_animal(ImageDraw.Draw(one), rng, (width, height), touch_border and k == 0)
        inside = np.asarray(one) > 0
        image[inside] = texture(rng, height, width)[inside]
        mask |= inside
    rgb = Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))
    band = int(rng.choice([3, 5]))  # 2 or 4 px wide
    return rgb, to_trimap(Image.fromarray(mask.astype(np.uint8) * 255), band)
