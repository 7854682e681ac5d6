"""Checkpoints run: random-weight files in the original layout, written once per session
(`checkpoint_files`), generate from the CLI and the engine, carry A1111's model hash,
swap without a rebuild, honour v-prediction, export to KerasCV's files, and give the same
images on every installed backend.

Building Stable Diffusion is what these tests cost (half a minute a process here), so each
process does all it can with the networks it builds: one CLI batch per backend draws from
the checkpoint and from its export to KerasCV's files (same family and size: the networks
are built once and the second model's weights loaded into them), and one SD 2.x process
checks both the swap and v-prediction."""
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


# What every CLI run below asks for; only the backend varies. The prompt is A1111's language
# whole: weights, more than 150 tokens, BREAK, two LoRAs (kohya and PEFT files) and an
# embedding, read at clip skip 2.
PROMPT = ("a (lighthouse:1.3) on a [rocky] cliff, ((storm)), "
          + ", ".join(f"wave {i}" for i in range(30))
          + " BREAK mystyle, night sky <lora:waves:0.8> <lora:beams:-0.5>")
IMAGE_ARGS = ("--negative-prompt", "blurry, (text:1.2)", "--clip-skip", "2", "--steps", "2",
              "--width", "128", "--height", "128", "--seed", "7", "--sampler", "ddim")


@pytest.fixture(scope="module")
def network_args(tmp_path_factory) -> tuple[str, ...]:
    """The LoRA and embedding folders PROMPT needs."""
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


@pytest.fixture(scope="module")
def exported(checkpoint_files, tmp_path_factory) -> Path:
    """The SD 1.x checkpoint exported by `models export` to KerasCV's files, with the
    (placeholder) vocabulary every model here reads."""
    sandbox = tmp_path_factory.mktemp("export")
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    out = sandbox / "exported"
    done = cli(sandbox, "models", "export", name, str(out), "--checkpoints-dir", str(folder))
    assert done.returncode == 0, done.stderr[-3000:]
    write_placeholder_vocabulary(out / registry.VOCABULARY.name)
    return out


@dataclasses.dataclass(frozen=True)
class CliRun:
    sandbox: Path  # its models and data folders
    done: subprocess.CompletedProcess

    def png(self, model: str) -> Path:
        """The one image drawn by `model`, as its PNG's recipe names it."""
        assert self.done.returncode == 0, self.done.stderr[-3000:]
        found = [path for path in sorted((self.sandbox / "out").glob("*.png"))
                 if not path.name.startswith("grid-") and read_png_metadata(path).request.model == model]
        assert len(found) == 1, (model, found)
        return found[0]

    def pixels(self, model: str) -> np.ndarray:
        return np.asarray(Image.open(self.png(model))).astype(int)


def draw_both(checkpoint_files, exported, network_args, sandbox: Path, backend: str, *extra) -> CliRun:
    """One `batch` process: PROMPT from the checkpoint, then from its export (sd-v1.4)."""
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    prompts = sandbox / "prompts.txt"
    prompts.write_text(PROMPT + "\n", encoding="utf-8")
    done = cli(sandbox, "batch", str(prompts), "--grid", f"model={name},sd-v1.4", *IMAGE_ARGS,
               *network_args, "--checkpoints-dir", str(folder), "--weights-dir", str(exported),
               "--out", str(sandbox / "out"), *extra, backend=backend)
    return CliRun(sandbox, done)


@pytest.fixture(scope="module")
def tensorflow_run(checkpoint_files, exported, network_args, tmp_path_factory) -> CliRun:
    """The TensorFlow batch, which three tests read (the checkpoint's metadata, the export's
    comparison, the other backends')."""
    return draw_both(checkpoint_files, exported, network_args, tmp_path_factory.mktemp("tensorflow-run"),
                     "tensorflow")


def test_cli_generates_from_a_checkpoint_and_names_its_hash(checkpoint_files, tensorflow_run, network_args,
                                                            monkeypatch):
    folder, name = checkpoint_files["sd-v1"].parent, checkpoint_files["sd-v1"].stem
    png = tensorflow_run.png(name)
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


def test_export_loads_into_kerascv_and_gives_the_same_image(checkpoint_files, exported, tensorflow_run):
    from engine.models.structure import structure_problem

    for wf in registry.SD_V1_4.files:
        if wf.role != "vocabulary":
            assert structure_problem(exported / wf.name, wf) is None, wf.name
    name = checkpoint_files["sd-v1"].stem
    direct = tensorflow_run.pixels(name)
    assert direct.std() > 10
    np.testing.assert_array_equal(direct, tensorflow_run.pixels("sd-v1.4"))


