"""Fixtures of the segment stories (the rule-segment shop lives in ``segrule_story``)."""

from segrule_story import shop

__all__ = ["shop"]
