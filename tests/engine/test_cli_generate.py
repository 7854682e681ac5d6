"""`python main.py generate`: what a person at a terminal sees and gets."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args, env_extra=None):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_help_documents_every_option():
    completed = run_cli("generate", "--help")
    assert completed.returncode == 0
    for option in ("--prompt", "--negative-prompt", "--seed", "--sampler", "--steps", "--guidance", "--width",
                   "--height", "--batch", "--model", "--mixed-precision", "--xla",
                   "--weights-dir", "--out"):
        assert option in completed.stdout
    for sampler in ("ddim", "euler-a", "dpmpp-2m-karras", "unipc", "DPM++ 2M Karras"):
        assert sampler in " ".join(completed.stdout.split())


def test_bad_input_exits_non_zero_with_every_message(tmp_path):
    completed = run_cli("generate", "--prompt", "a cat", "--width", "500", "--steps", "0",
                        "--guidance", "40", "--sampler", "lms", "--out", str(tmp_path / "out"))
    assert completed.returncode != 0
    assert "Width 500" in completed.stderr and "such as 512" in completed.stderr
    assert "Steps" in completed.stderr and "Guidance" in completed.stderr
    assert "No sampler 'lms'" in completed.stderr and "dpmpp-2m-karras" in completed.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_missing_weights_exit_non_zero_naming_each_file(tmp_path):
    empty = tmp_path / "weights"
    empty.mkdir()
    completed = run_cli("generate", "--prompt", "a cat", "--model", "sd-v1.4", "--weights-dir",
                        str(empty), "--width", "128", "--height", "128", "--out", str(tmp_path / "o"))
    assert completed.returncode != 0
    for name in ("kcv_encoder.h5", "kcv_diffusion_model.h5", "kcv_decoder.h5",
                 "bpe_simple_vocab_16e6.txt.gz"):
        assert name in completed.stderr
    assert str(empty) in completed.stderr


def test_generate_writes_pngs_carrying_their_recipe(sd_engine, sd_weights, tmp_path, monkeypatch, capsys):
    from engine.commands import generate

    monkeypatch.setattr(generate, "make_engine", lambda args: sd_engine)
    out = tmp_path / "out"
    code = main.main(["generate", "--prompt", "a red fox, snow: 1, \"winter\" 🦊",
                      "--negative-prompt", "blurry", "--seed", "4294967295", "--steps", "2",
                      "--guidance", "6.5", "--width", "128", "--height", "128", "--batch", "2",
                      "--sampler", "ddim", "--model", "sd-v1.4", "--weights-dir", str(sd_weights[0]),
                      "--out", str(out), "--no-history"])
    captured = capsys.readouterr()
    assert code == 0
    assert "step 2/2" in captured.err
    files = sorted(out.glob("*.png"))
    assert len(files) == 2 and [str(f) for f in files] == sorted(captured.out.split())
    seeds = []
    for path in files:
        image = Image.open(path)
        assert image.size == (128, 128)
        parameters = image.text["parameters"].split("\n")
        assert parameters[0] == "a red fox, snow: 1, \"winter\" 🦊"
        assert parameters[1] == "Negative prompt: blurry"
        assert parameters[2].startswith("Steps: 2, Sampler: DDIM, CFG scale: 6.5, Seed: ")
        assert parameters[2].endswith('Size: 128x128, Model: "sd-v1.4 (custom, unverified)"')
        recipe = json.loads(image.text["sd_desk"])
        assert recipe["request"]["prompt"] == "a red fox, snow: 1, \"winter\" 🦊"
        assert recipe["request"]["batch"] == 1
        seeds.append(recipe["request"]["seed"])
    assert sorted(seeds) == [0, 4294967295]


def test_demo_model_makes_images_from_a_fresh_process(tmp_path):
    """The built-in model needs no download: a fresh machine gets real images."""
    out = tmp_path / "out"
    completed = run_cli("generate", "--prompt", "a large yellow square, purple background",
                        "--model", "demo", "--sampler", "dpmpp-2m-karras",
                        "--steps", "8", "--seed", "5", "--width", "128",
                        "--height", "128", "--out", str(out), "--no-history",
                        env_extra={"KERAS_BACKEND": "tensorflow"})
    assert completed.returncode == 0, completed.stderr[-2000:]
    (path,) = out.glob("*.png")
    image = Image.open(path)
    assert image.size == (128, 128)
    assert "Model: demo" in image.text["parameters"]
    # What readers of A1111's text (civitai, ComfyUI's loaders, sd-parsers) report.
    assert "Sampler: DPM++ 2M Karras," in image.text["parameters"]
    recipe = json.loads(image.text["sd_desk"])
    assert (recipe["backend"], recipe["device"]) == ("tensorflow", "CPU")
    pixels = np.asarray(image.convert("RGB"), dtype=float)
    # The background covers the corners; purple is strong red and blue, weak green.
    corner = pixels[:16, :16].reshape(-1, 3).mean(axis=0)
    assert corner[0] > corner[1] + 40 and corner[2] > corner[1] + 40, corner
