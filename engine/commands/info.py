"""`python main.py info`: what this installation runs on, for bug reports and set-up checks.

Everything but the device line is read without importing a framework (package
metadata, files, the driver's own tool), so it answers at once and works with
TensorFlow absent. The device line then imports the chosen backend, as a
generation would; `--no-device` skips that.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import Optional


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "info", help="versions, compute backend and device, data and weight folders",
        description="Versions of Python, Keras, KerasCV and each installed framework; the "
                    "compute backend in use and why; the device it runs on and any NVIDIA GPU "
                    "with its memory; the folders for data, history and weights.")
    parser.add_argument("--no-device", action="store_true",
                        help="skip asking the backend for its device (which imports it)")
    parser.add_argument("--json", action="store_true", help="print the facts as JSON")
    parser.set_defaults(func=run)


def static_facts() -> dict:
    """All that needs no framework import."""
    from engine.compute import selection
    from engine.compute.nvidia_smi import nvidia_gpus
    from engine.locations import app_models_dir, keras_cache_dir
    from engine.paths import data_dir, history_location
    from engine.settings_file import settings_path
    from engine.versions import versions

    choice = selection.applied() or selection.apply()
    backends = {}
    for name in selection.BACKENDS:
        installed = selection.is_installed(name)
        backends[name] = {"installed": installed,
                          "gpu_build": installed and selection.can_reach_gpu(name),
                          "install": None if installed else selection.BACKENDS[name].install}
    return {
        "versions": versions(),
        "backend": {"name": choice.backend, "source": choice.source, "reason": choice.reason,
                    "notes": list(choice.notes)},
        "backends": backends,
        "nvidia_gpus": [{"name": g.name, "memory_bytes": g.memory_bytes, "driver": g.driver}
                        for g in nvidia_gpus()],
        "folders": {"data": str(data_dir()), "settings": str(settings_path()),
                    "history": str(history_location().root),
                    "weights": [str(keras_cache_dir()), str(app_models_dir())],
                    "keras_json": str(selection.keras_json_path())},
    }


def device_facts() -> dict:
    """Imports the chosen backend (seconds for TensorFlow). A broken install is reported, not raised."""
    try:
        from engine import compute
        module = compute.current()
        return {"device": module.device_name(), "gpu": bool(module.has_gpu())}
    except Exception as error:  # noqa: BLE001 - shown to the person, never a traceback
        return {"device": None, "error": f"{type(error).__name__}: {error}"}


def _size(value: Optional[int]) -> str:
    return "?" if value is None else f"{value / 2**30:.1f} GiB"


def render_static(facts: dict) -> str:
    from engine.compute.selection import label
    v, b, f = facts["versions"], facts["backend"], facts["folders"]
    lines = ["Versions:  " + ", ".join(f"{k} {val}" for k, val in v.items()),
             f"Backend:   {label(b['name'])} ({b['reason']})"]
    lines += [f"           note: {note}" for note in b["notes"]]
    for name, entry in facts["backends"].items():
        if entry["installed"]:
            state = "installed" + (", GPU build" if entry["gpu_build"] else "")
        else:
            state = f"not installed ({entry['install']})"
        lines.append(f"           {label(name)}: {state}")
    for gpu in facts["nvidia_gpus"]:
        lines.append(f"GPU:       {gpu['name']}, {_size(gpu['memory_bytes'])} "
                     f"(NVIDIA driver {gpu['driver']})")
    lines += [f"Data:      {f['data']}", f"Settings:  {f['settings']}",
              f"History:   {f['history']}",
              "Weights:   " + "\n           ".join(f["weights"]),
              f"Keras:     {f['keras_json']}"]
    return "\n".join(lines)


def render_device(facts: dict) -> str:
    if facts.get("device") is None:
        return f"Device:    unavailable ({facts.get('error')})"
    return f"Device:    {facts['device']}"


def run(args: argparse.Namespace) -> int:
    facts = static_facts()
    if args.json:
        if not args.no_device:
            facts["device"] = device_facts()
        print(json.dumps(facts, indent=2))
        return 0
    print(render_static(facts), flush=True)
    if not args.no_device:
        waiting = sys.stdout.isatty()
        if waiting:  # importing TensorFlow can take many seconds: say what is going on
            from engine.compute.selection import label
            print(f"Device:    asking {label(facts['backend']['name'])}\u2026", end="\r", flush=True)
        print(render_device(device_facts()).ljust(40 if waiting else 0))
    return 0
