"""`models export` on a disk that fills up: one sentence, and no half-written file."""
import errno

import keras
import pytest

from engine.backends import kerascv_export
from engine.errors import EngineError
from engine.models.registry import SD_V1_4


class TinyComponents:
    def __init__(self, spec, width, height, random_init=True):
        def tiny():
            inputs = keras.Input((2,))
            return keras.Model(inputs, keras.layers.Dense(2)(inputs))
        self.text_encoder, self.diffusion_model, self.decoder, self.image_encoder = (
            tiny(), tiny(), tiny(), tiny())

    def load_checkpoint(self, checkpoint):
        pass


def test_a_full_disk_is_one_sentence_and_leaves_no_partial_file(tmp_path, monkeypatch):
    from keras.src.legacy.saving import legacy_h5_format

    monkeypatch.setattr(kerascv_export, "Components", TinyComponents)
    written = []

    def fill_up(handle, model):
        written.append(handle.filename)
        if len(written) == 2:  # the second network: the UNet, the big one
            handle.create_dataset("part", data=[1.0, 2.0])
            raise OSError(errno.ENOSPC, "Can't synchronously write data (file write failed: "
                                        "errno = 28, error message = 'No space left on device')")
    monkeypatch.setattr(legacy_h5_format, "save_weights_to_hdf5_group", fill_up)
    with pytest.raises(EngineError) as caught:
        kerascv_export.export_checkpoint(SD_V1_4, tmp_path / "out")
    message = str(caught.value)
    assert "No space left on device" in message and "HDF5" not in message and "errno" not in message
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [SD_V1_4.file_for("text_encoder").name]
