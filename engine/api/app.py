"""The routes: A1111's `/sdapi/v1/...` on FastAPI, over a JobPort (port.py).

Handlers never block the event loop: mapping a body (decoding images, storing sources)
and reading the saved PNGs run in the thread pool, and waiting for a job is awaiting
a future its ending resolves.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Optional

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic

from engine.api import catalogue, mapping, results
from engine.api.errors import ApiProblem
from engine.api.limits import MAX_BODY_BYTES
from engine.api.schemas import (Img2Img, ImageResponse, PngInfoBody, ProgressResponse,
                                Txt2Img)
from engine.api.security import BodyLimit, Credentials, auth_problem
from engine.jobs.events import Failed, Finished

log = logging.getLogger(__name__)
PREFIX = "/sdapi/v1"


@dataclass
class ApiSettings:
    credentials: Optional[Credentials] = None  # None: no auth (loopback only, see server.py)
    cors_origins: tuple[str, ...] = ()  # none: browsers on other origins are refused
    max_body_bytes: int = MAX_BODY_BYTES
    model: Optional[str] = None  # the checkpoint at start (default: the app's default model)


@dataclass
class _Options:
    """A1111's settings that change what the API makes; `sd_model_checkpoint` switches the
    model for the calls that follow, as in A1111."""
    model: str
    clip_skip: int = 1
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> tuple[str, int]:
        with self.lock:
            return self.model, self.clip_skip


def create_app(port, settings: Optional[ApiSettings] = None):
    """An ASGI application serving `port` (a QueuePort) with `settings`."""
    settings = settings or ApiSettings()
    if settings.model is None:
        from engine.default_model import default_model_id
        settings.model = default_model_id()
    options = _Options(settings.model)
    basic = HTTPBasic(auto_error=False)

    def authorised(given=Depends(basic)) -> None:
        problem = auth_problem(settings.credentials, given)
        if problem:
            raise HTTPException(401, problem, headers={"WWW-Authenticate": "Basic"})

    # The interactive docs sit outside the routes' dependencies: with a password set they
    # would be open to anyone, so they are served only where no password is asked.
    open_docs = settings.credentials is None
    app = FastAPI(title="SD Desk (A1111-compatible API)", dependencies=[Depends(authorised)],
                  docs_url="/docs" if open_docs else None, redoc_url=None,
                  openapi_url="/openapi.json" if open_docs else None)
    _add_error_handlers(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_credentials=True, allow_methods=["GET", "POST"],
                           allow_headers=["*"])

    # ---- generation --------------------------------------------------------------------

    async def generate(requests, body) -> dict:
        futures = await run_in_threadpool(_submit, port, requests)
        endings = [await asyncio.wrap_future(future) for future in futures]
        failed = next((e for e in endings if isinstance(e, Failed)), None)
        if failed is not None:
            return JSONResponse(status_code=500, content={
                "error": failed.title, "detail": failed.message,
                "errors": failed.message})
        finished = [e for e in endings if isinstance(e, Finished)]
        images = await run_in_threadpool(
            lambda: [b for e in finished for b in results.png_base64(e)]) if body.send_images else []
        title = await run_in_threadpool(catalogue.title_of, requests[0].model)
        parameters = body.model_dump()
        if isinstance(body, Img2Img) and not body.include_init_images:
            parameters.update(init_images=None, mask=None)
        return {"images": images, "parameters": parameters,
                "info": results.info_json(finished, requests[0], title)}

    @app.post(f"{PREFIX}/txt2img", response_model=ImageResponse)
    async def txt2img(body: Txt2Img):
        requests = await run_in_threadpool(mapping.txt2img_requests, body, *options.current())
        return await generate(requests, body)

    @app.post(f"{PREFIX}/img2img", response_model=ImageResponse)
    async def img2img(body: Img2Img):
        model, clip_skip = options.current()
        requests = await run_in_threadpool(mapping.img2img_requests, body, model, port.sources,
                                           clip_skip)
        return await generate(requests, body)

    # ---- the running job ---------------------------------------------------------------

    @app.get(f"{PREFIX}/progress", response_model=ProgressResponse)
    def progress(skip_current_image: bool = False):
        return _progress(port.running(), skip_current_image)

    @app.post(f"{PREFIX}/interrupt")
    def interrupt():
        port.interrupt()
        return {}

    @app.post(f"{PREFIX}/skip")
    def skip():
        port.skip()
        return {}

    # ---- what there is -----------------------------------------------------------------

    @app.get(f"{PREFIX}/sd-models")
    def sd_models():
        return [m.as_a1111() for m in catalogue.listed_models()]

    @app.post(f"{PREFIX}/refresh-checkpoints")
    def refresh_checkpoints():
        from engine.models.library import library
        library().refresh()
        return None

    @app.get(f"{PREFIX}/samplers")
    def samplers():
        return catalogue.samplers()

    @app.get(f"{PREFIX}/schedulers")
    def schedulers():
        return catalogue.schedulers()

    @app.get(f"{PREFIX}/upscalers")
    def upscalers():
        return catalogue.upscalers()

    @app.get(f"{PREFIX}/latent-upscale-modes")
    def latent_upscale_modes():
        return catalogue.latent_upscale_modes()

    @app.get(f"{PREFIX}/loras")
    def loras():
        from engine.models import extra_networks
        # Names only: where the files lie on this machine is not the client's business.
        return [{"name": f.name, "alias": f.name, "metadata": {}}
                for f in extra_networks.list_files(extra_networks.LORA)]

    @app.get(f"{PREFIX}/embeddings")
    def embeddings():
        from engine.models import extra_networks
        return {"loaded": {f.name: {"step": None, "sd_checkpoint": None,
                                    "sd_checkpoint_name": None, "shape": None, "vectors": None}
                           for f in extra_networks.list_files(extra_networks.EMBEDDING)},
                "skipped": {}}

    for route in ("sd-vae", "prompt-styles", "hypernetworks", "face-restorers",
                  "realesrgan-models", "sd-modules"):
        app.get(f"{PREFIX}/{route}")(lambda: [])

    @app.get(f"{PREFIX}/scripts")
    def scripts():
        return {"txt2img": [], "img2img": []}

    @app.get(f"{PREFIX}/cmd-flags")
    def cmd_flags():
        return {"api": True, "nowebui": True, "api_auth": None,
                "listen": False, "port": None}

    # ---- settings ----------------------------------------------------------------------

    @app.get(f"{PREFIX}/options")
    def get_options():
        model, clip_skip = options.current()
        listed = catalogue.find_model(model)
        return {"sd_model_checkpoint": listed.title if listed else model,
                "sd_checkpoint_hash": listed.sha256 if listed else None,
                "CLIP_stop_at_last_layers": clip_skip, "samples_format": "png",
                "sd_vae": "Automatic", "api_enable_requests": False}

    @app.post(f"{PREFIX}/options")
    def set_options(body: dict[str, Any]):
        model, clip_skip = _changed_options(body)
        with options.lock:
            options.model = model or options.model
            options.clip_skip = clip_skip or options.clip_skip
        return None

    @app.post(f"{PREFIX}/png-info")
    def png_info(body: PngInfoBody):
        return _png_info(body.image)

    return BodyLimit(app, settings.max_body_bytes)


def _submit(port, requests):
    from engine.errors import InvalidRequest
    try:
        return port.submit(requests)
    except InvalidRequest as error:  # the queue's own size check
        raise ApiProblem([(mapping.where(p), p.message) for p in error.problems]) from None
    except RuntimeError as error:  # the server is stopping
        raise ApiProblem([((), str(error))], status=503) from None


def _changed_options(body: dict) -> tuple[Optional[str], Optional[int]]:
    from engine.request import check_field
    model = clip_skip = None
    wanted = body.get("sd_model_checkpoint")
    if wanted is not None:
        found = catalogue.find_model(wanted) if isinstance(wanted, str) else None
        if found is None:
            raise ApiProblem.one("sd_model_checkpoint", mapping.no_model_message(wanted))
        model = found.id
    if "CLIP_stop_at_last_layers" in body:
        clip_skip = body["CLIP_stop_at_last_layers"]
        problems = check_field("clip_skip", clip_skip)
        if problems:
            raise ApiProblem.one("CLIP_stop_at_last_layers", problems[0].message)
    return model, clip_skip


def _progress(run, skip_current_image: bool) -> dict:
    if run.job_id is None:
        fraction, eta = 0.0, 0.0
    else:
        if run.phase == "denoising" and run.total:
            fraction = run.step / run.total
        else:
            fraction = 0.99 if run.phase in ("decoding", "saving") else 0.0
        elapsed = time.time() - run.started
        eta = run.eta_seconds if run.eta_seconds is not None else (
            elapsed / fraction - elapsed if fraction > 0 else 0.0)
    state = {"skipped": run.skipped, "interrupted": run.interrupted,
             "stopping_generation": False, "job": f"job {run.job_id}" if run.job_id else "",
             "job_count": run.waiting + (run.job_id is not None), "job_no": 0,
             "job_timestamp": time.strftime("%Y%m%d%H%M%S", time.localtime(run.started or time.time())),
             "sampling_step": run.step, "sampling_steps": run.total}
    image = None if skip_current_image else results.preview_base64(run.preview)
    return {"progress": round(fraction, 4), "eta_relative": round(max(0.0, eta), 3),
            "state": state, "current_image": image, "textinfo": run.describe() or None}


def _png_info(text: str) -> dict:
    from engine import pngmeta
    data = mapping.decode_base64(text, "image")
    with mapping.ImageFile(data, "image") as path:
        try:
            meta = pngmeta.read_png_metadata(path)
        except OSError:
            meta = None  # not a PNG: A1111 answers with nothing found, as do we
    if meta is None or not meta.parameters_text:
        return {"info": "", "items": {}, "parameters": {}}
    parsed = meta.parameters
    values = parsed.recipe.values
    # Every key as the file writes it, as A1111 answers; the numbers our reader checked
    # as numbers, and Size in A1111's two halves.
    typed = {"Steps": values.get("steps"), "CFG scale": values.get("guidance"),
             "Seed": values.get("seed"), "Size-1": values.get("width"), "Size-2": values.get("height")}
    parameters: dict[str, Any] = {"Prompt": parsed.prompt, "Negative prompt": parsed.negative_prompt}
    for key, value in parsed.pairs:
        if key == "Size" and "x" in value:
            parameters["Size-1"], parameters["Size-2"] = value.split("x", 1)
        else:
            parameters[key] = value
    parameters.update({key: value for key, value in typed.items()
                       if key in parameters and value is not None})
    return {"info": meta.parameters_text, "items": {}, "parameters": parameters}


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiProblem)
    async def problem(request: Request, error: ApiProblem):
        return JSONResponse(status_code=error.status, content={"detail": error.detail()})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        # FastAPI's own shape, without `input`: a rejected body can be megabytes of base64.
        detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "value_error")} for e in error.errors()]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(Exception)
    async def unexpected(request: Request, error: Exception):
        log.error("API request %s failed", request.url.path, exc_info=error)
        return JSONResponse(status_code=500, content={
            "error": type(error).__name__,
            "detail": "The server failed on this request; its log has the details."})
