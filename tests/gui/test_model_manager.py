"""Tools > Manage Checkpoints: add a file where it lies, see what it is, rename, choose its
prediction type and VAE, remove; a file we cannot use is named, never a crash."""
from __future__ import annotations

import time

import pytest
from PySide6.QtCore import Qt

from engine.models import families
from engine.models import library as library_module
from engine.models.library import Library
from tests.engine.checkpoint_files import family_shapes, write_sparse
from gui.threads import running_threads


@pytest.fixture
def manager(qtbot, library):
    from gui.model_manager import ModelManager
    dialog = ModelManager()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def cells(dialog, row: int) -> list[str]:
    return [dialog.table.item(row, c).text() for c in range(dialog.table.columnCount())]


def test_adding_a_file_hashes_it_off_the_gui_thread_and_lists_what_it_is(qtbot, manager, tmp_path):
    path = write_sparse(tmp_path / "dreamshaper_8.safetensors", family_shapes("sd-v1"))
    with qtbot.waitSignal(manager.changed, timeout=30_000):
        manager.add_file(path)
        # A thread slow to wind down once its work is done (a busy CI machine) must still be
        # over when the dialog says the file is added: CI once found it running at teardown.
        manager._task.finished.connect(lambda _entry: time.sleep(0.3), Qt.ConnectionType.DirectConnection)
        assert manager.busy()  # the window is free while the hash is read
    assert not manager.busy() and running_threads() == []
    name, kind, predicts, _size, short_hash, where = cells(manager, 0)
    assert (name, kind, predicts) == ("dreamshaper_8", "SD 1.x", "epsilon (guessed)")
    assert len(short_hash) == 10 and where == str(path)


def test_rename_prediction_vae_and_remove(qtbot, manager, library, tmp_path):
    library.add(write_sparse(tmp_path / "a.safetensors", family_shapes("sd-v2")))
    manager.reload(select="a")
    manager.rename_selected("Landscapes")
    assert cells(manager, 0)[0] == "Landscapes"
    manager.set_prediction("v")
    assert cells(manager, 0)[2] == "v (chosen)" and library.find("Landscapes").prediction == "v"
    vae = write_sparse(tmp_path / "vae.safetensors",
                       {k[len(families.VAE):]: v for k, v in family_shapes("sd-v1", ("vae",)).items()})
    manager.set_vae(vae)
    assert library.find("Landscapes").vae == vae
    with qtbot.waitSignal(manager.changed, timeout=5000):
        manager.remove_selected()
    assert manager.table.rowCount() == 0 and "still at" in manager.message.text()


def test_files_that_cannot_be_used_are_named_not_crashed_on(qtbot, manager, tmp_path):
    lora = write_sparse(tmp_path / "style.safetensors",
                        {"lora_unet_mid_block_attentions_0_proj_in.lora_down.weight": (4, 1280)})
    manager.add_file(lora)
    qtbot.waitUntil(lambda: not manager.busy(), timeout=30_000)
    assert "LoRA" in manager.message.text() and manager.table.rowCount() == 0
    manager.rename_selected("x")  # nothing selected: nothing happens, nothing raises
    manager.reload()
    taken = write_sparse(tmp_path / "b.safetensors", family_shapes("sd-v1"))
    library_module.library().add(taken)
    manager.reload(select="b")
    manager.rename_selected("sd-v1.4")
    assert "built-in" in manager.message.text() and cells(manager, 0)[0] == "b"


def test_the_window_lists_an_added_checkpoint_in_its_model_chooser(qtbot, window, library, tmp_path,
                                                                  monkeypatch):
    from gui import services as services_module
    window.model_chooser.list_models = lambda: services_module.list_models()
    library.add(write_sparse(tmp_path / "mine.safetensors", family_shapes("sd-v1")))
    window.menus.actions["checkpoints"].trigger()
    dialog = window.model_chooser.manager
    assert dialog.isVisible() and cells(dialog, 0)[0] == "mine"
    dialog.changed.emit()
    chooser = window.model_chooser.combo
    assert "mine" in [chooser.itemData(i) for i in range(chooser.count())]


def test_a_dropped_recipe_finds_a_renamed_checkpoint_by_its_hash(library, tmp_path, monkeypatch):
    import numpy as np
    from engine.pngmeta import save_png
    from engine.request import GenerationRequest
    from gui.services import read_recipe

    # Hashing is the library's own test's business; here only the lookup by hash matters.
    monkeypatch.setattr(library_module, "sha256_file", lambda path, progress=None: "ab12" * 16)
    entry = library.add(write_sparse(tmp_path / "old name.safetensors", family_shapes("sd-v1")))
    made = GenerationRequest("a cat", model="old name", seed=5)
    png = save_png(tmp_path / "made.png", np.zeros((64, 64, 3), np.uint8), made, 5, "old name",
                   model_hash=entry.short_hash)
    library.rename("old name", "new name")
    dropped = read_recipe(png, GenerationRequest("", model="demo"))
    assert dropped.request is not None and dropped.request.model == "new name"


def test_folders_a_person_has_are_scanned_at_every_start(qtbot, manager, library, tmp_path):
    comfy = tmp_path / "ComfyUI" / "models" / "checkpoints"
    comfy.mkdir(parents=True)
    write_sparse(comfy / "photon.safetensors", family_shapes("sd-v1"))
    with qtbot.waitSignal(manager.changed, timeout=5000):
        manager.keep_folder(comfy)
    assert manager.folders.item(0).text() == str(comfy)
    assert cells(manager, 0)[0] == "photon"
    assert [e.name for e in Library(library.models_dir).entries()] == ["photon"]  # the next start
    manager.keep_folder(tmp_path / "no such folder")
    assert "not a folder" in manager.message.text()
    manager.forget_folder(comfy)
    assert manager.folders.count() == 0 and manager.table.rowCount() == 0
