"""Generated hostile input through the reader, the history import and a damaged database."""
import json
import os
import random
import sqlite3

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin

from engine.events import GeneratedImage, GenerationResult
from engine.history import Filters, HistoryStore
from engine.pngmeta import JSON_KEY, PARAMETERS_KEY, parse_parameters, read_png_metadata
from engine.request import GenerationRequest

PIXELS = np.full((16, 16, 3), 40, np.uint8)
FIELDS = ["prompt", "negative_prompt", "seed", "steps", "guidance", "width", "height", "batch",
          "model", "mixed_precision", "xla", "preview"]

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-2**80, 2**80),
                      st.floats(allow_nan=True, allow_infinity=True),
                      st.text(max_size=10), st.just("\ud800"))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
json_chunk = st.one_of(
    st.builds(lambda request, extra: json.dumps({"request": request, **extra}),
              st.dictionaries(st.sampled_from(FIELDS), json_value, max_size=8),
              st.dictionaries(st.sampled_from(["model_label", "batch_seed", "x"]), json_value)),
    json_value.map(json.dumps),
    st.text(max_size=40),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
)

a1111_piece = st.one_of(
    st.sampled_from(["Steps", "CFG scale", "Seed", "Size", "Model", "Sampler", "Schedule type",
                     "Negative prompt", "x"]).map(lambda key: key + ": "),
    st.sampled_from([",", ":", '"', "\\", " ", "\n", "\r\n", "x", "1e400", "nan", "-1", "512x512",
                     "\u0663", "🦊"]),
    st.text(max_size=6),
)
a1111_text = st.lists(a1111_piece, max_size=30).map("".join)


def png(path, chunks):
    info = PngImagePlugin.PngInfo()
    for key, text in chunks.items():
        info.add_itxt(key, text)
    Image.fromarray(PIXELS).save(path, pnginfo=info)
    return path


def _recipe_is_sound(meta):
    if meta.request is None:
        return
    request = meta.request
    assert isinstance(request.prompt, str) and isinstance(request.negative_prompt, str)
    request.prompt.encode("utf-8")
    assert [p.field for p in request.validate() if p.field != "prompt"] == []
    assert meta.seed is None or 0 <= meta.seed < 2**32


@settings(max_examples=300, deadline=None)
@given(text=a1111_text)
def test_any_parameters_text_parses_to_checked_values(text):
    parsed = parse_parameters(text)
    assert [p.field for p in parsed.to_request().validate() if p.field != "prompt"] == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk=json_chunk, text=st.one_of(st.none(), a1111_text))
def test_any_chunks_read_as_a_sound_recipe_or_none(tmp_path, chunk, text):
    chunks = {JSON_KEY: chunk}
    if text is not None:
        chunks[PARAMETERS_KEY] = text
    path = png(tmp_path / "fuzz.png", chunks)
    _recipe_is_sound(read_png_metadata(path, verify=True))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(json_chunk, st.one_of(st.none(), a1111_text)), min_size=1,
                      max_size=6))
def test_any_files_dropped_into_the_history_are_imported_or_skipped(tmp_path_factory, files):
    root = tmp_path_factory.mktemp("fuzzhist")
    with HistoryStore(root) as store:
        request = GenerationRequest(prompt="the good one", seed=1)
        store.add_result(GenerationResult(request, [GeneratedImage(PIXELS, 1)], "sd-v1.4", "CPU"))
    for n, (chunk, text) in enumerate(files):
        chunks = {JSON_KEY: chunk} if text is None else {JSON_KEY: chunk, PARAMETERS_KEY: text}
        png(root / "images" / f"dropped-{n}.png", chunks)
    with HistoryStore(root) as store:
        assert store.count() + len(store.last_report.skipped) == 1 + len(files)
        assert store.count(Filters(text="good")) == 1
        for record in store.page(0, 100):
            detail = store.get(record.id)
            assert detail.request is None or isinstance(detail.request.prompt, str)
        store.rebuild()
        assert store.count() + len(store.skipped()) == 1 + len(files)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), kind=st.sampled_from(["bytes", "truncate", "pages"]))
# Renamed a column in the stored schema: passed quick_check, then every query failed.
@example(seed=9063900, kind="bytes")
# Left an index short of a row: passed quick_check, then every page query failed.
@example(seed=30, kind="bytes")
# Broke the full-text table's stored definition: a plain "parse error", not SQLITE_CORRUPT.
@example(seed=273, kind="bytes")
@example(seed=1457, kind="bytes")  # "invalid fts5 file format": the same, in its own words
def test_a_randomly_damaged_database_opens_with_every_image_and_favorite(tmp_path_factory, seed, kind):
    root = tmp_path_factory.mktemp("damaged")
    with HistoryStore(root) as store:
        for n in range(6):
            request = GenerationRequest(prompt=f"image {n}", seed=n)
            record, = store.add_result(GenerationResult(request, [GeneratedImage(PIXELS, n)],
                                                        "sd-v1.4", "CPU"))
            store.set_favorite(record.id, n % 2 == 0)
        before = sorted((r.path.name, r.favorite) for r in store.page(0, 100))
    db = root / "history.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(db.read_bytes())
    rng = random.Random(seed)
    if kind == "bytes":
        for _ in range(rng.randint(1, 64)):
            data[rng.randrange(len(data))] = rng.randrange(256)
    elif kind == "truncate":
        data = data[:rng.randrange(len(data))]
    else:
        page = 4096
        start = rng.randrange(len(data) // page) * page
        data[start:start + page] = os.urandom(page)
    db.write_bytes(bytes(data))
    with HistoryStore(root) as store:
        store.reconcile()  # damage SQLite's quick check does not see may still hide rows
        after = sorted((r.path.name, r.favorite) for r in store.page(0, 100))
        recovered = store.damaged_db is not None
    assert [name for name, _ in after] == [name for name, _ in before]  # every image
    if recovered:  # a rebuilt index takes its favourites from the journal
        assert after == before
