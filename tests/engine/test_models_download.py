"""Downloads against a real HTTP server on 127.0.0.1: what a person sees when things go right and wrong."""
from __future__ import annotations

import errno
import hashlib
import socket
import urllib.error

import pytest

from engine.events import CancelToken
from engine.models.download import Downloader, download_model
from engine.models.errors import ChecksumMismatch, DiskFull, DownloadError, HttpError, NetworkError
from engine.locations import find_file, search_dirs
from engine.models.status import model_status
from tests.engine.weights_server import (  # noqa: F401  (fixtures)
    loopback_only, sandbox, server, spec_and_files, write_files)


def _downloader(server, **kw) -> Downloader:
    d = Downloader(url_for=lambda wf: server.url(wf.name), **kw)
    d.chunk_size = 16 * 1024  # many chunks per file, so progress and cancel have room to act
    d.progress_interval = 0.0
    return d


def _installed_bytes(spec, name) -> bytes:
    path = find_file(name, search_dirs())
    assert path is not None, f"{name} not found where the loader looks"
    return path.read_bytes()


def _parts(folder):
    return sorted(p.name for p in folder.rglob("*.part")) if folder.exists() else []


def test_full_download_puts_verified_files_where_the_loader_finds_them(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    reports = []
    result = download_model(spec, on_progress=reports.append, base_url=server.base_url)

    assert not result.cancelled
    assert result.bytes_received == sum(len(d) for d in contents.values())
    for name, data in contents.items():
        assert _installed_bytes(spec, name) == data
        assert find_file(name, search_dirs()).parent == sandbox["models"]
    assert _parts(sandbox["models"]) == []
    assert model_status(spec).state == "installed"  # from the cache: no re-hash needed

    assert [r.file_index for r in reports] == sorted(r.file_index for r in reports)
    assert {r.file_count for r in reports} == {3}
    last = reports[-1]
    assert last.bytes_done == last.bytes_total == len(contents["vocab.txt.gz"])
    assert last.overall_done == last.overall_total == result.bytes_received
    overall = [r.overall_done for r in reports]
    assert overall == sorted(overall)
    # The server's Content-Length replaces the manifest's rough size as soon as it is known.
    first_file = [r for r in reports if r.file_name == "enc.h5"]
    assert all(r.bytes_total == len(contents["enc.h5"]) for r in first_file)


def test_rate_and_eta_follow_the_clock(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    ticks = iter(range(10_000))
    reports = []
    d = _downloader(server, on_progress=reports.append, clock=lambda: next(ticks) * 0.5)
    d.download_model(spec)
    mid = [r for r in reports if r.file_name == "unet.h5" and 0 < r.bytes_done < r.bytes_total]
    assert mid, "expected progress reports in the middle of a file"
    for r in mid:
        assert r.rate > 0
        assert r.eta == pytest.approx((r.bytes_total - r.bytes_done) / r.rate)


def test_interrupted_download_resumes_with_range(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    server.behaviour.cut_after["unet.h5"] = 200_000

    with pytest.raises(NetworkError, match="resumes"):
        _downloader(server).download_model(spec)
    status = model_status(spec)
    assert status.state == "partial"
    unet = next(f for f in status.files if f.name == "unet.h5")
    assert unet.state == "partial" and unet.size == 200_000
    assert find_file("unet.h5", search_dirs()) is None  # the .part is never the real thing

    result = _downloader(server).download_model(spec)
    assert _installed_bytes(spec, "unet.h5") == contents["unet.h5"]
    resumed = [rng for name, rng, code in server.requests if name == "unet.h5"][-1]
    assert resumed == "bytes=200000-"
    assert result.bytes_received == len(contents["unet.h5"]) - 200_000 + len(contents["vocab.txt.gz"])
    assert model_status(spec).state == "installed"


def test_server_without_range_support_restarts_cleanly(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    server.behaviour.range_support = False
    server.behaviour.cut_after["enc.h5"] = 100_000
    with pytest.raises(NetworkError):
        _downloader(server).download_model(spec)

    result = _downloader(server).download_model(spec)
    assert server.requests[-3][:3] == ("enc.h5", "bytes=100000-", 200)
    assert result.bytes_received == sum(len(d) for d in contents.values())
    assert _installed_bytes(spec, "enc.h5") == contents["enc.h5"]
    assert model_status(spec, verify=True).state == "installed"


def test_redirects_are_followed_and_keep_the_range(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    server.behaviour.redirect.add("unet.h5")
    server.behaviour.cut_after["unet.h5"] = 150_000
    with pytest.raises(NetworkError):
        _downloader(server).download_model(spec)
    _downloader(server).download_model(spec)
    assert _installed_bytes(spec, "unet.h5") == contents["unet.h5"]
    assert ("unet.h5", "bytes=150000-", 206) in server.requests  # asked again of the CDN


def test_404_says_what_went_wrong_and_installs_nothing(sandbox, server, spec_and_files):
    spec, _ = spec_and_files
    server.behaviour.status["enc.h5"] = 404
    with pytest.raises(HttpError) as info:
        _downloader(server).download_model(spec)
    assert info.value.status == 404
    assert "enc.h5" in str(info.value) and "404" in str(info.value)
    assert model_status(spec).state == "missing"
    assert _parts(sandbox["models"]) == []


def test_wrong_checksum_deletes_the_file(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    bad = bytearray(contents["unet.h5"])
    bad[1234] ^= 0xFF
    server.behaviour.replace["unet.h5"] = bytes(bad)
    with pytest.raises(ChecksumMismatch, match="deleted"):
        _downloader(server).download_model(spec)
    assert not (sandbox["models"] / "unet.h5").exists()
    assert _parts(sandbox["models"]) == []
    assert find_file("unet.h5", search_dirs()) is None
    assert [f.state for f in model_status(spec).files] == ["installed", "missing", "missing"]


def test_cancel_keeps_the_part_and_a_later_download_finishes(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    cancel = CancelToken()

    def on_progress(p):
        if p.file_name == "unet.h5" and p.bytes_done >= 100_000:
            cancel.cancel()

    result = _downloader(server, on_progress=on_progress, cancel=cancel).download_model(spec)
    assert result.cancelled
    assert server.names_requested() == ["enc.h5", "unet.h5"]  # stopped before the last file
    assert model_status(spec).state == "partial"
    assert find_file("unet.h5", search_dirs()) is None
    assert (sandbox["models"] / "unet.h5.part").stat().st_size >= 100_000

    _downloader(server).download_model(spec)
    assert _installed_bytes(spec, "unet.h5") == contents["unet.h5"]


def test_not_enough_space_is_refused_before_any_request(sandbox, server, spec_and_files):
    spec, _ = spec_and_files

    class SmallDisk(Downloader):
        def free_space(self, folder):
            return 50_000

    with pytest.raises(DiskFull, match="disk space") as info:
        SmallDisk(url_for=lambda wf: server.url(wf.name)).download_model(spec)
    assert "50.0 KB" in str(info.value)
    assert server.requests == []


class _QuotaFile:
    """A file that runs out of room after `quota` bytes, as a full disk does."""

    def __init__(self, real, quota):
        self._real, self._left = real, quota

    def write(self, data):
        if len(data) > self._left:
            self._real.write(bytes(data[: self._left]))  # a short write, then the disk is full
            self._left = 0
            raise OSError(errno.ENOSPC, "No space left on device")
        self._left -= len(data)
        return self._real.write(data)

    def __getattr__(self, name):
        return getattr(self._real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._real.close()


def test_disk_full_while_writing_says_so_and_resumes_later(sandbox, server, spec_and_files):
    spec, contents = spec_and_files

    class FillsUp(Downloader):
        def open_part(self, path, append):
            return _QuotaFile(super().open_part(path, append), quota=70_000)

    d = FillsUp(url_for=lambda wf: server.url(wf.name))
    d.chunk_size = 16 * 1024
    with pytest.raises(DiskFull, match="disk is full"):
        d.download_model(spec)
    part = sandbox["models"] / "enc.h5.part"
    kept = part.read_bytes()
    # Cut back to whole chunks: what is kept is exactly the start of the real file.
    assert 0 < len(kept) <= 70_000 and len(kept) % (16 * 1024) == 0
    assert contents["enc.h5"].startswith(kept)

    _downloader(server).download_model(spec)
    assert _installed_bytes(spec, "enc.h5") == contents["enc.h5"]


def test_offline_gives_a_clear_message(sandbox, spec_and_files):
    spec, _ = spec_and_files
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(NetworkError) as info:
        download_model(spec, base_url=f"http://127.0.0.1:{port}")
    message = str(info.value)
    assert "refused" in message and "internet connection" in message and "import" in message
    assert model_status(spec).state == "missing"


def test_a_server_that_stops_answering_times_out_with_a_message(sandbox, spec_and_files):
    spec, _ = spec_and_files
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        d = Downloader(url_for=lambda wf: f"http://127.0.0.1:{silent.getsockname()[1]}/{wf.name}")
        d.timeout = 0.3
        with pytest.raises(NetworkError, match="stopped answering"):
            d.download_model(spec)


def test_a_failed_name_lookup_reads_as_offline(sandbox, spec_and_files):
    spec, _ = spec_and_files

    class NoDns(Downloader):
        def open_url(self, url, start):
            raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    with pytest.raises(NetworkError) as info:
        NoDns().download_model(spec)
    assert "weights.invalid could not be looked up" in str(info.value)
    assert "internet connection" in str(info.value)


def test_files_in_the_keras_cache_are_not_downloaded_again(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["keras_cache"], {"enc.h5": contents["enc.h5"]})
    _downloader(server).download_model(spec)
    assert "enc.h5" not in server.names_requested()
    assert find_file("enc.h5", search_dirs()).parent == sandbox["keras_cache"]
    assert model_status(spec).state == "installed"


def test_a_corrupt_file_is_replaced_where_it_lies(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["keras_cache"], {"enc.h5": b"x" * len(contents["enc.h5"])})
    assert model_status(spec, verify=True).files[0].state == "corrupt"
    _downloader(server).download_model(spec)
    fixed = sandbox["keras_cache"] / "enc.h5"
    assert hashlib.sha256(fixed.read_bytes()).hexdigest() == spec.files[0].sha256
    assert not (sandbox["models"] / "enc.h5").exists()


def test_a_part_already_whole_is_finished_without_fetching_it_again(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], {"enc.h5.part": contents["enc.h5"]})
    result = _downloader(server).download_model(spec)
    assert ("enc.h5", f"bytes={len(contents['enc.h5'])}-", 416) in server.requests
    assert result.bytes_received == len(contents["unet.h5"]) + len(contents["vocab.txt.gz"])
    assert _installed_bytes(spec, "enc.h5") == contents["enc.h5"]


def test_a_part_that_does_not_match_is_fetched_again(sandbox, server, spec_and_files):
    spec, contents = spec_and_files
    write_files(sandbox["models"], {"enc.h5.part": b"junk" * 1000})
    with pytest.raises(ChecksumMismatch):
        _downloader(server).download_model(spec)
    # The mismatch was caught and cleaned up; the next try starts from zero and succeeds.
    _downloader(server).download_model(spec)
    assert _installed_bytes(spec, "enc.h5") == contents["enc.h5"]


def test_two_downloads_of_one_file_do_not_mix(sandbox, server, spec_and_files):
    """Two windows, or sd-v1.4 and sd-v2.1 fetching their shared decoder at once."""
    spec, contents = spec_and_files
    first = _downloader(server)
    inner_error = []

    def meanwhile(p):
        if p.file_name == "enc.h5" and not inner_error:
            try:
                _downloader(server).download_model(spec)
            except DownloadError as e:
                inner_error.append(e)

    first.on_progress = meanwhile
    first.download_model(spec)
    assert inner_error and "already being downloaded" in str(inner_error[0])
    assert _installed_bytes(spec, "enc.h5") == contents["enc.h5"]
    assert not list(sandbox["models"].glob("*.lock"))  # tidied once the files are in place


def test_the_guard_refuses_addresses_beyond_loopback(loopback_only):
    with socket.socket() as s, pytest.raises(AssertionError, match="tried to connect"):
        s.connect(("192.0.2.1", 80))
