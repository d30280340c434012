"""Fixtures of the insights stories (the data builders live in ``insights_story``)."""

from insights_story import accounts, frozen, shop

__all__ = ["accounts", "frozen", "shop"]
