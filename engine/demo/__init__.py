"""The built-in demo model: a small text-to-image diffusion model of our own.

Importing this package registers it as "demo" in engine.models.registry; it is
cheap (no TensorFlow), so the CLI and the GUI can list the model without loading it.
"""
from engine.models.registry import ModelSpec, register

DEMO_MODEL_ID = "demo"
DEMO = ModelSpec(
    id=DEMO_MODEL_ID,
    label="Demo (built-in)",
    family="demo",
    files=(),
    description=(
        "A tiny model trained by the SD Desk team on synthetic pictures of circles, squares "
        "and triangles in eight colours. It ships with the app and needs no download; it "
        "only knows words like \"a small red circle on the left, blue background\"."
    ),
)
register(DEMO)
