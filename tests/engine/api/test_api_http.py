"""Plain HTTP against the API, as A1111's documented examples send it: what is refused (a
4xx JSON naming the field, never a traceback), auth, limits, CORS, and switching models.
A fake engine stands in for the model (no TensorFlow): these are about the HTTP side."""
from __future__ import annotations

import base64
import io
import json

import httpx
import numpy as np
import pytest
from PIL import Image

from engine.api import catalogue
from engine.api.app import ApiSettings
from engine.api.security import Credentials
from engine.api.server import listen_problem
from engine.events import GeneratedImage, GenerationResult, Progress
from tests.engine.api.serving import serving

TXT2IMG = "/sdapi/v1/txt2img"
IMG2IMG = "/sdapi/v1/img2img"


class FakeEngine:
    """Two steps, a flat image per seed; records the model each request named."""

    def __init__(self):
        self.models = []
        self.requests = []

    def device_name(self):
        return "Test device"

    def backend_name(self):
        return "numpy"

    def generate(self, request, on_progress=None, cancel=None, **_):
        self.models.append(request.model)
        self.requests.append(request)
        for step in (1, 2):
            on_progress(Progress("denoising", step, 2))
        images = [GeneratedImage(np.full((request.height, request.width, 3), 90, np.uint8), s)
                  for s in request.seeds()]
        return GenerationResult(request, images, request.model, "Test device")


OTHER = catalogue.ListedModel("other-model", "ab" * 32)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    engine = FakeEngine()
    patch = pytest.MonkeyPatch()
    real = catalogue.listed_models
    # A second model beside the demo, to switch to (a fresh install has only the demo).
    patch.setattr(catalogue, "listed_models", lambda: [*real(), OTHER])
    settings = ApiSettings(model="demo", max_body_bytes=2 * 2**20)
    with serving(tmp_path_factory.mktemp("api-http"), lambda: engine, settings) as served:
        served.engine = engine
        yield served
    patch.undo()


@pytest.fixture(scope="module")
def http(served):
    with httpx.Client(base_url=served.url, timeout=30) as client:
        yield client


def body(**changes):
    data = {"prompt": "a red circle", "steps": 2, "width": 128, "height": 128, "seed": 1}
    data.update(changes)
    return data


