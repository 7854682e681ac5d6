"""The A1111 API through a real A1111 client library (webuiapi, from the package index)
against `serve`'s queue, runner and history on the demo model."""
from __future__ import annotations

import base64
import io
import threading

import numpy as np
import pytest
from PIL import Image

from tests.engine.api.serving import Holding, serving

webuiapi = pytest.importorskip("webuiapi")
SIZE = 128


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from engine.img2img.store import SourceStore
    from engine.pipeline import Engine
    history = tmp_path_factory.mktemp("api-history")
    holder = {}

    def make_engine():
        holder["engine"] = Holding(Engine(sources=SourceStore.of_history(history)))
        return holder["engine"]
    with serving(history, make_engine) as served:
        served.engine = lambda: holder["engine"]
        yield served


@pytest.fixture(scope="module")
def client(served):
    return webuiapi.WebUIApi(baseurl=served.url + "/sdapi/v1", sampler="Euler", steps=6)


def txt2img(client, **changes):
    settings = dict(prompt="a red circle on a blue background", seed=11, width=SIZE, height=SIZE,
                    steps=6, cfg_scale=7.5)
    settings.update(changes)
    return client.txt2img(**settings)


def test_txt2img_gives_images_carrying_our_recipe_and_a1111_info(served, client):
    before = served.history_count()
    result = txt2img(client, batch_size=2, n_iter=2)
    assert [image.size for image in result.images] == [(SIZE, SIZE)] * 4
    info = result.info
    # Iteration i starts at seed + i * batch_size, image j of a batch at + j: A1111's seeds.
    assert info["all_seeds"] == [11, 12, 13, 14] and info["seed"] == 11
    assert info["sd_model_name"] == "demo" and info["sampler_name"] == "Euler"
    assert len(info["infotexts"]) == 4
    parameters = result.images[2].info["parameters"]
    assert parameters == info["infotexts"][2]
    assert "Seed: 13" in parameters and "Steps: 6" in parameters and "Sampler: Euler" in parameters
    assert result.parameters["prompt"] == "a red circle on a blue background"
    # Every image is in the history once: the window's gallery shows API jobs.
    assert served.history_count() == before + 4


def test_a_random_seed_is_chosen_and_reported(client):
    result = txt2img(client, seed=-1)
    seed = result.info["seed"]
    assert 0 <= seed < 2**32 and f"Seed: {seed}," in result.images[0].info["parameters"]


def test_img2img_with_a_mask_keeps_what_is_black(client):
    source = Image.new("RGB", (SIZE, SIZE), (30, 60, 200))
    mask = Image.new("L", (SIZE, SIZE), 0)
    mask.paste(255, (SIZE // 2, SIZE // 2, SIZE, SIZE))  # repaint the lower right quarter only
    result = client.img2img(images=[source], mask_image=mask, prompt="a red circle on a green background",
                            seed=5, steps=8, width=SIZE, height=SIZE, denoising_strength=0.9,
                            mask_blur=0, inpainting_fill=1, sampler_name="Euler")
    assert len(result.images) == 1
    out = np.asarray(result.images[0].convert("RGB")).astype(int)
    kept = out[: SIZE // 2 - 8, : SIZE // 2 - 8]
    repainted = out[SIZE // 2 + 8:, SIZE // 2 + 8:]
    assert np.abs(kept - (30, 60, 200)).max() <= 3  # untouched where the mask is black
    assert np.abs(repainted - (30, 60, 200)).mean() > 20
    assert "Denoising strength: 0.9" in result.images[0].info["parameters"]
    assert result.parameters["init_images"] is None  # not echoed back (include_init_images)


def test_progress_reports_the_running_job_and_interrupt_ends_its_call(served, client):
    engine = served.engine()
    engine.hold.set()
    engine.reached.clear()
    before = served.history_count()
    outcome = {}
    call = threading.Thread(target=lambda: outcome.update(result=txt2img(client, n_iter=3)))
    call.start()
    try:
        assert engine.reached.wait(60)
        progress = client.get_progress()
        assert progress["state"]["sampling_step"] == 2 and progress["state"]["sampling_steps"] == 6
        assert progress["state"]["job_count"] == 3  # the running job and the two after it
        assert 0 < progress["progress"] < 1
        preview = Image.open(io.BytesIO(base64.b64decode(progress["current_image"])))
        assert preview.width > 0
        assert client.interrupt() == {}
    finally:
        engine.hold.clear()
        engine.release.set()
        call.join(60)
    engine.release.clear()
    assert outcome["result"].images == []  # the rest of the call was not run
    assert served.history_count() == before
    assert client.get_progress()["state"]["job_count"] == 0


def test_skip_ends_the_running_job_and_the_call_goes_on(served, client):
    engine = served.engine()
    engine.hold.set()
    engine.reached.clear()
    outcome = {}
    call = threading.Thread(target=lambda: outcome.update(result=txt2img(client, n_iter=2, seed=40)))
    call.start()
    try:
        assert engine.reached.wait(60)
        engine.hold.clear()  # the second job runs through
        client.skip()
    finally:
        engine.release.set()
        call.join(60)
    engine.release.clear()
    assert outcome["result"].info["all_seeds"] == [41]


def test_models_samplers_and_options(served, client):
    models = client.get_sd_models()
    demo = next(m for m in models if m["model_name"] == "demo")
    assert demo["title"] == "demo"  # no single file, so no hash: A1111 titles it by name alone
    assert "Euler a" in client.util_get_sampler_names()
    assert "DPM++ 2M" in client.util_get_sampler_names()
    assert {s["name"] for s in client.get_schedulers()} >= {"automatic", "karras"}
    client.util_set_model("demo")
    assert client.util_get_current_model() == "demo"
    refused = client.session.post(served.url + "/sdapi/v1/options",
                                   json={"sd_model_checkpoint": "no such model [0123456789]"})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "sd_model_checkpoint"]
    assert client.get_loras() == [] and client.get_prompt_styles() == []


def test_png_info_reads_back_what_txt2img_wrote(client):
    made = txt2img(client, seed=77, prompt="a green square")
    read = client.png_info(made.images[0])
    assert read.info == made.info["infotexts"][0]
    assert read.parameters["Seed"] == 77 and read.parameters["Prompt"] == "a green square"
    assert read.parameters["Sampler"] == "Euler"


def test_dpm_karras_in_either_form(client):
    old = txt2img(client, sampler_name="DPM++ 2M Karras", seed=9)
    new = txt2img(client, sampler_name="DPM++ 2M", scheduler="karras", seed=9)
    assert np.array_equal(np.asarray(old.images[0]), np.asarray(new.images[0]))
    assert "Sampler: DPM++ 2M Karras" in old.images[0].info["parameters"]


def test_hires_fix_through_the_client(client):
    result = txt2img(client, enable_hr=True, hr_scale=2, hr_upscaler="Latent",
                     hr_second_pass_steps=3, denoising_strength=0.5)
    assert result.images[0].size == (2 * SIZE, 2 * SIZE)
    assert result.info["width"] == 2 * SIZE
    assert "Hires upscale: 2" in result.images[0].info["parameters"]
