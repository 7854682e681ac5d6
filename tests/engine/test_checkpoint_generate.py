"""Checkpoints run: random-weight files in the original layout, written once per session
(`checkpoint_files`), generate from the CLI and the engine, carry A1111's model hash,
swap without a rebuild, honour v-prediction, export to KerasCV's files, and give the same
images on every installed backend."""
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import schedule
from engine.backends.placeholder_vocab import write_placeholder_vocabulary
from engine.errors import EngineError
from engine.models import library as library_module
from engine.models import registry
from engine.models.library import Library
from engine.pngmeta import read_png_metadata
from engine.request import GenerationRequest
from tests.engine.test_backend_equivalence import OTHERS, SD_LARGEST, SD_MEAN, report
from tests.engine.weights_server import loopback_only  # noqa: F401  (fixture)

ROOT = Path(__file__).resolve().parents[2]
SIZE = 128


def test_v_prediction_becomes_the_noise_it_implies():
    rng = np.random.default_rng(1)
    clean, noise = rng.standard_normal((2, 1, 8, 8, 4), np.float32)
    for t in (0.0, 250.5, 999.0):
        a = schedule.alpha_cumprod_at(t)
        seen = np.sqrt(a) * clean + np.sqrt(1 - a) * noise
        v = np.sqrt(a) * noise - np.sqrt(1 - a) * clean
        np.testing.assert_allclose(schedule.noise_from_v(v, seen, t), noise, atol=1e-5)


@pytest.fixture(scope="module")
def vocabulary_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("vocabulary")
    write_placeholder_vocabulary(folder / registry.VOCABULARY.name)
    return folder


