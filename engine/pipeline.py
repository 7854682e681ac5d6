"""The engine's front door: builds and caches models, runs the step loop, reports.

Call `Engine.generate` from one thread (the GUI's worker, the CLI's main thread):
Keras keeps the dtype policy per thread, so the policy is set here, in the thread
that builds and runs the model.
"""
from __future__ import annotations

import gc
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import keras

from engine import compute, prompt_networks, sampler
from engine.backends.base import DiffusionBackend
from engine.hires import run as hires_run
from engine.events import CancelToken, GeneratedImage, GenerationResult, Progress, ProgressCallback
from engine.errors import InvalidRequest, OutOfMemory
from engine.img2img import canvas as img2img_canvas
from engine.img2img.images import ImageProblem
from engine.img2img.prepare import load_pixels
from engine.img2img.store import SourceStore
from engine.models import registry
from engine.locations import find_file, search_dirs
from engine.models.status import require_image_encoder
from engine.prompt_rules import prompt_problems, rules_for, rules_of
from engine.prompts.counting import prompt_length
from engine.request import GenerationRequest, Problem

log = logging.getLogger(__name__)

# Checks a located file against the manifest; raises EngineError when it is bad.
FileVerifier = Callable[[Path, "registry.WeightFile"], None]


compute.current().grow_memory()


def device_name() -> str:
    return compute.current().device_name()


@dataclass(frozen=True)
class _BuildKey:
    model: str
    width: int
    height: int
    mixed_precision: bool
    family: str = ""
    source: tuple = ()  # a checkpoint's file, size and VAE: what its weights are


def _source(spec: "registry.ModelSpec") -> tuple:
    c = spec.checkpoint  # (a downloadable single file is told apart by its model id)
    # Not its prediction type: that says how the UNet's output is read, outside the networks.
    return () if c is None else (str(c.path), c.size, str(c.vae or ""))


