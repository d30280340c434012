"""Fixtures of the value stories live in ``value_story`` so the tests can import its helpers."""

from value_story import shop

__all__ = ["shop"]
