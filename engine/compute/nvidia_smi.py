"""NVIDIA GPUs as the driver's own tool reports them, whatever the Keras backend.

Asking the driver needs no framework import (fast, and works where the chosen
backend has no GPU build), and it knows each card's total memory, which not
every framework tells.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Optional

QUERY = "name,memory.total,driver_version"


@dataclass(frozen=True)
class NvidiaGpu:
    name: str
    memory_bytes: Optional[int]
    driver: str


def parse(text: str) -> list[NvidiaGpu]:
    """nvidia-smi's `--format=csv,noheader,nounits` output: memory in MiB."""
    gpus = []
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        name, memory, driver = parts
        try:
            memory_bytes: Optional[int] = int(float(memory)) * 2**20
        except ValueError:  # "[N/A]" on some cards
            memory_bytes = None
        gpus.append(NvidiaGpu(name, memory_bytes, driver))
    return gpus


def nvidia_gpus(timeout: float = 5.0) -> list[NvidiaGpu]:
    """[] where there is no NVIDIA driver, or it does not answer in time."""
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return []
    try:
        done = subprocess.run([tool, f"--query-gpu={QUERY}", "--format=csv,noheader,nounits"],
                              capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return parse(done.stdout) if done.returncode == 0 else []
