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


def shape_phrase(kind: str, colour: Optional[str], size: Optional[str] = None,
                 position: Optional[str] = None) -> str:
    words = [w for w in (size, colour, kind) if w]
    text = f"{article(words[0])} {' '.join(words)}"
    return f"{text} {POSITION_PHRASES[position]}" if position else text


def caption_for(shapes: list[tuple[str, Optional[str], Optional[str], Optional[str]]],
                background: Optional[str]) -> str:
    """`shapes` holds (kind, colour or None, size or None, position or None)."""
    phrases = " and ".join(shape_phrase(k, c, s, p) for k, c, s, p in shapes)
    return f"{phrases}, {background} background" if background else phrases


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
                 say_position: float = 0.7, say_colour: float = 1.0,
                 say_background: float = 1.0) -> Scene:
    """A scene and one caption of it; words left out of the caption are still drawn at random.

    A probability of 1 draws no random number, so the defaults repeat the scene
    stream the committed weights were first trained on.
    """
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
    mention_colour = say_colour >= 1 or rng.random() < say_colour
    mention_background = say_background >= 1 or rng.random() < say_background
    caption = caption_for(
        [(s.kind, s.colour if mention_colour else None, s.size if mention_size else None,
          s.position if mention_position else None) for s in shapes],
        background if mention_background else None,
    )
    return Scene(background, shapes, caption)


KIND_IDS = {kind: i for i, kind in enumerate(SHAPES)}
MAX_SHAPES = 2


def scene_arrays(scenes: list[Scene]) -> dict[str, np.ndarray]:
    """Scenes as plain arrays, so a renderer can run on any array library (a GPU's too).

    Shape slots past a scene's own shapes are marked absent (`present` False).
    """
    n = len(scenes)
    arrays = {
        "background": np.zeros((n, 3), np.float32),
        "kind": np.zeros((n, MAX_SHAPES), np.int32),
        "colour": np.zeros((n, MAX_SHAPES, 3), np.float32),
        "geometry": np.zeros((n, MAX_SHAPES, 3), np.float32),  # cx, cy, r
        "present": np.zeros((n, MAX_SHAPES), bool),
    }
    for i, scene in enumerate(scenes):
        arrays["background"][i] = COLOURS[scene.background]
        for k, s in enumerate(scene.shapes):
            arrays["kind"][i, k] = KIND_IDS[s.kind]
            arrays["colour"][i, k] = COLOURS[s.colour]
            arrays["geometry"][i, k] = (s.cx, s.cy, s.r)
            arrays["present"][i, k] = True
    return arrays


def render_arrays(arrays: dict, size: int, xp=np, supersample: int = 4):
    """Float (N, size, size, 3) of whole levels 0..255 from `scene_arrays` output.

    `xp` is numpy or an array library with its interface (jax.numpy): the
    training script draws its batches on the GPU with this same code.
    """
    fine = size * supersample
    coords = (xp.arange(fine, dtype=xp.float32) + 0.5) / fine
    ys, xs = coords[None, :, None], coords[None, None, :]
    n = arrays["background"].shape[0]
    image = xp.broadcast_to(arrays["background"][:, None, None, :], (n, fine, fine, 3))
    # Later shapes are drawn over earlier ones.
    for k in range(MAX_SHAPES):
        cx, cy, r = (arrays["geometry"][:, k, j][:, None, None] for j in range(3))
        kind = arrays["kind"][:, k][:, None, None]
        dx, dy = xs - cx, ys - cy
        circle = dx * dx + dy * dy <= r * r
        square = xp.maximum(xp.abs(dx), xp.abs(dy)) <= r
        # Apex up, base down; it fills half its 2r x 2r box.
        depth = (dy + r) / (2 * xp.where(r > 0, r, 1.0))  # absent slots have r = 0
        triangle = (depth >= 0) & (depth <= 1) & (xp.abs(dx) <= depth * r)
        mask = xp.where(kind == 0, circle, xp.where(kind == 1, square, triangle))
        mask = mask & arrays["present"][:, k][:, None, None]
        image = xp.where(mask[..., None], arrays["colour"][:, k][:, None, None, :], image)
    image = image.reshape(n, size, supersample, size, supersample, 3).mean(axis=(2, 4))
    return xp.clip(xp.round(image), 0, 255)


def render(scenes: list[Scene], size: int, supersample: int = 4) -> np.ndarray:
    """uint8 (N, size, size, 3), edges anti-aliased by averaging a finer grid."""
    out = np.empty((len(scenes), size, size, 3), np.uint8)
    # In slices: the fine grid of a whole batch at once would take gigabytes.
    for start in range(0, len(scenes), 16):
        chunk = scene_arrays(scenes[start:start + 16])
        out[start:start + 16] = render_arrays(chunk, size, np, supersample)
    return out


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