def test_missing_vocabulary_offline_is_one_clear_message(library, tmp_path, monkeypatch, loopback_only):
    """Found before any network is built: the vocabulary is fetched first, and here it cannot be."""
    from tests.engine.checkpoint_files import family_shapes, write_sparse
    from engine.pipeline import Engine

    library.add(write_sparse(tmp_path / "ck.safetensors", family_shapes("sd-v1")))
    monkeypatch.setattr(registry, "_FETCHED_VOCABULARY", dataclasses.replace(
        registry._FETCHED_VOCABULARY, url="http://127.0.0.1:9/bpe_simple_vocab_16e6.txt.gz"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(EngineError, match="could not be fetched") as caught:
        Engine(weights_dir=tmp_path / "empty").generate(GenerationRequest("a cat", model="ck", steps=1))
    assert "bpe_simple_vocab_16e6.txt.gz" in str(caught.value)


def cli(tmp_path, *args, backend="tensorflow"):
    paths = [str(ROOT)] if backend == "tensorflow" else [
        str(Path(__file__).resolve().parent / "no_tensorflow"), str(ROOT)]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths), KERAS_BACKEND=backend,
               SD_DESK_MODELS_DIR=str(tmp_path / "models"), SD_DESK_DATA_DIR=str(tmp_path / "data"))
    return subprocess.run([sys.executable, "main.py", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)


def only_png(folder: Path) -> Path:
    files = sorted(folder.glob("*.png"))
    assert len(files) == 1
    return files[0]


# What every CLI generation below asks for; only the model (and its files) and the backend
# vary. The prompt is A1111's language whole: weights, more than 150 tokens, BREAK, two LoRAs
# (kohya and PEFT files) and an embedding, read at clip skip 2.
PROMPT = ("a (lighthouse:1.3) on a [rocky] cliff, ((storm)), "
          + ", ".join(f"wave {i}" for i in range(30))
          + " BREAK mystyle, night sky <lora:waves:0.8> <lora:beams:-0.5>")
IMAGE_ARGS = ("generate", "--prompt", PROMPT, "--negative-prompt", "blurry, (text:1.2)",
              "--clip-skip", "2", "--steps", "2", "--width", "128", "--height", "128",
              "--seed", "7", "--sampler", "ddim", "--no-preview")


@pytest.fixture(scope="module")
def network_args(tmp_path_factory) -> tuple[str, ...]:
    """The LoRA and embedding folders IMAGE_ARGS's prompt needs."""
    from tests.engine.embedding_files import vectors, write_a1111_pt
    from tests.engine.lora_files import write_lora

    loras, embeddings = tmp_path_factory.mktemp("loras"), tmp_path_factory.mktemp("embeddings")
    # Every third module: each kind of layer is reached, and the copies kept to take the LoRA
    # off stay small beside the other worker's networks.
    write_lora(loras / "waves.safetensors", form="kohya", unet_kinds=("attention", "ff", "proj"),
               seed=1, unet_every=3)
    write_lora(loras / "beams.safetensors", form="peft", unet_kinds=("attention",), seed=2)
    write_a1111_pt(embeddings / "mystyle.pt", vectors(3, 768, seed=3))
    return "--lora-dir", str(loras), "--embeddings-dir", str(embeddings)


@dataclasses.dataclass(frozen=True)
class CliRun:
    sandbox: Path  # its models and data folders
    done: subprocess.CompletedProcess

    @property
    def png(self) -> Path:
        assert self.done.returncode == 0, self.done.stderr[-3000:]
        return only_png(self.sandbox / "out")


@pytest.fixture(scope="module")
def tensorflow_run(checkpoint_files, vocabulary_dir, network_args, tmp_path_factory) -> CliRun:
    """One TensorFlow generation from the SD 1.x checkpoint, which three tests read (its
    metadata, the export's comparison, the other backends'): each run builds SD anew."""
    sandbox = tmp_path_factory.mktemp("tensorflow-run")
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    done = cli(sandbox, *IMAGE_ARGS, *network_args, "--model", name, "--checkpoints-dir", str(folder),
               "--weights-dir", str(vocabulary_dir), "--out", str(sandbox / "out"))
    return CliRun(sandbox, done)


def test_cli_generates_from_a_checkpoint_and_names_its_hash(checkpoint_files, tensorflow_run, network_args,
                                                            monkeypatch):
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    png = tensorflow_run.png
    assert np.asarray(Image.open(png)).std() > 5  # an image, not a blank
    meta = read_png_metadata(png)
    seen = Library(tensorflow_run.sandbox / "models")  # the library the CLI used, with its remembered hash
    seen.add_folders([folder])
    short = seen.find(name).short_hash
    assert short and f"Model hash: {short}, Model: {name}" in meta.parameters_text
    assert meta.model_hash == short and meta.request.model == name

    # The prompt's files, as A1111 records them; reuse gives back the request as asked.
    from engine.models import extra_networks
    loras, embeddings = Path(network_args[1]), Path(network_args[3])
    assert (f'Clip skip: 2, Lora hashes: "waves: {extra_networks.lora_hash(loras / "waves.safetensors")}, '
            f'beams: {extra_networks.lora_hash(loras / "beams.safetensors")}", '
            f'TI hashes: "mystyle: {extra_networks.embedding_hash(embeddings / "mystyle.pt")}"'
            ) in meta.parameters_text
    from engine.pngmeta import parse_parameters
    for request in (meta.request, parse_parameters(meta.parameters_text).to_request()):
        assert (request.prompt, request.negative_prompt, request.clip_skip) == (
            PROMPT, "blurry, (text:1.2)", 2)

    # Renamed since: reusing the recipe finds it by its hash.
    seen.rename(name, "my favourite")
    monkeypatch.setattr(library_module, "_LIBRARY", seen)
    assert read_png_metadata(png).request.model == "my favourite"


def in_fresh_process(tmp_path, code: str, *args) -> dict:
    """Runs `code` in a Python of its own, in this test's sandbox, and returns the JSON object
    it prints last. The networks it builds (gigabytes) end with that process rather than
    piling up in the test session beside its shared engine."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), SD_DESK_MODELS_DIR=str(tmp_path / "models"),
               SD_DESK_DATA_DIR=str(tmp_path / "data"))
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


SWAP = f"""
import json, sys
from pathlib import Path
import numpy as np
from engine.models.library import library
from engine.pipeline import Engine
from engine.request import GenerationRequest
first, twin, vocabulary = map(Path, sys.argv[1:4])
library().add(first, name="first")
library().add(twin, name="second")
engine = Engine(weights_dir=vocabulary)
request = GenerationRequest("a cat", steps=1, width={SIZE}, height={SIZE}, model="first",
                            preview=False, seed=1, sampler="ddim")
a = engine.generate(request)
networks = engine.loaded_backend().components.diffusion_model
b = engine.generate(request.replace(model="second"))
print(json.dumps({{"same_networks": engine.loaded_backend().components.diffusion_model is networks,
                  "label": b.model_label,
                  "same_image": bool(np.array_equal(a.images[0].pixels, b.images[0].pixels))}}))
"""


def test_swapping_checkpoints_of_one_family_keeps_the_built_networks(
        checkpoint_files, vocabulary_dir, tmp_path):
    twin = tmp_path / "twin.safetensors"
    try:
        os.link(checkpoint_files["sd-v1"], twin)  # another checkpoint, to the engine
    except OSError as error:  # the test cache on another file system
        pytest.skip(f"cannot hard-link the test checkpoint here: {error}")
    found = in_fresh_process(tmp_path, SWAP, checkpoint_files["sd-v1"], twin, vocabulary_dir)
    assert found == {"same_networks": True, "label": "second", "same_image": True}


V_PREDICTION = f"""
import json, sys
from pathlib import Path
import numpy as np
from engine.models.library import library
from engine.pipeline import Engine
from engine.request import GenerationRequest
from engine.samplers import names
checkpoint, vocabulary = map(Path, sys.argv[1:3])
library().add(checkpoint, name="v2")
engine = Engine(weights_dir=vocabulary)
request = GenerationRequest("a cat", steps=2, width={SIZE}, height={SIZE}, model="v2",
                            preview=False, seed=4, sampler="euler")
as_epsilon = engine.generate(request).images[0].pixels
networks = engine.loaded_backend().components.diffusion_model
from engine.backends.keras_sd import Components
loads, load = [], Components.load_checkpoint
Components.load_checkpoint = lambda self, checkpoint: (loads.append(checkpoint), load(self, checkpoint))
library().set_prediction("v2", "v")
images = {{sampler: engine.generate(request.replace(sampler=sampler)).images[0].pixels
          for sampler in names.IDS}}
print(json.dumps({{"prediction": engine.loaded_backend().prediction,
                  "same_networks": engine.loaded_backend().components.diffusion_model is networks,
                  "weights_read": len(loads),
                  "euler_changed": not np.array_equal(images["euler"], as_epsilon),
                  "spread": {{s: float(p.std()) for s, p in images.items()}},
                  "shapes": {{s: list(p.shape) for s, p in images.items()}}}}))
"""


def test_a_v_prediction_model_runs_every_sampler_through_the_one_conversion(
        checkpoint_files, vocabulary_dir, tmp_path):
    from engine.samplers import names

    found = in_fresh_process(tmp_path, V_PREDICTION, checkpoint_files["sd-v2"], vocabulary_dir)
    assert found["prediction"] == "v"
    # How the output is read is not in the weights: the change needs no rebuild or reload.
    assert found["same_networks"] and found["weights_read"] == 0
    assert found["euler_changed"]  # the network's output was read as v, not as noise
    assert set(found["spread"]) == set(names.IDS)
    for sampler in names.IDS:
        assert found["shapes"][sampler] == [SIZE, SIZE, 3] and found["spread"][sampler] > 1, sampler


def test_export_loads_into_kerascv_and_gives_the_same_image(checkpoint_files, tensorflow_run, network_args,
                                                           tmp_path):
    from engine.models.structure import structure_problem

    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    out = tmp_path / "exported"
    done = cli(tmp_path, "models", "export", name, str(out), "--checkpoints-dir", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    for wf in registry.SD_V1_4.files:
        if wf.role != "vocabulary":
            assert structure_problem(out / wf.name, wf) is None, wf.name
    write_placeholder_vocabulary(out / registry.VOCABULARY.name)
    exported = cli(tmp_path, *IMAGE_ARGS, *network_args, "--no-history", "--model", "sd-v1.4",
                   "--weights-dir", str(out), "--out", str(tmp_path / "out"))
    direct = np.asarray(Image.open(tensorflow_run.png))
    np.testing.assert_array_equal(direct, np.asarray(Image.open(CliRun(tmp_path, exported).png)))


@pytest.mark.parametrize("backend", OTHERS)
def test_a_checkpoint_draws_the_same_image_on_every_backend(backend, checkpoint_files, vocabulary_dir,
                                                            network_args, tensorflow_run, tmp_path):
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    other = cli(tmp_path, *IMAGE_ARGS, *network_args, "--no-history", "--model", name, "--checkpoints-dir", str(folder),
                "--weights-dir", str(vocabulary_dir), "--out", str(tmp_path / "out"), backend=backend)
    theirs = np.asarray(Image.open(tensorflow_run.png)).astype(int)
    ours = np.asarray(Image.open(CliRun(tmp_path, other).png)).astype(int)
    difference = report(backend, "checkpoint sd-v1", theirs, ours)
    assert theirs.std() > 10
    assert difference.max() <= SD_LARGEST and difference.mean() <= SD_MEAN


OPEN_MODEL = f"""
import json, sys
import numpy as np
import engine
from engine.models.safetensors_file import SafetensorsFile
model = engine.open_model(sys.argv[1], width={SIZE}, height={SIZE})
tokens = np.array([[49406, 320, 1125, 49407] + [49407] * 73], np.int32)
context = model.text_encoders[0].predict_on_batch(
    {{"tokens": tokens, "positions": np.arange(77, dtype=np.int32)[None]}})
key = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
with SafetensorsFile(sys.argv[1]) as reader:
    same = np.array_equal(np.asarray(model.text_encoders[0].weights[0]), reader.read(key, "float32"))
print(json.dumps({{"classes": [type(n).__name__ for n in (*model.text_encoders, model.diffusion_model,
                                                          model.decoder, model.image_encoder)],
                  "family": model.family, "prediction": model.prediction,
                  "context": list(np.asarray(context).shape), "weights_from_file": bool(same)}}))
"""


def test_open_model_gives_kerascv_classes_holding_the_files_weights(checkpoint_files, tmp_path):
    found = in_fresh_process(tmp_path, OPEN_MODEL, checkpoint_files["sd-v1"])
    assert found == {"classes": ["TextEncoder", "DiffusionModel", "Decoder", "ImageEncoder"],
                     "family": "sd-v1", "prediction": "epsilon", "context": [1, 77, 768],
                     "weights_from_file": True}