def png_b64(width=128, height=128, colour=(10, 20, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def refused_field(response, status=422):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    return [tuple(d["loc"]) for d in response.json()["detail"]]


def test_a1111_documented_example_works(http):
    # The example of A1111's wiki (API page), sizes ours.
    response = http.post(TXT2IMG, json={"prompt": "a red circle", "steps": 5, "width": 128,
                                        "height": 128})
    assert response.status_code == 200
    payload = response.json()
    assert len(payload["images"]) == 1 and json.loads(payload["info"])["steps"] == 5


@pytest.mark.parametrize("changes, field", [
    ({"steps": 0}, "steps"),
    ({"steps": 10_000}, "steps"),
    ({"width": 100}, "width"),
    ({"cfg_scale": 99}, "cfg_scale"),
    ({"batch_size": 9}, "batch_size"),
    ({"seed": -5}, "seed"),
    ({"prompt": ""}, "prompt"),
    ({"sampler_name": "Heun"}, "sampler_name"),
    ({"sampler_name": "Euler", "scheduler": "exponential"}, "sampler_name"),
    ({"script_name": "x/y/z plot"}, "script_name"),
    ({"alwayson_scripts": {"ControlNet": {"args": []}}}, "alwayson_scripts"),
    ({"n_iter": 8, "batch_size": 8}, "n_iter"),
    ({"override_settings": {"sd_model_checkpoint": "nope"}}, ("override_settings", "sd_model_checkpoint")),
    ({"steps": "many"}, "steps"),
    ({"subseed_strength": 0.5}, "subseed_strength"),
    ({"restore_faces": True}, "restore_faces"),
    ({"tiling": True}, "tiling"),
    ({"prompt": "x" * 70_000}, "prompt"),
])
def test_a_bad_value_is_a_422_naming_its_field(served, http, changes, field):
    before = served.history_count()
    locations = refused_field(http.post(TXT2IMG, json=body(**changes)))
    wanted = ("body", *((field,) if isinstance(field, str) else field))
    assert wanted in locations
    assert served.history_count() == before


def test_hires_is_taken_never_ignored(served, http):
    response = http.post(TXT2IMG, json=body(enable_hr=True, hr_scale=2))
    assert response.status_code == 200
    assert json.loads(response.json()["info"])["width"] == 256


def test_bad_images_are_refused_naming_the_field(served, http):
    before = served.history_count()
    cases = [({"init_images": []}, ("body", "init_images")),
             ({"init_images": ["not base64!"]}, ("body", "init_images", 0)),
             ({"init_images": ["https://example.org/cat.png"]}, ("body", "init_images", 0)),
             ({"init_images": [base64.b64encode(b"GIF89a junk").decode()]}, ("body", "init_images", 0)),
             ({"init_images": [png_b64()], "mask": png_b64(colour=(0, 0, 0))}, ("body", "mask")),
             ({"init_images": [png_b64()], "inpainting_fill": 7}, ("body", "inpainting_fill")),
             ({"init_images": [png_b64()], "denoising_strength": 2}, ("body", "denoising_strength"))]
    for changes, where in cases:
        assert where in refused_field(http.post(IMG2IMG, json=body(**changes))), changes
    assert served.history_count() == before


def test_an_image_too_large_is_refused_from_its_header(http):
    # 5000 x 5000 of one colour compresses to a few kB; decoded it would be 75 MB.
    big = png_b64(5000, 5000)
    response = http.post(IMG2IMG, json=body(init_images=[big]))
    assert ("body", "init_images", 0) in refused_field(response, status=413)


def test_a_body_over_the_limit_is_a_413(http):
    response = http.post(TXT2IMG, content=b'{"prompt": "' + b"x" * (3 * 2**20) + b'"}',
                         headers={"content-type": "application/json"})
    assert refused_field(response, status=413) == [("body",)]


def test_malformed_json_and_unknown_routes_answer_in_json(http):
    response = http.post(TXT2IMG, content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422 and "Traceback" not in response.text
    assert http.get("/sdapi/v1/no-such-route").status_code == 404


def test_clients_that_send_nulls_and_defaults_are_served(http):
    response = http.post(TXT2IMG, json=body(sampler_index=None, sampler_name=None, styles=[],
                                            restore_faces=False, tiling=False, eta=None))
    assert response.status_code == 200, response.text
    assert json.loads(response.json()["info"])["sampler_name"] == "Euler"  # A1111's default


def test_img2img_from_a_data_url(http):
    response = http.post(IMG2IMG, json=body(init_images=["data:image/png;base64," + png_b64()],
                                            denoising_strength=0.5))
    assert response.status_code == 200, response.text
    assert len(response.json()["images"]) == 1


def test_switching_the_model_through_options_and_per_call(served, http):
    assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": OTHER.title}).status_code == 200
    assert http.get("/sdapi/v1/options").json()["sd_model_checkpoint"] == OTHER.title
    http.post(TXT2IMG, json=body())
    # A per-call override wins, and the option stays.
    http.post(TXT2IMG, json=body(override_settings={"sd_model_checkpoint": "demo"}))
    # A1111 titles carry the short hash; clients also send the name or the hash alone.
    assert http.post("/sdapi/v1/options", json={"sd_model_checkpoint": "abababab"}).status_code == 200
    http.post(TXT2IMG, json=body())
    assert served.engine.models[-3:] == ["other-model", "demo", "other-model"]
    http.post("/sdapi/v1/options", json={"sd_model_checkpoint": "demo"})
    listed = {m["title"] for m in http.get("/sdapi/v1/sd-models").json()}
    assert {"demo", "other-model [ababababab]"} <= listed


def test_clip_skip_as_an_option_and_per_call(served, http):
    assert http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 2}).status_code == 200
    http.post(TXT2IMG, json=body())
    http.post(TXT2IMG, json=body(override_settings={"CLIP_stop_at_last_layers": 3}))
    assert [r.clip_skip for r in served.engine.requests[-2:]] == [2, 3]
    refused = http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 99})
    assert ("body", "CLIP_stop_at_last_layers") in refused_field(refused)
    assert http.get("/sdapi/v1/options").json()["CLIP_stop_at_last_layers"] == 2
    http.post("/sdapi/v1/options", json={"CLIP_stop_at_last_layers": 1})


def test_api_jobs_are_marked_in_the_queue(served, http):
    marked = []
    served.jobs.queue.subscribe(lambda e: type(e).__name__ == "Queued" and marked.append(e.origin))
    http.post(TXT2IMG, json=body())
    assert marked == ["api"]


