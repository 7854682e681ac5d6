"""The built-in demo model: a small text-to-image diffusion model of our own.

Its entry in the model list is engine.models.registry.DEMO, like every other model's.
"""
