"""The independent side of the LoRA check: diffusers loads the same LoRA file into its own
SD 1.x text encoder and UNet (built from the same original-layout checkpoint) and fuses it.

Run by tests/engine/test_lora_reference.py with a Python that has torch, diffusers,
transformers, peft and safetensors (SD_DESK_REFERENCE_PYTHON); never imported by the app.

    python tests/reference/diffusers_lora.py CHECKPOINT LORA WEIGHT INPUTS.npz OUTPUTS.npz

diffusers reads the file (`load_lora_weights`, its own kohya-to-PEFT name conversion)
and merges it (`fuse_lora(lora_scale=WEIGHT)`), so nothing of ours decides which module a
name means or how a delta is scaled. Outputs, each network without and with the LoRA:
as diffusers runs it, and with KerasCV's GELU and GroupNorm epsilon put into diffusers
(tests/reference/diffusers_ldm.py's `match_kerascv`), which leaves the LoRA's own error.
"""
import sys
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from diffusers.loaders import single_file_utils as convert
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, str(Path(__file__).resolve().parent))
from diffusers_ldm import SD1_TEXT, UNET, VAE, match_kerascv  # noqa: E402  (the same networks)


def sd1_pipeline(checkpoint_path: str) -> StableDiffusionPipeline:
    """SD 1.x's text encoder and UNet from the checkpoint; the VAE stays random (unused),
    there to make a pipeline, whose LoRA loader is what this checks."""
    checkpoint = {k: v.float() for k, v in load_file(checkpoint_path).items()}
    text = CLIPTextModel(CLIPTextConfig(**SD1_TEXT)).eval()
    state = convert.convert_ldm_clip_checkpoint(checkpoint)
    if not any(k.startswith("text_model.") for k in text.state_dict()):  # transformers 5
        state = {k.removeprefix("text_model."): v for k, v in state.items()}
    missing, _ = text.load_state_dict(state, strict=False)
    assert not [m for m in missing if "position_ids" not in m], missing
    unet = UNet2DConditionModel(**UNET, cross_attention_dim=768, attention_head_dim=8).eval()
    unet.load_state_dict(convert.convert_ldm_unet_checkpoint(checkpoint, unet.config))
    return StableDiffusionPipeline(vae=AutoencoderKL(**VAE).eval(), text_encoder=text, tokenizer=None,
                                   unet=unet, scheduler=DDIMScheduler(), safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)


def run(pipe, inputs) -> dict:
    with torch.no_grad():
        context = pipe.text_encoder(torch.from_numpy(inputs["tokens"]).long()).last_hidden_state
        noise = pipe.unet(torch.from_numpy(inputs["latent"]).permute(0, 3, 1, 2),
                          torch.tensor([float(inputs["timestep"])]),
                          encoder_hidden_states=torch.from_numpy(inputs["context"])).sample
    return {"text_encoder": context.numpy(), "diffusion_model": noise.permute(0, 2, 3, 1).numpy()}


def main(checkpoint_path, lora_path, weight, inputs_path, outputs_path):
    inputs = np.load(inputs_path)
    pipe = sd1_pipeline(checkpoint_path)
    outputs = {}
    base = run(pipe, inputs)
    pipe.load_lora_weights(lora_path)
    # Every module of the file must have found its layer: diffusers warns, not fails, otherwise.
    loaded = sum(1 for name, _ in pipe.unet.named_modules() if name.endswith(".lora_A"))
    loaded += sum(1 for name, _ in pipe.text_encoder.named_modules() if name.endswith(".lora_A"))
    outputs["modules_loaded"] = np.array(loaded)
    pipe.fuse_lora(components=["unet", "text_encoder"], lora_scale=float(weight))
    with_lora = run(pipe, inputs)
    match_kerascv(pipe.text_encoder, pipe.unet)
    matched_lora = run(pipe, inputs)
    pipe.unfuse_lora(components=["unet", "text_encoder"])
    pipe.unload_lora_weights()  # unfused adapters would otherwise still run beside each layer
    matched_base = run(pipe, inputs)
    for label, found in (("base", base), ("lora", with_lora), ("matched_base", matched_base),
                         ("matched_lora", matched_lora)):
        for network, value in found.items():
            outputs[f"{label}/{network}"] = value
    np.savez(outputs_path, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:6])
