"""``/api/v1/`` endpoints of the insights domain."""

from ninja import Router

router = Router(tags=["insights"])