class Engine:
    def __init__(self, weights_dir: Optional[Path] = None, random_weights: bool = False,
                 verify: Optional[FileVerifier] = None, sources: Optional[SourceStore] = None):
        """`random_weights` builds the real architectures untrained (tests, benchmarks):
        timings are real, images are not. `verify` checks files found in the shared
        caches; files in a user-named `weights_dir` are trusted and labelled custom.
        `sources`: where image-to-image requests' source images are kept (default:
        the default history folder's)."""
        self.weights_dir = Path(weights_dir) if weights_dir else None
        self._sources = sources
        self.random_weights = random_weights
        if verify is None:
            from engine.models.verify import check_weight_file
            verify = check_weight_file
        self.verify = verify
        self._backend: Optional[DiffusionBackend] = None
        self._key: Optional[_BuildKey] = None
        self._xla = False
        self._tokenizers: dict[Path, object] = {}
        self._vocabularies: dict[str, Path] = {}  # model id -> its vocabulary file, once found
        self._scratch: Optional[tempfile.TemporaryDirectory] = None

    # -- information -------------------------------------------------------------
    def device_name(self) -> str:
        return device_name()

    def backend_name(self) -> str:
        """The Keras backend this engine runs on: tensorflow, jax or torch."""
        return compute.backend_name()

    def count_tokens(self, model_id: str, text: str) -> Optional[int]:
        """None when the model's tokenizer is not available yet (no vocabulary file)."""
        counter = rules_for(model_id).count_tokens  # models that count without a file (the demo)
        if counter is not None:
            return counter(text)
        tokenizer = self._model_tokenizer(model_id)
        return None if tokenizer is None else len(tokenizer.encode(text))

    def prompt_length(self, model_id: str, text: str) -> Optional[tuple[int, int]]:
        """A1111's counter for a chunked model: (tokens used, capacity of their chunks);
        None when the tokenizer is not available yet."""
        tokenizer = self._model_tokenizer(model_id)
        if tokenizer is None:
            return None
        return prompt_length(text, lambda part: tokenizer.encode(part)[1:-1])

    def _model_tokenizer(self, model_id: str):
        spec = registry.get_model(model_id)
        # Found once: the window counts on every keystroke, and a file search per key stalls it.
        vocabulary = self._vocabularies.get(spec.id) or self._vocabulary_path(spec)
        if vocabulary is None:
            return None
        self._vocabularies[spec.id] = vocabulary
        return self._tokenizer(vocabulary)

    def loaded_backend(self) -> Optional[DiffusionBackend]:
        """The model the last generation ran on (None before one, or after `release`): the
        benchmark compares it with KerasCV's own loop and asks its preferred guidance mode."""
        return self._backend

    def model_label(self, spec: "registry.ModelSpec") -> str:
        if spec.family == "demo" or spec.checkpoint is not None:
            return spec.id  # a checkpoint is named by its file; PNGs carry its hash too
        if self.random_weights:
            return f"{spec.id} (random weights)"
        if self.weights_dir is not None:
            return f"{spec.id} (custom, unverified)"
        return spec.id

    # -- generation --------------------------------------------------------------
    def generate(self, request: GenerationRequest, on_progress: Optional[ProgressCallback] = None,
                 cancel: Optional[CancelToken] = None, batched_guidance: Optional[bool] = None
                 ) -> GenerationResult:
        """`batched_guidance` None: the faster mode on this device (sampler.default_batched_guidance)."""
        report = on_progress or (lambda progress: None)
        try:
            spec = registry.get_model(request.model)
        except KeyError as error:
            raise InvalidRequest([Problem("model", str(error.args[0]))]) from None
        problems = request.validate()
        if problems:
            raise InvalidRequest(problems)
        if request.source is not None and request.source.strength == 0 and not request.source.repaints_part:
            # Nothing is repainted: the source resized to the canvas, and no model to build.
            pixels = self._canvas(request).pixels
            return GenerationResult(request, [GeneratedImage(pixels.copy(), seed) for seed in request.seeds()],
                                    self.model_label(spec), device_name(), timings={},
                                    backend=self.backend_name(), model_hash=self.model_hash(spec))
        encoder_file = None
        encodes = request.source is not None or (request.hires is not None and not request.hires.in_latent)
        if encodes and spec.family != "demo" and not self.random_weights:
            encoder_file = require_image_encoder(spec, self.weights_dir)
        timings: dict[str, float] = {}
        # Files the prompt names are found and checked before any network is built.
        networks = (prompt_networks.resolve(request, spec.family)
                    if rules_for(request.model).takes_networks else None)
        try:
            report(Progress("loading", 0, request.steps_to_run()))

            def backend_at(width: int, height: int) -> DiffusionBackend:
                started = time.perf_counter()
                backend = self._backend_for(spec, request.replace(width=width, height=height))
                if encoder_file is not None and backend.components.image_encoder_file is None:
                    backend.components.image_encoder_file = encoder_file  # fetched since the build
                timings["loading"] = timings.get("loading", 0.0) + time.perf_counter() - started
                rules = rules_of(backend)
                problems = prompt_problems(request, rules)
                if problems:
                    raise InvalidRequest(problems)
                # A backend that takes no networks refused the prompt's tags just above.
                if networks is not None and rules.takes_networks:
                    started = time.perf_counter()
                    backend.use_networks(networks.loras, request.clip_skip, networks.embeddings)
                    timings["networks"] = timings.get("networks", 0.0) + time.perf_counter() - started
                return backend

            if request.hires is not None:
                output = hires_run.run(request, backend_at, report, cancel, batched_guidance)
            else:
                backend = backend_at(request.width, request.height)
                canvas = self._canvas(request) if request.source is not None else None
                output = sampler.sample(backend, request, report, cancel, batched_guidance,
                                        canvas=canvas)
        except sampler.Cancelled:
            return GenerationResult(request, [], self.model_label(spec), device_name(),
                                    cancelled=True, timings=timings, backend=self.backend_name())
        except Exception as error:
            if not compute.current().is_out_of_memory(error):
                raise
            self.release()
            raise OutOfMemory(
                f"Ran out of memory on {device_name()} making {request.batch} image(s) at "
                f"{request.output_size()[0]}x{request.output_size()[1]}. Try a smaller batch or size; the model "
                "was unloaded and will be rebuilt for the next request.") from None
        timings.update(output.timings)
        images = [GeneratedImage(pixels, seed) for pixels, seed in zip(output.images, request.seeds())]
        return GenerationResult(request, images, self.model_label(spec), device_name(), timings=timings,
                                backend=self.backend_name(), model_hash=self.model_hash(spec),
                                network_hashes=networks.hashes if networks is not None else {})

    def release(self) -> None:
        self._backend = None
        self._key = None
        gc.collect()

    # -- internals ---------------------------------------------------------------
    def _canvas(self, request: GenerationRequest) -> "img2img_canvas.Canvas":
        if self._sources is None:
            self._sources = SourceStore.of_history()
        image, mask = load_pixels(self._sources, request.source)
        if mask is not None and img2img_canvas.nothing_to_repaint(mask):
            raise ImageProblem("The mask is all black: there is nothing to repaint.")
        return img2img_canvas.build(request.source, image, mask, request.width, request.height,
                                    seed=request.seed)

    def _backend_for(self, spec: "registry.ModelSpec", request: GenerationRequest) -> DiffusionBackend:
        key = _BuildKey(spec.id, request.width, request.height, request.mixed_precision,
                        spec.family, _source(spec))
        # Keras keeps the policy per thread: set it here, in the thread that builds and runs.
        keras.config.set_dtype_policy("mixed_float16" if request.mixed_precision else "float32")
        keras.utils.disable_interactive_logging()
        if key != self._key or self._backend is None:
            self._backend = self._build(spec, key, request.xla)
            self._key = key
            self._xla = request.xla
        elif request.xla != self._xla and spec.family != "demo":
            self._set_xla(self._backend, request.xla)
        if spec.family != "demo":  # changed in the model manager: no rebuild, no retrace
            self._backend.prediction = spec.prediction
        return self._backend

    def _build(self, spec: "registry.ModelSpec", key: _BuildKey, xla: bool) -> DiffusionBackend:
        if spec.family == "demo":
            from engine.demo.backend import load_demo_backend
            self.release()
            return load_demo_backend(key.width, key.height)
        from engine.backends.keras_sd import Components, KerasStableDiffusion, keras_stable_diffusion

        paths = self._locate(spec)
        previous = self._backend
        built = isinstance(previous, KerasStableDiffusion) and self._key is not None \
            and self._key.mixed_precision == key.mixed_precision
        same_weights = built and (self._key.model, self._key.source) == (key.model, key.source)
        # Another checkpoint of the same family and size: the built networks take its weights.
        swap = (built and not same_weights and spec.is_single_file and not self.random_weights
                and (self._key.width, self._key.height, self._key.family) == (key.width, key.height, key.family))
        if not (same_weights or swap):
            previous = None  # free the old model before building a new one: two may not fit
            self.release()
        if swap:
            components = previous.components
            components.load_checkpoint(self._checkpoint(spec, paths))
        else:
            components = Components(spec, key.width, key.height, random_init=self.random_weights)
            if same_weights:
                components.copy_from(previous.components)
            elif not self.random_weights and spec.is_single_file:
                components.load_checkpoint(self._checkpoint(spec, paths))
            elif not self.random_weights:
                components.load({role: path for role, path in paths.items() if role != "vocabulary"})
        previous = None
        self.release()
        backend = keras_stable_diffusion(spec, self.model_label(spec), key.width, key.height,
                                         components, self._tokenizer(paths["vocabulary"]))
        self._set_xla(backend, xla)  # also when off: uncompiled, Keras picks XLA on a GPU
        return backend

    @staticmethod
    def _checkpoint(spec: "registry.ModelSpec", paths: dict[str, Path]):
        """The library's checkpoint, or a downloadable model's single file as one."""
        if spec.checkpoint is not None:
            return spec.checkpoint
        from engine.models.library import Checkpoint
        path, wf = paths["checkpoint"], spec.file_for("checkpoint")
        return Checkpoint(spec.id, path, spec.family, "epsilon", False, path.stat().st_size,
                          sha256=wf.sha256)

    def model_hash(self, spec: "registry.ModelSpec") -> str:
        """A1111's short hash of a checkpoint file (computed once per file version, then
        remembered by the library); "" for KerasCV's own models, which have no one file."""
        if spec.is_single_file and spec.checkpoint is None:
            return spec.file_for("checkpoint").sha256[:10]
        if spec.checkpoint is None:
            return ""
        from engine.models.library import library
        return library().hash(spec.checkpoint).short_hash or ""

    def _set_xla(self, backend, on: bool) -> None:
        backend.set_xla(on)
        self._xla = on

    def _locate(self, spec: "registry.ModelSpec") -> dict[str, Path]:
        """role -> file. Presence and structure are engine.models.status' one rule
        (require_installed: every missing file named, wrong bytes refused before Keras);
        the hash check is this engine's `verify`, for files from the shared caches."""
        if self.random_weights:  # untrained: only a tokenizer is needed, a placeholder will do
            path = find_file(spec.file_for("vocabulary").name, search_dirs(self.weights_dir))
            return {"vocabulary": path or self._placeholder_vocabulary()}
        from engine.models.status import require_installed
        if spec.checkpoint is not None:
            self._fetch_vocabulary(spec)
        found = require_installed(spec, self.weights_dir, verify=False)
        if self.verify is not None and self.weights_dir is None:
            for role, path in found.items():
                self.verify(path, spec.file_for(role))
        return found

    def _fetch_vocabulary(self, spec: "registry.ModelSpec") -> None:
        """Checkpoints carry no tokenizer vocabulary: CLIP's (1.4 MB, the one SD 1.4 uses) is
        fetched on first use, through the same checked download as the models' files."""
        if find_file(registry.VOCABULARY.name, search_dirs(self.weights_dir)) is not None:
            return
        from engine.models.download import download_model
        from engine.models.errors import DownloadError, VocabularyUnavailable
        log.info("fetching CLIP's vocabulary for %s", spec.id)
        try:
            download_model(spec, weights_dir=self.weights_dir)
        except DownloadError as error:
            raise VocabularyUnavailable(spec.id, str(error), search_dirs(self.weights_dir)) from None

    def _vocabulary_path(self, spec: "registry.ModelSpec") -> Optional[Path]:
        path = find_file(spec.file_for("vocabulary").name, search_dirs(self.weights_dir))
        if path is None and self.random_weights:
            path = self._placeholder_vocabulary()
        return path

    def _placeholder_vocabulary(self) -> Path:
        from engine.backends.placeholder_vocab import write_placeholder_vocabulary
        if self._scratch is None:
            self._scratch = tempfile.TemporaryDirectory(prefix="sd-desk-vocab-")
        path = Path(self._scratch.name) / "bpe_placeholder.txt.gz"
        return path if path.exists() else write_placeholder_vocabulary(path)

    def _tokenizer(self, vocabulary: Path):
        if vocabulary not in self._tokenizers:
            from engine.backends.keras_sd import load_tokenizer
            self._tokenizers[vocabulary] = load_tokenizer(vocabulary)
        return self._tokenizers[vocabulary]
