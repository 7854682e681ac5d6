"""The spec bundles the Keras backends present in the build environment (no build needed)."""
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    spec = importlib.util.spec_from_file_location("sd_desk_bundle_backends",
                                                  ROOT / "packaging" / "bundle_backends.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundle = _load()


def test_by_default_every_installed_backend_is_bundled():
    from engine.compute.selection import installed_backends
    assert bundle.chosen() == installed_backends()
    assert bundle.chosen(installed=["tensorflow", "torch"]) == ["tensorflow", "torch"]


def test_a_requested_backend_must_be_installed_and_known():
    assert bundle.chosen(" Torch ", installed=["tensorflow", "torch"]) == ["torch"]
    with pytest.raises(SystemExit, match=r'"\.\[jax\]"'):
        bundle.chosen("jax", installed=["tensorflow"])
    with pytest.raises(SystemExit, match="unknown backend"):
        bundle.chosen("numpy", installed=["tensorflow"])
    with pytest.raises(SystemExit, match="no Keras backend"):
        bundle.chosen(None, installed=[])


def test_backends_left_out_are_excluded_whole():
    excluded = bundle.excluded_packages(["torch"])
    assert {"tensorflow", "tensorflow_datasets", "jax", "jaxlib"} <= set(excluded)
    assert "torch" not in excluded
    assert bundle.excluded_packages(list(bundle.PACKAGES)) == []


def test_without_tensorflow_the_stable_diffusion_modules_are_named_from_files():
    modules = bundle.stable_diffusion_modules()
    package = "keras_cv.src.models.stable_diffusion"
    for name in ("diffusion_model", "text_encoder", "decoder", "image_encoder",
                 "clip_tokenizer", "constants"):
        assert f"{package}.{name}" in modules