def test_answers_are_not_held_back_by_nagle(served, http):
    """On a keep-alive connection each answer waited 40 ms for a delayed ACK: the server's own
    socket did not say it was TCP, so asyncio left Nagle on for the connections it accepted."""
    import socket
    http.get("/sdapi/v1/samplers")
    connections = list(served.server.server.server_state.connections)
    assert connections
    for connection in connections:
        sock = connection.transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_lists_a1111_clients_read(http):
    for route in ("sd-vae", "prompt-styles", "loras", "upscalers", "latent-upscale-modes"):
        assert isinstance(http.get(f"/sdapi/v1/{route}").json(), list), route
    assert http.get("/sdapi/v1/embeddings").json()["loaded"] == {}
    idle = http.get("/sdapi/v1/progress").json()
    assert idle["progress"] == 0 and idle["state"]["job_count"] == 0 and idle["current_image"] is None


def test_png_info_gives_every_key_the_file_has_and_none_it_lacks(http):
    """A1111's text from another tool: keys our recipe reads (hires, denoising) were dropped,
    and a Clip skip the file never had was added."""
    from PIL.PngImagePlugin import PngInfo

    text = ("a lighthouse\nNegative prompt: fog\nSteps: 12, Sampler: Euler a, CFG scale: 6.5, "
            "Seed: 42, Size: 512x768, Denoising strength: 0.5, Hires upscale: 2, "
            "Hires upscaler: Latent, Version: v1.10.1")
    info = PngInfo()
    info.add_text("parameters", text)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, format="PNG", pnginfo=info)
    answer = http.post("/sdapi/v1/png-info", json={"image": base64.b64encode(buffer.getvalue()).decode()})
    assert answer.status_code == 200, answer.text
    parameters = answer.json()["parameters"]
    assert answer.json()["info"] == text
    assert (parameters["Prompt"], parameters["Negative prompt"]) == ("a lighthouse", "fog")
    assert (parameters["Steps"], parameters["Seed"], parameters["CFG scale"]) == (12, 42, 6.5)
    assert (parameters["Size-1"], parameters["Size-2"]) == (512, 768)
    assert (parameters["Sampler"], parameters["Denoising strength"], parameters["Hires upscale"],
            parameters["Hires upscaler"], parameters["Version"]) == ("Euler a", "0.5", "2", "Latent", "v1.10.1")
    assert "Clip skip" not in parameters


def test_png_info_of_something_else(http):
    assert http.post("/sdapi/v1/png-info", json={"image": png_b64()}).json()["info"] == ""
    assert ("body", "image") in refused_field(http.post("/sdapi/v1/png-info", json={"image": "@@"}))


# ---- auth and CORS: servers of their own --------------------------------------------------

def test_basic_auth_is_required_when_set(tmp_path):
    settings = ApiSettings(model="demo", credentials=Credentials.parse("me:s3cret"))
    with serving(tmp_path, FakeEngine, settings) as served:
        with httpx.Client(base_url=served.url) as client:
            missing = client.get("/sdapi/v1/sd-models")
            assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Basic"
            assert client.get("/sdapi/v1/sd-models", auth=("me", "wrong")).status_code == 401
            assert client.get("/sdapi/v1/sd-models", auth=("you", "s3cret")).status_code == 401
            assert client.post(TXT2IMG, json=body()).status_code == 401
            assert client.get("/sdapi/v1/sd-models", auth=("me", "s3cret")).status_code == 200
            # The interactive docs would sit outside the password: not served then.
            assert client.get("/openapi.json").status_code == 404
            assert client.get("/docs").status_code == 404


def test_cors_is_closed_unless_an_origin_is_named(tmp_path, served, http):
    asked = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    assert "access-control-allow-origin" not in http.options(TXT2IMG, headers=asked).headers
    settings = ApiSettings(model="demo", cors_origins=("https://ok.example",))
    with serving(tmp_path, FakeEngine, settings) as other:
        with httpx.Client(base_url=other.url) as client:
            ok = client.options(TXT2IMG, headers={**asked, "Origin": "https://ok.example"})
            assert ok.headers["access-control-allow-origin"] == "https://ok.example"
            evil = client.options(TXT2IMG, headers=asked)
            assert "access-control-allow-origin" not in evil.headers


def test_credentials_and_listening_rules():
    with pytest.raises(ValueError, match="USER:PASS"):
        Credentials.parse("nocolon")
    with pytest.raises(ValueError):
        Credentials.parse(":pass")
    assert Credentials.parse("a:b:c").password == "b:c"
    assert listen_problem("127.0.0.1", False, False) is None
    assert listen_problem("::1", False, False) is None
    assert "--api-auth" in listen_problem("0.0.0.0", False, False)
    assert listen_problem("0.0.0.0", True, False) is None
    assert listen_problem("0.0.0.0", False, True) is None
