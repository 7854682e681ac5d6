"""Importing weights from a folder, for machines without internet."""
from __future__ import annotations

import errno
import os

import pytest

from engine.events import CancelToken
from engine.models import importer
from engine.models.errors import ImportFolderError
from engine.locations import find_file, search_dirs
from engine.models.status import model_status
from tests.engine.weights_server import loopback_only, sandbox, spec_and_files, write_files  # noqa: F401


def test_import_of_a_good_folder_hard_links_into_place(sandbox, spec_and_files, tmp_path):
    spec, contents = spec_and_files
    usb = tmp_path / "usb"
    write_files(usb, contents)

    report = importer.import_model(spec, usb)
    assert report.complete
    assert sorted(p.name for p in report.imported) == sorted(contents)
    for name, data in contents.items():
        placed = find_file(name, search_dirs())
        assert placed == sandbox["models"] / name
        assert placed.read_bytes() == data
        assert os.path.samefile(placed, usb / name)  # same disk: a link, no second copy
    assert model_status(spec).state == "installed"  # remembered as verified


def test_a_corrupt_file_is_reported_and_not_imported(sandbox, spec_and_files, tmp_path):
    spec, contents = spec_and_files
    usb = tmp_path / "usb"
    write_files(usb, {**contents, "unet.h5": contents["unet.h5"][:-10] + b"0123456789"})

    report = importer.import_model(spec, usb)
    assert not report.complete
    assert report.corrupt == [usb / "unet.h5"]
    assert "unet.h5" in report.summary() and "Damaged" in report.summary()
    assert find_file("unet.h5", search_dirs()) is None
    assert not any(p.name.startswith("unet.h5") for p in sandbox["models"].iterdir())
    assert [f.state for f in model_status(spec).files] == ["installed", "missing", "installed"]


def test_copies_when_hard_links_are_not_possible(sandbox, spec_and_files, tmp_path, monkeypatch):
    spec, contents = spec_and_files
    usb = tmp_path / "usb"
    write_files(usb, contents)

    def no_links(src, dst):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", no_links)
    report = importer.import_model(spec, usb)
    assert report.complete and report.linked == []
    for name, data in contents.items():
        placed = sandbox["models"] / name
        assert placed.read_bytes() == data
        assert not os.path.samefile(placed, usb / name)
    assert model_status(spec).state == "installed"


def test_a_corrupt_file_is_caught_while_copying(sandbox, spec_and_files, tmp_path, monkeypatch):
    spec, contents = spec_and_files
    usb = tmp_path / "usb"
    write_files(usb, {**contents, "enc.h5": b"\0" * len(contents["enc.h5"])})
    monkeypatch.setattr(os, "link", lambda s, d: (_ for _ in ()).throw(OSError(errno.EPERM, "no")))
    report = importer.import_model(spec, usb)
    assert report.corrupt == [usb / "enc.h5"]
    assert sorted(os.listdir(sandbox["models"])) == ["unet.h5", "vocab.txt.gz"]


def test_partial_folders_and_files_already_installed(sandbox, spec_and_files, tmp_path):
    spec, contents = spec_and_files
    write_files(sandbox["keras_cache"], {"enc.h5": contents["enc.h5"]})
    usb = tmp_path / "usb"
    write_files(usb, {"unet.h5": contents["unet.h5"]})

    report = importer.import_model(spec, usb)
    assert report.already_installed == [sandbox["keras_cache"] / "enc.h5"]
    assert [p.name for p in report.imported] == ["unet.h5"]
    assert report.missing == ["vocab.txt.gz"]
    assert "vocab.txt.gz" in report.summary()
    assert model_status(spec).state == "missing"


def test_a_folder_that_is_not_there(sandbox, spec_and_files, tmp_path):
    spec, _ = spec_and_files
    with pytest.raises(ImportFolderError, match="not a folder"):
        importer.import_model(spec, tmp_path / "nowhere")


def test_cancel_stops_the_import(sandbox, spec_and_files, tmp_path):
    spec, contents = spec_and_files
    usb = tmp_path / "usb"
    write_files(usb, contents)
    cancel = CancelToken()
    cancel.cancel()
    report = importer.import_model(spec, usb, cancel=cancel)
    assert report.cancelled and not report.complete
    assert model_status(spec).state == "missing"
