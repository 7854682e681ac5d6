"""Fills KerasCV's networks from an original-layout checkpoint (and, if chosen, a VAE file).

Every network's plan is checked against the file first (engine.models.ldm_import), so a
file with a missing or misshapen tensor changes nothing; then tensors are read one at
a time from the memory-mapped file and written into the built variables, so a 2 GB
float16 file never exists twice in memory.
"""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from engine.models import families, ldm_import
from engine.models.errors import DamagedCheckpoint
from engine.models.safetensors_file import SafetensorsError, SafetensorsFile


def _vae_prefix(reader: SafetensorsFile) -> str:
    return families.VAE if families.VAE + "decoder.conv_in.weight" in reader else ""


def _shapes(reader: SafetensorsFile) -> dict[str, tuple[int, ...]]:
    return {key: reader.info(key).shape for key in reader.keys()}


def _fill(plans: list[tuple[list, SafetensorsFile, str]]) -> None:
    """Checks every plan against its file, then assigns them all."""
    for plan, reader, what in plans:
        try:
            ldm_import.check(plan, _shapes(reader), what)
        except ldm_import.CheckpointMismatch as error:
            raise DamagedCheckpoint(reader.path, str(error)) from None
    for plan, reader, _what in plans:
        try:
            ldm_import.assign(plan, reader.read)
        except (SafetensorsError, ldm_import.CheckpointMismatch, OSError) as error:
            raise DamagedCheckpoint(reader.path, str(error)) from None


def _open(stack: ExitStack, path: Path) -> SafetensorsFile:
    try:
        return stack.enter_context(SafetensorsFile(path))
    except SafetensorsError as error:
        raise DamagedCheckpoint(path, str(error)) from None
    except OSError as error:
        raise DamagedCheckpoint(path, f"it cannot be read ({error.strerror or error})") from None


def load_checkpoint(components, checkpoint) -> None:
    """Text encoder, UNet and decoder of `components` from `checkpoint` (library.Checkpoint)."""
    family = families.BY_ID[checkpoint.family]
    with ExitStack() as stack:
        reader = _open(stack, checkpoint.path)
        vae = _open(stack, checkpoint.vae) if checkpoint.vae else reader
        text_prefix = ldm_import.text_prefix(family, reader.keys())
        _fill([
            (ldm_import.text_encoder_plan(components.text_encoder, family, text_prefix), reader,
             "text encoder"),
            (ldm_import.unet_plan(components.diffusion_model), reader, "diffusion model (UNet)"),
            (ldm_import.decoder_plan(components.decoder, _vae_prefix(vae)), vae, "image decoder"),
        ])


def load_image_encoder(encoder, checkpoint) -> None:
    """The VAE's encoder half, which only image to image needs."""
    with ExitStack() as stack:
        reader = _open(stack, checkpoint.vae or checkpoint.path)
        _fill([(ldm_import.encoder_plan(encoder, _vae_prefix(reader)), reader, "image encoder")])
