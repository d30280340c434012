"""``/api/v1/`` endpoints of the segments domain."""

from ninja import Router

router = Router(tags=["segments"])
