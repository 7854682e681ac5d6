"""Trains the built-in demo model from scratch on synthetic scenes; reproducible.

This is the CPU recipe, with TensorFlow. The committed text encoder and UNet
came from the GPU one, engine/demo/train_jax.py (see resources/demo/README.md);
the committed upsampler from this script.

    nice -n 5 .venv/bin/python -m engine.demo.train            # writes resources/demo/
    .venv/bin/python -m engine.demo.train --steps 200 --out /tmp/demo-try   # a quick look

Two stages, one process: the 32->64 upsampler (a few minutes), then the text
encoder and UNet together (v prediction on KerasCV's schedule, with 12% of
captions blanked so classifier-free guidance has an unconditional model to
push away from). The weights written are an exponential moving average, which
gives much cleaner samples than the last step's weights after a short run.
Every scene is drawn from one seeded generator, so a rerun repeats the data;
TensorFlow's CPU kernels are not bit-deterministic across thread counts, so a
rerun matches closely, not bit for bit.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from engine.demo import scenes, text  # noqa: E402
from engine.demo.model import IMAGE_SIZE, build_text_encoder, build_unet  # noqa: E402
from engine.resources import demo_dir  # noqa: E402
from engine.demo.upsampler import OUTPUT_SIZE, build_upsampler  # noqa: E402
from engine.schedule import ALPHAS_CUMPROD  # noqa: E402

SEED = 20261126
DROP_CAPTION = 0.12


def to_unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 127.5 - 1.0


def batch_of_scenes(rng: np.random.Generator, n: int) -> list[scenes.Scene]:
    return [scenes.random_scene(rng) for _ in range(n)]


def train_upsampler(rng: np.random.Generator, steps: int, batch: int, log) -> keras.Model:
    model = build_upsampler()
    opt = keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(2e-3, steps, alpha=0.05))

    @tf.function(jit_compile=True)
    def step(low, high):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.abs(model(low, training=True) - high))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
        return loss

    started, running = time.time(), []
    for i in range(1, steps + 1):
        batch_scenes = batch_of_scenes(rng, batch)
        # Diffusion output is never exactly clean: train on slightly noisy inputs.
        low = to_unit(scenes.render(batch_scenes, IMAGE_SIZE))
        low += rng.normal(0, 0.03, low.shape).astype(np.float32)
        running.append(float(step(low, to_unit(scenes.render(batch_scenes, OUTPUT_SIZE)))))
        if i % 100 == 0 or i == steps:
            log(f"upsampler step {i}/{steps} L1 {np.mean(running):.4f} ({time.time() - started:.0f}s)")
            running = []
    return model


def train_diffusion(rng: np.random.Generator, steps: int, batch: int, out: Path, log,
                    checkpoint_every: int, resume: Path | None = None,
                    peak_lr: float = 1.5e-3) -> tuple[keras.Model, keras.Model]:
    encoder, unet = build_text_encoder(), build_unet()
    if resume is not None:
        encoder.load_weights(resume / "text_encoder.weights.h5")
        unet.load_weights(resume / "unet.weights.h5")
    ema_encoder, ema_unet = build_text_encoder(), build_unet()
    ema_encoder.set_weights(encoder.get_weights())
    ema_unet.set_weights(unet.get_weights())
    variables = encoder.trainable_variables + unet.trainable_variables
    ema_variables = ema_encoder.trainable_variables + ema_unet.trainable_variables
    warmup = min(200, steps // 10)
    lr = keras.optimizers.schedules.CosineDecay(
        1e-4, steps - warmup, alpha=0.05, warmup_target=peak_lr, warmup_steps=warmup)
    opt = keras.optimizers.Adam(lr, global_clipnorm=1.0)
    alphas = tf.constant(ALPHAS_CUMPROD, tf.float32)
    ema_decay = 0.998

    @tf.function(jit_compile=True)
    def step(x0, ids, t, noise):
        a = tf.reshape(tf.gather(alphas, t), (-1, 1, 1, 1))
        noisy = tf.sqrt(a) * x0 + tf.sqrt(1.0 - a) * noise
        # The UNet predicts v (see model.py); the backend turns it into noise for the loop.
        target = tf.sqrt(a) * noise - tf.sqrt(1.0 - a) * x0
        with tf.GradientTape() as tape:
            v = unet([noisy, tf.cast(t, tf.float32), encoder(ids, training=True)], training=True)
            loss = tf.reduce_mean(tf.square(v - target))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        # Warm-up keeps the average from dragging the untrained start along.
        n = tf.cast(opt.iterations, tf.float32)
        decay = tf.minimum(ema_decay, (1.0 + n) / (10.0 + n))
        for e, v in zip(ema_variables, variables):
            e.assign(decay * e + (1.0 - decay) * v)
        return loss

    started, running = time.time(), []
    for i in range(1, steps + 1):
        batch_scenes = batch_of_scenes(rng, batch)
        captions = ["" if rng.random() < DROP_CAPTION else s.caption for s in batch_scenes]
        x0 = to_unit(scenes.render(batch_scenes, IMAGE_SIZE))
        t = rng.integers(0, len(ALPHAS_CUMPROD), batch).astype(np.int32)
        noise = rng.standard_normal(x0.shape).astype(np.float32)
        running.append(float(step(x0, text.token_ids(captions), t, noise)))
        if i % 50 == 0 or i == steps:
            log(f"diffusion step {i}/{steps} loss {np.mean(running):.4f} "
                f"({time.time() - started:.0f}s)")
            running = []
        if checkpoint_every and i % checkpoint_every == 0 and i < steps:
            save(out / f"checkpoint-{i}", ema_encoder, ema_unet, None)
    return ema_encoder, ema_unet


def save(folder: Path, encoder, unet, upsampler, info: dict | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save_weights(folder / "text_encoder.weights.h5")
    unet.save_weights(folder / "unet.weights.h5")
    if upsampler is not None:
        upsampler.save_weights(folder / "upsampler.weights.h5")
    if info is not None:
        (folder / "training.json").write_text(json.dumps(info, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=1800, help="diffusion training steps")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--upsampler-steps", type=int, default=300)
    parser.add_argument("--threads", type=int, default=2, help="TensorFlow CPU threads")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--upsampler-weights", type=Path, default=None,
                        help="reuse an upsampler trained by an earlier run (same seed) "
                             "instead of training it again")
    parser.add_argument("--resume", type=Path, default=None,
                        help="continue from the text encoder and UNet in this folder "
                             "(a fresh optimizer, a new stream of scenes, peak rate 1e-3)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the weights (default: the app's resources/demo)")
    args = parser.parse_args(argv)
    out = args.out or demo_dir()

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(SEED)
    log_started = time.time()

    def log(message: str) -> None:
        print(f"[{time.time() - log_started:7.0f}s] {message}", flush=True)

    log(f"training the demo model into {out}")
    up_started = time.time()
    # Each stage draws from its own generator, so either can be rerun alone.
    if args.upsampler_weights:
        upsampler = build_upsampler()
        upsampler.load_weights(args.upsampler_weights)
        log(f"upsampler reused from {args.upsampler_weights}")
    else:
        upsampler = train_upsampler(np.random.default_rng(SEED), args.upsampler_steps, 32, log)
    up_seconds = time.time() - up_started
    out.mkdir(parents=True, exist_ok=True)
    upsampler.save_weights(out / "upsampler.weights.h5")
    diff_started = time.time()
    # A continued run must not replay the scenes the first one saw.
    diffusion_seed = SEED + (2 if args.resume else 1)
    keras.utils.set_random_seed(diffusion_seed)
    encoder, unet = train_diffusion(np.random.default_rng(diffusion_seed), args.steps, args.batch,
                                    out, log, args.checkpoint_every, args.resume,
                                    1e-3 if args.resume else 1.5e-3)
    info = {
        "seed": SEED,
        "diffusion_steps": args.steps,
        "batch": args.batch,
        "upsampler_steps": args.upsampler_steps,
        "threads": args.threads,
        "upsampler_seconds": round(up_seconds),
        "upsampler_reused_from": str(args.upsampler_weights) if args.upsampler_weights else None,
        "resumed_from": str(args.resume) if args.resume else None,
        "diffusion_seconds": round(time.time() - diff_started),
        "total_seconds": round(time.time() - log_started),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "vocabulary": list(text.VOCABULARY),
    }
    save(out, encoder, unet, upsampler, info)
    log(f"done: {json.dumps(info)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
