"""Jobs' endings as A1111's response: base64 PNGs carrying our `parameters` chunk (the
history's own files, or the same writer's output where the history could not keep
them), and `info`, a JSON string with A1111's keys."""
from __future__ import annotations

import base64
import io
import json
import time
from typing import Optional

from engine.jobs.events import Finished
from engine.pngmeta import format_parameters, png_info


def png_base64(ending: Finished) -> list[str]:
    """One per image, in the batch's order."""
    saved = [record.path for record in ending.saved if getattr(record, "path", None)]
    result = ending.result
    if result is not None and len(saved) == len(result.images):
        return [base64.b64encode(path.read_bytes()).decode("ascii") for path in saved]
    encoded = []
    for image in result.images if result is not None else ():
        buffer = io.BytesIO()
        from PIL import Image
        Image.fromarray(image.pixels).save(
            buffer, format="PNG",
            pnginfo=png_info(result.request, image.seed, result.model_label, result.backend,
                             result.device, model_hash=result.model_hash,
                             network_hashes=result.network_hashes))
        encoded.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
    return encoded


def info_json(endings: list[Finished], first_request, model_title: str) -> str:
    """A1111's `info`: the call's settings and, per image made, its seed and infotext."""
    seeds, infotexts, prompts, negatives = [], [], [], []
    model_hash: Optional[str] = None
    model_label = first_request.model
    for ending in endings:
        result = ending.result
        if result is None:
            continue
        model_hash = result.model_hash or model_hash
        model_label = result.model_label
        for image in result.images:
            seeds.append(image.seed)
            prompts.append(result.request.prompt)
            negatives.append(result.request.negative_prompt)
            infotexts.append(format_parameters(result.request, image.seed, result.model_label,
                                               result.model_hash, result.network_hashes))
    r = first_request
    from engine.samplers.names import a1111_name
    width, height = r.output_size()
    info = {
        "prompt": r.prompt, "all_prompts": prompts or [r.prompt],
        "negative_prompt": r.negative_prompt, "all_negative_prompts": negatives or [r.negative_prompt],
        "seed": seeds[0] if seeds else r.seed, "all_seeds": seeds or [r.seed],
        "subseed": -1, "all_subseeds": [-1] * max(1, len(seeds)), "subseed_strength": 0,
        "width": width, "height": height, "sampler_name": a1111_name(r.sampler),
        "cfg_scale": r.guidance, "steps": r.steps, "batch_size": r.batch,
        "restore_faces": False, "face_restoration_model": None,
        "sd_model_name": model_label, "sd_model_hash": model_hash or None,
        "sd_model_title": model_title, "sd_vae_name": None, "sd_vae_hash": None,
        "seed_resize_from_w": -1, "seed_resize_from_h": -1,
        "denoising_strength": r.source.strength if r.source is not None else None,
        "extra_generation_params": {}, "index_of_first_image": 0, "infotexts": infotexts,
        "styles": [], "job_timestamp": time.strftime("%Y%m%d%H%M%S"),
        "clip_skip": r.clip_skip, "is_using_inpainting_conditioning": False,
        "version": "sd-desk",
    }
    return json.dumps(info, ensure_ascii=False)


def preview_base64(preview) -> Optional[str]:
    """The running job's last preview (uint8 (B, h, w, 3)), side by side, as a PNG."""
    if preview is None:
        return None
    import numpy as np
    from PIL import Image
    pixels = np.asarray(preview, np.uint8)
    if pixels.ndim == 4:
        pixels = np.concatenate(list(pixels), axis=1)
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
