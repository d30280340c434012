"""Keyset pagination: stays fast on a million rows, where OFFSET and COUNT(*) do not."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

from django.db.models import Model, QuerySet

M = TypeVar("M", bound=Model)

MAX_PAGE_SIZE = 200


@dataclass(frozen=True)
class Page(Generic[M]):
    items: list[M]
    next_cursor: int | None


def keyset_page(qs: QuerySet[M], *, after: int | None, limit: int) -> Page[M]:
    """Return up to ``limit`` rows with ``pk > after`` in primary-key order.

    One extra row is fetched to know whether another page exists, instead of counting.
    """
    limit = max(1, min(limit, MAX_PAGE_SIZE))
    if after is not None:
        qs = qs.filter(pk__gt=after)
    rows = list(qs.order_by("pk")[: limit + 1])
    next_cursor = rows[limit - 1].pk if len(rows) > limit else None
    return Page(items=rows[:limit], next_cursor=next_cursor)
