"""The independent side of the checkpoint-import check: diffusers and transformers (PyTorch)
run the same original-layout file on the same inputs.

Run by tests/engine/test_checkpoint_reference.py with a Python that has torch, diffusers,
transformers and safetensors (SD_DESK_REFERENCE_PYTHON); never imported by the app.

    python tests/reference/diffusers_ldm.py CHECKPOINT FAMILY INPUTS.npz OUTPUTS.npz [--match-kerascv]

diffusers' own converters (`convert_ldm_unet_checkpoint` ...) map the file's names, so
nothing of ours decides what a tensor means. `--match-kerascv` swaps in KerasCV's two
known departures from the original (the tanh GELU in the UNet's GEGLU and SD 2's text
encoder, and GroupNorm's epsilon of 1e-5 in the VAE and the UNet's transformer norm) to
show how much of the difference they account for.
"""
import sys

import numpy as np
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import single_file_utils as convert
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel

SD1_TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                num_attention_heads=12, max_position_embeddings=77, hidden_act="quick_gelu",
                projection_dim=768)
SD2_TEXT = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_hidden_layers=23,
                num_attention_heads=16, max_position_embeddings=77, hidden_act="gelu",
                projection_dim=512)
UNET = dict(sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
           block_out_channels=(128, 256, 512, 512),
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           sample_size=512, scaling_factor=0.18215)


def match_kerascv(*modules):
    import torch.nn as nn
    from diffusers.models.activations import GEGLU
    for module in modules:
        for layer in module.modules():
            if isinstance(layer, nn.GroupNorm):
                layer.eps = 1e-5
            if isinstance(layer, GEGLU):
                layer.gelu = lambda gate, _approximate=None: torch.nn.functional.gelu(gate, approximate="tanh")
            if type(layer).__name__ == "CLIPMLP" and getattr(layer.config, "hidden_act", "") == "gelu":
                from transformers.activations import ACT2FN
                layer.activation_fn = ACT2FN["gelu_pytorch_tanh"]


def main(path, family, inputs_path, outputs_path, matched=False):
    checkpoint = {k: v.float() for k, v in load_file(path).items()}
    inputs = np.load(inputs_path)
    v2 = family == "sd-v2"
    text = CLIPTextModel(CLIPTextConfig(**(SD2_TEXT if v2 else SD1_TEXT))).eval()
    if v2:
        state = convert.convert_open_clip_checkpoint(text, checkpoint)
    else:
        state = convert.convert_ldm_clip_checkpoint(checkpoint)
    if not any(k.startswith("text_model.") for k in text.state_dict()):  # transformers 5
        state = {k.removeprefix("text_model."): v for k, v in state.items()}
    missing, unexpected = text.load_state_dict(state, strict=False)
    assert not [m for m in missing if "position_ids" not in m], missing

    unet_config = dict(UNET, cross_attention_dim=1024 if v2 else 768,
                       attention_head_dim=(5, 10, 20, 20) if v2 else 8, use_linear_projection=v2)
    unet = UNet2DConditionModel(**unet_config).eval()
    unet.load_state_dict(convert.convert_ldm_unet_checkpoint(checkpoint, unet.config))
    vae = AutoencoderKL(**VAE).eval()
    vae.load_state_dict(convert.convert_ldm_vae_checkpoint(checkpoint, vae.config))
    if matched:
        match_kerascv(text, unet, vae)

    with torch.no_grad():
        context = text(torch.from_numpy(inputs["tokens"]).long()).last_hidden_state
        noise = unet(torch.from_numpy(inputs["latent"]).permute(0, 3, 1, 2),
                     torch.tensor([float(inputs["timestep"])]),
                     encoder_hidden_states=torch.from_numpy(inputs["context"])).sample
        pixels = vae.decode(torch.from_numpy(inputs["decoder_latent"]).permute(0, 3, 1, 2)
                            / VAE["scaling_factor"]).sample
        mean = vae.encode(torch.from_numpy(inputs["image"]).permute(0, 3, 1, 2)).latent_dist.mean
    np.savez(outputs_path, text_encoder=context.numpy(),
             diffusion_model=noise.permute(0, 2, 3, 1).numpy(),
             decoder=pixels.permute(0, 2, 3, 1).numpy(),
             image_encoder=(mean * VAE["scaling_factor"]).permute(0, 2, 3, 1).numpy())


if __name__ == "__main__":
    main(*sys.argv[1:5], matched="--match-kerascv" in sys.argv[5:])
