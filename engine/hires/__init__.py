"""Hires fix and upscaling: a second pass at a larger size, after an upscale."""
