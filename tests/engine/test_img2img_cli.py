"""`generate --init-image ... --mask ...` from a terminal: only the masked part is repainted,
what was adjusted is said, and a bad image or option is one message, never a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import main

ROOT = Path(__file__).resolve().parents[2]
BLUE = (30, 60, 200)


def write_source(path: Path, width=128, height=128) -> np.ndarray:
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[...] = BLUE
    Image.fromarray(pixels).save(path)
    return pixels


def write_mask(path: Path, width=128, height=128) -> None:
    mask = np.zeros((height, width), np.uint8)
    mask[:, width // 2:] = 255  # repaint the right half
    Image.fromarray(mask).save(path)


def test_a_fresh_process_repaints_only_the_masked_part(tmp_path):
    source = write_source(tmp_path / "a.png")
    write_mask(tmp_path / "m.png")
    out = tmp_path / "out"
    completed = subprocess.run(
        [sys.executable, "main.py", "generate", "--model", "demo", "--init-image", str(tmp_path / "a.png"),
         "--mask", str(tmp_path / "m.png"), "--prompt", "a red circle on a green background",
         "--steps", "10", "--seed", "2", "--out", str(out), "--history-dir", str(tmp_path / "history")],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert completed.returncode == 0, completed.stderr[-2000:]
    (path,) = out.glob("*.png")
    image = Image.open(path)
    result = np.asarray(image.convert("RGB"), np.int32)
    assert result.shape == source.shape  # the source's size, not --width's 512
    kept = np.abs(result[:, :52] - source[:, :52])  # left half, past the 4 px blur
    assert kept.max() <= 2
    repainted = result[:, 76:].reshape(-1, 3).mean(axis=0)
    assert repainted[1] > repainted[2] + 40  # the prompt's green replaced the blue
    assert "Denoising strength: 0.75" in image.text["parameters"]
    assert "Mask blur: 4" in image.text["parameters"]
    source_part = json.loads(image.text["sd_desk"])["request"]["source"]
    stored = tmp_path / "history" / "sources"
    assert (stored / f"{source_part['image']}.png").is_file()
    assert (stored / f"{source_part['mask']}.png").is_file()


def test_a_source_of_an_odd_size_is_snapped_and_said(tmp_path, capsys):
    write_source(tmp_path / "a.png", width=150, height=100)
    code = main.main(["generate", "--model", "demo", "--init-image", str(tmp_path / "a.png"),
                      "--prompt", "a green square", "--steps", "2", "--strength", "0.5",
                      "--out", str(tmp_path / "out"), "--no-history"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "note: The source image is 150x100; it is used at 128x128" in captured.err
    (path,) = (tmp_path / "out").glob("*.png")
    assert Image.open(path).size == (128, 128)


def test_bad_images_and_options_exit_2_with_one_message(tmp_path, capsys):
    truncated = tmp_path / "cut.png"
    write_source(tmp_path / "whole.png")
    truncated.write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    black = tmp_path / "black.png"
    Image.fromarray(np.zeros((128, 128), np.uint8)).save(black)
    cases = [
        (["--init-image", str(truncated)], "cut.png"),
        (["--init-image", str(tmp_path / "whole.png"), "--mask", str(black)], "nothing to repaint"),
        (["--init-image", str(tmp_path / "whole.png"), "--strength", "1.5"], "Strength"),
        (["--mask", str(black)], "--mask needs --init-image"),
        (["--init-image", str(tmp_path / "whole.png"), "--outpaint", "10,0,0,0"], "64"),
    ]
    for options, message in cases:
        code = main.main(["generate", "--model", "demo", "--prompt", "x", "--steps", "2",
                          "--out", str(tmp_path / "out"), "--no-history", *options])
        captured = capsys.readouterr()
        assert code == 2, (options, captured.err)
        assert message in captured.err, (options, captured.err)
        assert "Traceback" not in captured.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
