"""Errors from finding, downloading and importing weights, worded for the person using the app."""
from __future__ import annotations

from pathlib import Path

from engine.errors import EngineError


def human_size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


class CorruptWeights(EngineError):
    def __init__(self, model_id: str, paths: list[Path]):
        self.model_id = model_id
        self.paths = paths
        names = "\n".join(f"  {p}" for p in paths)
        super().__init__(
            f"Model {model_id} has damaged weight file(s) (checksum mismatch):\n{names}\n"
            f"Download them again with `python main.py models download {model_id}`."
        )


class CorruptWeightFile(CorruptWeights):
    """One damaged file, met by the loader, which does not know the model's id."""

    def __init__(self, path: Path, model_ids: list[str]):
        self.model_id = model_ids[0] if model_ids else ""
        self.paths = [path]
        fix = (f"Download it again with `python main.py models download {model_ids[0]}`."
               if model_ids else "Delete it and download it again.")
        EngineError.__init__(
            self, f"The weight file {path} is damaged (its sha256 checksum does not match "
                  f"KerasCV's), so it was not loaded. {fix}")


class DamagedWeightFile(CorruptWeights):
    """A file whose structure is wrong (engine/models/structure.py): found before any model is built."""

    def __init__(self, path: Path, problem: str, model_ids: list[str]):
        self.model_id = model_ids[0] if model_ids else ""
        self.paths = [path]
        self.problem = problem
        fix = (f"Download it again with `python main.py models download {model_ids[0]}`, "
               "or replace it with a good copy." if model_ids else "Replace it with a good copy.")
        EngineError.__init__(self, f"The weight file {path} is damaged: {problem}. {fix}")


class DownloadError(EngineError):
    """Anything that stopped a download; what was fetched so far is kept to resume, unless said otherwise."""


class NetworkError(DownloadError):
    pass


class HttpError(DownloadError):
    def __init__(self, message: str, status: int):
        self.status = status
        super().__init__(message)


class ChecksumMismatch(DownloadError):
    pass


class DiskFull(DownloadError):
    pass


class ImportFolderError(EngineError):
    """The folder to import from cannot be used at all (missing, unreadable)."""


class DamagedCheckpoint(EngineError):
    """A checkpoint (or VAE) file that cannot fill the networks; nothing was loaded from it."""

    def __init__(self, path: Path, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"The checkpoint {self.path} cannot be loaded: {problem}.")


class VocabularyUnavailable(EngineError):
    """CLIP's vocabulary, which checkpoints need and do not carry, is absent and could not be fetched."""

    def __init__(self, model_id: str, reason: str, folders: list[Path]):
        self.model_id = model_id
        places = " or ".join(str(f) for f in folders)
        super().__init__(
            f"{model_id} needs CLIP's vocabulary (bpe_simple_vocab_16e6.txt.gz, 1.4 MB), which "
            f"checkpoints do not carry and SD Desk fetches on first use, but it could not be "
            f"fetched ({reason.rstrip('.')}). Connect once and try again, or put the file in {places}.")
