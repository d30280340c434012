"""Fixtures of the retention stories live in ``retention_story`` so tests can import helpers."""

from retention_story import shop, the_next_morning

__all__ = ["shop", "the_next_morning"]
