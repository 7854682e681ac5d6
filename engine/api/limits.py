"""What one HTTP request may ask of the server: the API's own caps. The request's own
ranges (steps, batch, sizes, guidance) are engine/request.py's, checked there."""
from __future__ import annotations

# A 1024x1024 PNG with its mask is about 4 MB in base64: room for that several times over.
MAX_BODY_BYTES = 32 * 2**20
# A source image is fitted to a canvas of at most 1024 a side; a larger one is only
# scaled down, so beyond this its pixels cost memory for nothing (read from the header,
# before decoding; Pillow's own bomb guard stays on beneath it).
MAX_SOURCE_PIXELS = 4096 * 4096
# A1111's batch_size x n_iter: images one call may ask for.
MAX_IMAGES_PER_CALL = 32
MAX_ITERATIONS = MAX_IMAGES_PER_CALL
# Text fields besides the prompts (names, titles): nothing legitimate is longer.
MAX_NAME_CHARS = 512
# Init images per img2img call: we use the first, as A1111 does for one batch.
MAX_INIT_IMAGES = 4
