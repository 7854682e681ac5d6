"""The demo model's whole world: flat shapes on a flat background, and their captions.

Training data, the evaluation's held-out captions and the tests' expectations all
come from here, so the renderer, the grammar and the image analysis agree on what
"on the left" or "a small circle" means.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "yellow": (240, 220, 40),
    "purple": (140, 60, 190),
    "orange": (245, 140, 30),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle")
# Centres in image fractions (x, y); y grows downwards as in the pixels.
POSITIONS: dict[str, tuple[float, float]] = {
    "left": (0.25, 0.5),
    "right": (0.75, 0.5),
    "top": (0.5, 0.25),
    "bottom": (0.5, 0.75),
    "centre": (0.5, 0.5),
}
POSITION_PHRASES = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "centre": "in the centre",
}
# Half the shape's extent, as a fraction of the image side.
SIZES: dict[str, float] = {"small": 0.11, "large": 0.21}
OPPOSITE_PAIRS = (("left", "right"), ("top", "bottom"))

# (shape colour, shape, background) never shown in training: the evaluation asks
# for these, so it measures whether the model composes words it learned apart.
HELD_OUT: tuple[tuple[str, str, str], ...] = (
    ("red", "circle", "blue"),
    ("green", "triangle", "white"),
    ("blue", "square", "yellow"),
    ("yellow", "circle", "black"),
    ("purple", "triangle", "orange"),
    ("orange", "square", "green"),
    ("white", "circle", "purple"),
    ("black", "triangle", "red"),
    ("red", "square", "green"),
    ("blue", "triangle", "orange"),
    ("yellow", "square", "purple"),
    ("green", "circle", "black"),
)
_HELD_OUT = frozenset(HELD_OUT)


@dataclass(frozen=True)
class Shape:
    kind: str
    colour: str
    position: str
    size: str
    # Exact geometry in image fractions; jitter keeps the model from memorising pixels.
    cx: float
    cy: float
    r: float


@dataclass(frozen=True)
class Scene:
    background: str
    shapes: tuple[Shape, ...]
    caption: str = ""

    def is_held_out(self) -> bool:
        return any((s.colour, s.kind, self.background) in _HELD_OUT for s in self.shapes)


def article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def shape_phrase(kind: str, colour: str, size: Optional[str] = None,
                 position: Optional[str] = None) -> str:
    words = [w for w in (size, colour, kind) if w]
    text = f"{article(words[0])} {' '.join(words)}"
    return f"{text} {POSITION_PHRASES[position]}" if position else text


def caption_for(shapes: list[tuple[str, str, Optional[str], Optional[str]]], background: str) -> str:
    """`shapes` holds (kind, colour, size or None, position or None)."""
    phrases = [shape_phrase(k, c, s, p) for k, c, s, p in shapes]
    return f"{' and '.join(phrases)}, {background} background"


def make_shape(rng: np.random.Generator, kind: str, colour: str, position: str, size: str) -> Shape:
    x, y = POSITIONS[position]
    return Shape(
        kind, colour, position, size,
        cx=x + rng.uniform(-0.04, 0.04),
        cy=y + rng.uniform(-0.04, 0.04),
        r=SIZES[size] * rng.uniform(0.9, 1.1),
    )


def random_scene(rng: np.random.Generator, allow_held_out: bool = False,
                 two_shapes: float = 0.3, say_size: float = 0.6,
                 say_position: float = 0.7) -> Scene:
    """A scene and one caption of it; words left out of the caption are still drawn at random."""
    names = list(COLOURS)
    while True:
        background = names[rng.integers(len(names))]
        others = [c for c in names if c != background]
        if rng.random() < two_shapes:
            pair = OPPOSITE_PAIRS[rng.integers(2)]
            positions = list(pair) if rng.random() < 0.5 else list(reversed(pair))
        else:
            positions = [list(POSITIONS)[rng.integers(len(POSITIONS))]]
        shapes = tuple(
            make_shape(rng, SHAPES[rng.integers(len(SHAPES))], others[rng.integers(len(others))],
                       p, list(SIZES)[rng.integers(len(SIZES))])
            for p in positions
        )
        scene = Scene(background, shapes)
        if allow_held_out or not scene.is_held_out():
            break
    mention_size = rng.random() < say_size
    mention_position = rng.random() < say_position
    caption = caption_for(
        [(s.kind, s.colour, s.size if mention_size else None,
          s.position if mention_position else None) for s in shapes],
        background,
    )
    return Scene(background, shapes, caption)


def render(scenes: list[Scene], size: int, supersample: int = 4) -> np.ndarray:
    """uint8 (N, size, size, 3), edges anti-aliased by averaging a finer grid."""
    fine = size * supersample
    coords = (np.arange(fine, dtype=np.float32) + 0.5) / fine
    xs, ys = np.meshgrid(coords, coords)
    out = np.empty((len(scenes), size, size, 3), np.uint8)
    for i, scene in enumerate(scenes):
        image = np.empty((fine, fine, 3), np.float32)
        image[:] = COLOURS[scene.background]
        for s in scene.shapes:
            image[shape_mask(s, xs, ys)] = COLOURS[s.colour]
        image = image.reshape(size, supersample, size, supersample, 3).mean(axis=(1, 3))
        out[i] = np.clip(np.round(image), 0, 255).astype(np.uint8)
    return out


def shape_mask(s: Shape, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    dx, dy = xs - s.cx, ys - s.cy
    if s.kind == "circle":
        return dx * dx + dy * dy <= s.r * s.r
    if s.kind == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= s.r
    # Apex up, base down; it fills half its 2r x 2r box.
    depth = (dy + s.r) / (2 * s.r)
    return (depth >= 0) & (depth <= 1) & (np.abs(dx) <= depth * s.r)


def eval_captions() -> list[tuple[str, Scene]]:
    """Held-out captions, each naming size and position, with the scene it asks for
    (geometry at the anchor, no jitter) so analysis knows what to expect."""
    cases = []
    for i, (colour, kind, background) in enumerate(HELD_OUT):
        for j, position in enumerate(POSITIONS):
            size = list(SIZES)[(i + j) % 2]
            x, y = POSITIONS[position]
            shape = Shape(kind, colour, position, size, x, y, SIZES[size])
            caption = caption_for([(kind, colour, size, position)], background)
            cases.append((caption, Scene(background, (shape,), caption)))
    return cases
