"""Reads about the demo company."""

from __future__ import annotations

from guanxi.customers.models import ExternalId

DEMO_SOURCE = "demo"  # the source system of every demo customer's external id


def demo_present() -> bool:
    """True when a demo company has been generated into this database."""
    return ExternalId.objects.filter(source=DEMO_SOURCE).exists()
