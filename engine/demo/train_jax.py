"""Trains the demo model's text encoder and UNet on a GPU, with Keras on JAX.

    pip install -e ".[train-gpu]"
    KERAS_BACKEND=jax python -m engine.demo.train_jax --out /tmp/demo-gpu
    KERAS_BACKEND=jax python -m engine.demo.train_jax --budget-seconds 300 --out /tmp/demo-gpu

Same networks, objective, caption dropout and moving average as the CPU script
(engine.demo.train), but every batch is drawn and rendered on the accelerator
(scenes.render_arrays on jax.numpy), so a fast GPU is never left waiting on
Python. Scenes come from a pool made up front from fixed seeds, in chunks whose
seeds do not depend on how many processes make them.

--budget-seconds fits the run to the time a GPU is lent: after the warm-up it
measures the step rate and shortens the cosine schedule to end on time, with a
margin, since steps slowed by up to 15% later in a run on an H100. Should it still
run late, it stops at the deadline and saves (training.json then says
"finished": false and the step reached). The step count is written to
training.json; rerunning with that --steps and no budget repeats the run (up to
the GPU's non-deterministic reductions).

The upsampler is not trained here: the CPU script trains it in minutes, and
the one in resources/demo is copied alongside. Weights are Keras files, so the
TensorFlow app loads them as they are.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from engine.demo import scenes, text
from engine.resources import demo_dir

SEED = 20261126
DROP_CAPTION = 0.12
CHUNK = 20_000
SAVE_SECONDS = 10  # writing the weights at the end, kept out of a time budget


def alphas_cumprod() -> np.ndarray:
    """KerasCV's training schedule (scaled-linear betas), computed rather than imported:
    keras_cv needs TensorFlow, which a JAX GPU machine may not have. A test checks
    it against engine.schedule.ALPHAS_CUMPROD."""
    betas = np.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=np.float64) ** 2
    return np.cumprod(1.0 - betas)


def _pool_chunk(seed: int, index: int, count: int, say_colour: float = 1.0,
                say_background: float = 1.0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([seed, index])
    drawn = [scenes.random_scene(rng, say_colour=say_colour, say_background=say_background)
             for _ in range(count)]
    arrays = scenes.scene_arrays(drawn)
    arrays["ids"] = text.token_ids([s.caption for s in drawn])
    return arrays


def scene_pool(size: int, seed: int, workers: int, say_colour: float = 1.0,
               say_background: float = 1.0) -> dict[str, np.ndarray]:
    """`size` training scenes (held-out combinations excluded) as arrays."""
    counts = [min(CHUNK, size - start) for start in range(0, size, CHUNK)]
    n = len(counts)
    # spawn, not fork: forking after JAX has started its threads can deadlock.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        chunks = list(pool.map(_pool_chunk, [seed] * n, range(n), counts,
                               [say_colour] * n, [say_background] * n))
    return {key: np.concatenate([c[key] for c in chunks]) for key in chunks[0]}


def learning_rate(step: int, total: int, warmup: int, peak: float) -> float:
    """Linear warm-up from peak/15, then cosine decay to 5% of the peak at `total`."""
    if step < warmup:
        return peak / 15 + (peak - peak / 15) * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return peak * (0.05 + 0.95 * 0.5 * (1.0 + np.cos(np.pi * progress)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=40_000, help="most training steps")
    parser.add_argument("--budget-seconds", type=float, default=None,
                        help="fit the schedule so the whole run ends within this many seconds")
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--peak-lr", type=float, default=1.5e-3)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--pool", type=int, default=1_000_000, help="scenes drawn up front")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--checkpoint-seconds", type=float, default=60.0)
    parser.add_argument("--upsampler", type=Path, default=None,
                        help="upsampler weights to copy beside the new ones "
                             "(default: the app's resources/demo)")
    parser.add_argument("--resume", type=Path, default=None,
                        help="start from the text encoder and UNet in this folder "
                             "(a fresh optimizer and a new stream of scenes)")
    parser.add_argument("--say-colour", type=float, default=1.0,
                        help="share of captions that name the shapes' colour")
    parser.add_argument("--say-background", type=float, default=1.0,
                        help="share of captions that name the background")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    started = time.time()

    def log(message: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {message}", flush=True)

    # A continued run must not replay the scenes the first one saw.
    seed = SEED + (1 if args.resume else 0)
    pool = scene_pool(args.pool, seed, args.workers, args.say_colour, args.say_background)
    log(f"{args.pool} scenes drawn with {args.workers} processes")

    # Keras must see the backend before its first import; nothing above imports it.
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    import jax.numpy as jnp
    import keras
    import optax

    from engine.demo.model import IMAGE_SIZE, build_text_encoder, build_unet

    if keras.backend.backend() != "jax":
        raise SystemExit("run with KERAS_BACKEND=jax")
    log(f"devices: {jax.devices()}")
    keras.utils.set_random_seed(SEED)
    encoder, unet = build_text_encoder(), build_unet()
    if args.resume:
        encoder.load_weights(args.resume / "text_encoder.weights.h5")
        unet.load_weights(args.resume / "unet.weights.h5")
    n_encoder = len(encoder.trainable_variables)
    params = [v.value for v in encoder.trainable_variables + unet.trainable_variables]
    if encoder.non_trainable_variables or unet.non_trainable_variables:
        raise SystemExit("the networks gained non-trainable state; this loop does not carry it")
    log(f"{sum(int(np.prod(p.shape)) for p in params):,} parameters")

    device_pool = {key: jnp.asarray(value) for key, value in pool.items()}
    empty_ids = jnp.asarray(text.token_ids([""])[0])
    alphas = jnp.asarray(alphas_cumprod(), jnp.float32)
    optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.scale_by_adam())
    opt_state = optimizer.init(params)
    ema = list(params)
    ema_decay = 0.999

    def loss_fn(params, x0, ids, t, noise):
        a = alphas[t][:, None, None, None]
        noisy = jnp.sqrt(a) * x0 + jnp.sqrt(1.0 - a) * noise
        # The UNet predicts v (see model.py); the backend turns it into noise for the loop.
        target = jnp.sqrt(a) * noise - jnp.sqrt(1.0 - a) * x0
        context, _ = encoder.stateless_call(params[:n_encoder], [], ids, training=True)
        v, _ = unet.stateless_call(params[n_encoder:], [],
                                   [noisy, t.astype(jnp.float32), context], training=True)
        return jnp.mean(jnp.square(v - target))

    @jax.jit
    def train_step(params, opt_state, ema, pool, key, lr, step):
        k_pick, k_drop, k_t, k_noise = jax.random.split(key, 4)
        # The pool is an argument, not a closure: XLA would embed it as a constant.
        pick = jax.random.randint(k_pick, (args.batch,), 0, pool["ids"].shape[0])
        batch = {k: v[pick] for k, v in pool.items()}
        x0 = scenes.render_arrays(batch, IMAGE_SIZE, jnp) / 127.5 - 1.0
        # Blank captions teach the unconditional model classifier-free guidance needs.
        drop = jax.random.uniform(k_drop, (args.batch, 1)) < DROP_CAPTION
        ids = jnp.where(drop, empty_ids[None], batch["ids"])
        t = jax.random.randint(k_t, (args.batch,), 0, alphas.shape[0])
        noise = jax.random.normal(k_noise, x0.shape, jnp.float32)
        loss, grads = jax.value_and_grad(loss_fn)(params, x0, ids, t, noise)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = [p - lr * u for p, u in zip(params, updates)]
        # Warm-up keeps the average from dragging the untrained start along.
        decay = jnp.minimum(ema_decay, (1.0 + step) / (10.0 + step))
        ema = [decay * e + (1.0 - decay) * p for e, p in zip(ema, params)]
        return params, opt_state, ema, loss

    def save(folder: Path, info: dict) -> None:
        for variable, value in zip(encoder.trainable_variables + unet.trainable_variables, ema):
            variable.assign(value)
        folder.mkdir(parents=True, exist_ok=True)
        encoder.save_weights(folder / "text_encoder.weights.h5")
        unet.save_weights(folder / "unet.weights.h5")
        (folder / "training.json").write_text(json.dumps(info, indent=2) + "\n")

    key = jax.random.PRNGKey(seed + 1)
    total = args.steps
    losses, step, last_checkpoint = [], 0, time.time()
    train_started = None
    info = {
        "trainer": "engine.demo.train_jax", "seed": seed, "batch": args.batch,
        "resumed_from": str(args.resume) if args.resume else None,
        "say_colour": args.say_colour, "say_background": args.say_background,
        "peak_lr": args.peak_lr, "warmup": args.warmup, "pool": args.pool,
        "device": str(jax.devices()[0].device_kind), "machine": platform.machine(),
        "jax": jax.__version__, "keras": keras.__version__,
        "vocabulary": list(text.VOCABULARY),
    }
    deadline = started + (args.budget_seconds or float("inf")) - SAVE_SECONDS
    while step < total and time.time() < deadline:
        key, k_step = jax.random.split(key)
        lr = learning_rate(step, total, args.warmup, args.peak_lr)
        params, opt_state, ema, loss = train_step(params, opt_state, ema, device_pool, k_step,
                                                  jnp.float32(lr), jnp.float32(step))
        losses.append(loss)
        step += 1
        if step == 20:
            loss.block_until_ready()  # compiled and running: time from here
            train_started, rate_from = time.time(), step
        if args.budget_seconds and step == min(args.warmup, total - 1) and train_started:
            loss.block_until_ready()
            per_step = (time.time() - train_started) / (step - rate_from)
            left = args.budget_seconds - (time.time() - started) - SAVE_SECONDS
            fitted = step + int(0.8 * left / per_step)
            total = max(step + 1, min(total, fitted))
            log(f"{per_step * 1000:.2f} ms per step: the schedule ends at step {total}")
        if step % 500 == 0 or step == total:
            log(f"step {step}/{total} loss {float(jnp.mean(jnp.stack(losses))):.4f} lr {lr:.2e}")
            losses = []
        if time.time() - last_checkpoint > args.checkpoint_seconds and step < total:
            save(args.out, {**info, "steps": step, "finished": False})
            last_checkpoint = time.time()
    jax.block_until_ready(ema)
    if step < total:
        log(f"out of time at step {step} of {total}")
    info.update({
        "steps": step, "planned_steps": total, "finished": step == total,
        "training_seconds": round(time.time() - (train_started or started)),
        "total_seconds": round(time.time() - started),
    })
    save(args.out, info)
    upsampler = args.upsampler or demo_dir() / "upsampler.weights.h5"
    if upsampler.resolve() != (args.out / "upsampler.weights.h5").resolve():
        shutil.copyfile(upsampler, args.out / "upsampler.weights.h5")
    log(f"done: {json.dumps({k: v for k, v in info.items() if k != 'vocabulary'})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