@pytest.mark.parametrize("backend", OTHERS)
def test_a_checkpoint_and_its_export_draw_the_same_images_on_every_backend(
        backend, checkpoint_files, exported, network_args, tensorflow_run, tmp_path):
    """Each backend's process (TensorFlow impossible to import in it) reads the checkpoint
    and KerasCV's .h5 files, and draws what TensorFlow drew from them."""
    other = draw_both(checkpoint_files, exported, network_args, tmp_path, backend)
    for model in (checkpoint_files["sd-v1"].stem, "sd-v1.4"):
        theirs, ours = tensorflow_run.pixels(model), other.pixels(model)
        difference = report(backend, model, theirs, ours)
        assert theirs.std() > 10
        assert difference.max() <= SD_LARGEST and difference.mean() <= SD_MEAN


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


SD2_PROCESS = f"""
import json, sys
from pathlib import Path
import numpy as np
from engine.backends.keras_sd import Components
from engine.models.library import library
from engine.pipeline import Engine
from engine.request import GenerationRequest
from engine.samplers import names
first, twin, vocabulary = map(Path, sys.argv[1:4])
library().add(first, name="first")
library().add(twin, name="second")
engine = Engine(weights_dir=vocabulary)
request = GenerationRequest("a cat", steps=2, width={SIZE}, height={SIZE}, model="first",
                            preview=False, seed=4, sampler="euler")
as_epsilon = engine.generate(request).images[0].pixels
networks = engine.loaded_backend().components.diffusion_model
second = engine.generate(request.replace(model="second"))
swap = {{"same_networks": engine.loaded_backend().components.diffusion_model is networks,
         "label": second.model_label,
         "same_image": bool(np.array_equal(as_epsilon, second.images[0].pixels))}}
loads, load = [], Components.load_checkpoint
Components.load_checkpoint = lambda self, checkpoint: (loads.append(checkpoint), load(self, checkpoint))
library().set_prediction("second", "v")
images = {{sampler: engine.generate(request.replace(model="second", sampler=sampler)).images[0].pixels
          for sampler in names.IDS}}
v = {{"prediction": engine.loaded_backend().prediction,
      "same_networks": engine.loaded_backend().components.diffusion_model is networks,
      "weights_read": len(loads),
      "euler_changed": not np.array_equal(images["euler"], as_epsilon),
      "spread": {{s: float(p.std()) for s, p in images.items()}},
      "shapes": {{s: list(p.shape) for s, p in images.items()}}}}
print(json.dumps({{"swap": swap, "v": v}}))
"""


@pytest.fixture(scope="module")
def sd2_process(checkpoint_files, vocabulary_dir, tmp_path_factory) -> dict:
    """One SD 2.x engine in a process of its own: the checkpoint, then a second name for the
    same file (another checkpoint, to the engine), then that one read as v-prediction."""
    sandbox = tmp_path_factory.mktemp("sd2")
    twin = sandbox / "twin.safetensors"
    try:
        os.link(checkpoint_files["sd-v2"], twin)
    except OSError as error:  # the test cache on another file system
        pytest.skip(f"cannot hard-link the test checkpoint here: {error}")
    return in_fresh_process(sandbox, SD2_PROCESS, checkpoint_files["sd-v2"], twin, vocabulary_dir)


def test_swapping_checkpoints_of_one_family_keeps_the_built_networks(sd2_process):
    assert sd2_process["swap"] == {"same_networks": True, "label": "second", "same_image": True}


def test_a_v_prediction_model_runs_every_sampler_through_the_one_conversion(sd2_process):
    from engine.samplers import names

    found = sd2_process["v"]
    assert found["prediction"] == "v"
    # How the output is read is not in the weights: the change needs no rebuild or reload.
    assert found["same_networks"] and found["weights_read"] == 0
    assert found["euler_changed"]  # the network's output was read as v, not as noise
    assert set(found["spread"]) == set(names.IDS)
    for sampler in names.IDS:
        assert found["shapes"][sampler] == [SIZE, SIZE, 3] and found["spread"][sampler] > 1, sampler


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
networks = (*model.text_encoders, model.diffusion_model, model.decoder, model.image_encoder)
# Built without random values (the weights come from the file): a weight the import missed
# would still be all zeros; the random file has none.
unfilled = [w.path for n in networks for w in n.weights if not np.any(np.asarray(w))]
print(json.dumps({{"classes": [type(n).__name__ for n in networks], "unfilled": unfilled,
                  "family": model.family, "prediction": model.prediction,
                  "context": list(np.asarray(context).shape), "weights_from_file": bool(same)}}))
"""


def test_open_model_gives_kerascv_classes_holding_the_files_weights(checkpoint_files, tmp_path):
    found = in_fresh_process(tmp_path, OPEN_MODEL, checkpoint_files["sd-v1"])
    assert found == {"classes": ["TextEncoder", "DiffusionModel", "Decoder", "ImageEncoder"], "unfilled": [],
                     "family": "sd-v1", "prediction": "epsilon", "context": [1, 77, 768],
                     "weights_from_file": True}
