"""Ray workers are other processes: the folders a run was given on its command line
(--checkpoints-dir, --lora-dir, --embeddings-dir) must reach them, or a batch on Ray
could not find the checkpoint or the LoRA its prompt names."""
from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("ray")

import engine.batch.ray_cluster as cluster  # noqa: E402
from engine.models import extra_networks  # noqa: E402
from engine.models import library as library_module  # noqa: E402
from engine.models.library import Library  # noqa: E402


class Remote:
    """Ray's remote class, reduced to recording the constructor's arguments."""

    def __init__(self, made: list):
        self.made = made

    def options(self, **_options):
        return self

    def remote(self, *args):
        self.made.append(args)
        return object()


class Ray:
    def __init__(self):
        self.made: list = []

    def cluster_resources(self):
        return {"CPU": 1}

    def remote(self, *args, **kwargs):
        return Remote(self.made) if args else (lambda cls: Remote([]))


def test_the_workers_get_the_runs_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(extra_networks, "_run_folders", {"lora": [], "embedding": []})
    monkeypatch.setattr(library_module, "_LIBRARY", Library(tmp_path / "models"))
    library_module.library().add_folders([tmp_path / "checkpoints"])
    extra_networks.add_run_folders("lora", [tmp_path / "loras"])
    extra_networks.add_run_folders("embedding", [tmp_path / "embeddings"])
    ray = Ray()
    cluster.WorkerPool(ray)
    (arguments,) = ray.made
    # In the worker process: nothing of this run's yet, until its constructor runs.
    monkeypatch.setattr(extra_networks, "_run_folders", {"lora": [], "embedding": []})
    monkeypatch.setattr(library_module, "_LIBRARY", Library(tmp_path / "models"))
    cluster.use_run_folders(arguments[3])
    assert extra_networks.run_folders("lora") == [tmp_path / "loras"]
    assert extra_networks.run_folders("embedding") == [tmp_path / "embeddings"]
    assert library_module.library().run_folders() == [Path(tmp_path / "checkpoints")]
