"""taichi-cloud: a cloud museum and study platform for Tai Chi culture."""

__version__ = "0.1.0"
