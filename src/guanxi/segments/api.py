"""``/api/v1/segments``: saved segments, previews, members, migration between score runs.

Every route reads through ``guanxi.segments.selectors`` (members through ``customers_visible``:
a rep sees only their own customers inside a segment, and counts are of what they may see) and
writes through ``guanxi.segments.services``. Members carry no contact details. The statistical
build (``/segments/build``) is added from ``guanxi.segments.api_build`` when present.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.core.pagination import MAX_PAGE_SIZE, keyset_page
from guanxi.segments import services
from guanxi.segments.migration import (
    SCHEMES,
    migration_runs,
    segment_migration,
    segment_migration_customers,
)
from guanxi.segments.models import Segment, SegmentKind
from guanxi.segments.rules import describe_rule
from guanxi.segments.selectors import (
    Preview,
    access_segment,
    can_change_segment,
    customer_segments,
    run_by_date,
    segment_customers,
    segment_history,
    segment_list,
    segment_preview,
    segment_summary,
)

router = Router(tags=["segments"])

try:
    from guanxi.segments.api_build import build_router
except ModuleNotFoundError as exc:  # the statistical build is a separate module
    if exc.name != "guanxi.segments.api_build":
        raise
else:
    router.add_router("", build_router)


class PreviewOut(Schema):
    size: int = Field(description="Customers in the segment that you may see.")
    value: Decimal = Field(description="Their summed CLV.")
    equity: Decimal = Field(description="Summed CLV of every customer you may see.")
    customers: int = Field(description="Every customer you may see.")
    value_share: float | None
    size_share: float | None


class HistoryOut(Schema):
    run: int
    as_of: dt.date
    size: int


class SavedSegmentOut(Schema):
    id: int
    name: str
    kind: str
    description: str
    definition: dict[str, Any] | None = Field(description="The rule of a dynamic segment.")
    rule: str | None = Field(description="The rule in words.")
    is_active: bool
    created_by: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    can_change: bool
    suggested_name: str
    profile: dict[str, Any]
    summary: PreviewOut | None = None
    history: list[HistoryOut] | None = None


class SegmentIn(Schema):
    name: str = Field(max_length=200)
    kind: str = Field("dynamic", description="dynamic (a rule) or static (a list).")
    definition: dict[str, Any] | None = Field(
        None, description='The rule, e.g. {"all": [{"field": "city", "op": "eq", '
        '"value": "上海"}]}; see docs/segments.md.')
    description: str = ""
    customer_ids: list[int] = Field(default_factory=list,
                                    description="Members of a static segment.")


class SegmentUpdateIn(Schema):
    name: str | None = Field(None, max_length=200)
    description: str | None = None
    definition: dict[str, Any] | None = None
    is_active: bool | None = None


class PreviewIn(Schema):
    definition: dict[str, Any]


class FreezeIn(Schema):
    name: str = Field(max_length=200)
    description: str = ""


class CustomerIdsIn(Schema):
    customer_ids: list[int] = Field(min_length=1, max_length=10_000)


class CountOut(Schema):
    count: int


class MemberOut(Schema):
    id: int
    name: str
    city: str
    owner_id: int | None
    lifecycle_stage: str | None
    value_tier: str | None
    clv: Decimal | None


class MemberPageOut(Schema):
    items: list[MemberOut]
    next: int | None


class ListParams(Schema):
    kind: SegmentKind | None = None
    include_inactive: bool = False
    count: bool = Field(False, description="Add each segment's size and value share "
                        "(one query per segment).")


class MemberParams(Schema):
    as_of: dt.date | None = Field(None, description="Members in that scoring run's snapshot "
                                  "instead of now.")
    after: int | None = Field(None, description="The `next` cursor of the previous page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class MigrationParams(Schema):
    from_date: dt.date | None = Field(None, alias="from",
                                      description="Default: the run before `to`.")
    to_date: dt.date | None = Field(None, alias="to", description="Default: the latest run.")
    scheme: str = Field("stage", description=f"One of {', '.join(SCHEMES)}.")
    segments: str | None = Field(None, description="For the rules scheme: segment ids, "
                                 "comma-separated, first match wins.")


class CellParams(MigrationParams):
    source: str = Field(description="The cell's label in the first run (e.g. loyal).")
    target: str = Field(description="The cell's label in the second run (e.g. dormant).")
    clv_min: Decimal | None = None
    clv_max: Decimal | None = None
    clv_at: str = Field("to", description="Which run's CLV the filters test: from or to.")
    after: int | None = None
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class CellCustomerOut(Schema):
    id: int
    name: str
    city: str
    owner_id: int | None
    clv_from: Decimal | None
    clv_to: Decimal | None


class CellPageOut(Schema):
    items: list[CellCustomerOut]
    next: int | None


class MigrationOut(Schema):
    scheme: str
    from_run: dict[str, Any] = Field(alias="from")
    to_run: dict[str, Any] = Field(alias="to")
    labels: list[dict[str, str]]
    cells: list[dict[str, Any]]
    sankey: dict[str, Any]


def _preview(p: Preview) -> dict[str, Any]:
    return {"size": p.size, "value": p.value, "equity": p.equity, "customers": p.customers,
            "value_share": p.value_share, "size_share": p.size_share}


def _render(segment: Segment, *, user: Any, summary: Preview | None = None,
            history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": segment.pk, "name": segment.name, "kind": segment.kind,
        "description": segment.description,
        "definition": segment.definition or None,
        "rule": describe_rule(segment.definition) if segment.definition else None,
        "is_active": segment.is_active,
        "created_by": segment.created_by.username if segment.created_by else None,
        "created_at": segment.created_at, "updated_at": segment.updated_at,
        "can_change": can_change_segment(user, segment),
        "suggested_name": segment.suggested_name, "profile": segment.profile,
        "summary": _preview(summary) if summary is not None else None,
        "history": history,
    }


@router.get("/segments", response={200: list[SavedSegmentOut], **ERRORS})
def list_segments(request: HttpRequest, params: Query[ListParams]) -> list[dict[str, Any]]:
    user = user_of(request)
    return [_render(s, user=user,
                    summary=segment_summary(user=user, segment=s) if params.count else None)
            for s in segment_list(user=user, kind=params.kind,
                                  include_inactive=params.include_inactive)]


@router.post("/segments", response={201: SavedSegmentOut, **ERRORS})
def create_segment(request: HttpRequest, payload: SegmentIn) -> Status[dict[str, Any]]:
    """Save a dynamic (rule) or static (list) segment."""
    user = user_of(request)
    segment = services.segment_create(user=user, name=payload.name, kind=payload.kind,
                                      definition=payload.definition,
                                      description=payload.description,
                                      customer_ids=payload.customer_ids)
    return Status(201, _render(segment, user=user,
                               summary=segment_summary(user=user, segment=segment)))


@router.post("/segments/preview", response={200: PreviewOut, **ERRORS})
def preview_segment(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
    """Size and value share of a rule while it is being edited (nothing is saved)."""
    return _preview(segment_preview(definition=payload.definition, user=user_of(request)))


@router.get("/segments/migration", response={200: MigrationOut, **ERRORS}, by_alias=True)
def migration(request: HttpRequest, params: Query[MigrationParams]) -> dict[str, Any]:
    """The transition matrix between two scoring runs: customers and CLV per cell, Sankey data.
    """
    user = user_of(request)
    from_run, to_run = migration_runs(from_date=params.from_date, to_date=params.to_date)
    moved = segment_migration(user=user, from_run=from_run, to_run=to_run, scheme=params.scheme,
                              segments=_segments(user, params.segments))
    return moved.as_dict()


@router.get("/segments/migration/customers", response={200: CellPageOut, **ERRORS})
def migration_customers(request: HttpRequest, params: Query[CellParams]) -> dict[str, Any]:
    """The customers behind one cell (e.g. loyal → dormant with CLV over 5,000), keyset pages."""
    user = user_of(request)
    from_run, to_run = migration_runs(from_date=params.from_date, to_date=params.to_date)
    page = segment_migration_customers(
        user=user, from_run=from_run, to_run=to_run, scheme=params.scheme,
        segments=_segments(user, params.segments), source=params.source, target=params.target,
        clv_min=params.clv_min, clv_max=params.clv_max, clv_at=params.clv_at,
        after=params.after, limit=params.limit)
    return {"items": [{"id": item.customer.pk, "name": item.customer.name,
                       "city": item.customer.city, "owner_id": item.customer.owner_id,
                       "clv_from": item.clv_from, "clv_to": item.clv_to}
                      for item in page.items],
            "next": page.next_cursor}


def _segments(user: Any, ids: str | None) -> list[Segment] | None:
    if not ids:
        return None
    from guanxi.core.errors import ValidationFailed
    from guanxi.segments.errors import SegmentErrorCode

    parts = [p.strip() for p in ids.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ValidationFailed(SegmentErrorCode.INVALID_FIELD,
                               "segments is a comma-separated list of segment ids.",
                               field="segments")
    return [access_segment(user=user, segment_id=int(p)) for p in parts]


@router.get("/segments/{int:segment_id}", response={200: SavedSegmentOut, **ERRORS})
def get_segment(request: HttpRequest, segment_id: int) -> dict[str, Any]:
    """A segment with its size and value share now, and its size in every stored run."""
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id)
    return _render(segment, user=user, summary=segment_summary(user=user, segment=segment),
                   history=segment_history(user=user, segment=segment))


@router.patch("/segments/{int:segment_id}", response={200: SavedSegmentOut, **ERRORS})
def update_segment(request: HttpRequest, segment_id: int,
                   payload: SegmentUpdateIn) -> dict[str, Any]:
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id, write=True)
    fields = payload.dict(exclude_unset=True)
    segment = services.segment_update(user=user, segment=segment, **fields)
    return _render(segment, user=user, summary=segment_summary(user=user, segment=segment))


@router.delete("/segments/{int:segment_id}", response={204: None, **ERRORS})
def delete_segment(request: HttpRequest, segment_id: int) -> HttpResponse:
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id, write=True)
    services.segment_delete(user=user, segment=segment)
    return HttpResponse(status=204)


@router.get("/segments/{int:segment_id}/members", response={200: MemberPageOut, **ERRORS})
def list_members(request: HttpRequest, segment_id: int,
                 params: Query[MemberParams]) -> dict[str, Any]:
    """The members you may see, in id order (keyset pages; a rep sees only their own)."""
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id)
    run = run_by_date(params.as_of) if params.as_of is not None else None
    members = segment_customers(user=user, segment=segment, run=run).select_related("value")
    page = keyset_page(members, after=params.after, limit=params.limit)
    items = []
    for c in page.items:
        value = getattr(c, "value", None)
        items.append({"id": c.pk, "name": c.name, "city": c.city, "owner_id": c.owner_id,
                      "lifecycle_stage": value.lifecycle_stage if value else None,
                      "value_tier": value.value_tier if value else None,
                      "clv": value.clv if value else None})
    return {"items": items, "next": page.next_cursor}


@router.post("/segments/{int:segment_id}/members", response={200: CountOut, **ERRORS})
def add_members(request: HttpRequest, segment_id: int, payload: CustomerIdsIn) -> dict[str, int]:
    """Add customers (that you may see) to a static segment; `count` is how many were new."""
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id, write=True)
    return {"count": services.segment_add_customers(user=user, segment=segment,
                                                    customer_ids=payload.customer_ids)}


@router.post("/segments/{int:segment_id}/members/remove", response={200: CountOut, **ERRORS})
def remove_members(request: HttpRequest, segment_id: int,
                   payload: CustomerIdsIn) -> dict[str, int]:
    """Remove customers from a static segment; `count` is how many were removed."""
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id, write=True)
    return {"count": services.segment_remove_customers(user=user, segment=segment,
                                                       customer_ids=payload.customer_ids)}


@router.post("/segments/{int:segment_id}/freeze", response={201: SavedSegmentOut, **ERRORS})
def freeze_segment(request: HttpRequest, segment_id: int,
                   payload: FreezeIn) -> Status[dict[str, Any]]:
    """A static copy of the segment's current members (those you may see)."""
    user = user_of(request)
    segment = access_segment(user=user, segment_id=segment_id)
    frozen = services.segment_freeze(user=user, segment=segment, name=payload.name,
                                     description=payload.description)
    return Status(201, _render(frozen, user=user,
                               summary=segment_summary(user=user, segment=frozen)))


class CustomerSegmentOut(Schema):
    id: int
    name: str
    kind: str
    probability: float | None
    is_primary: bool


class CustomerSnapshotOut(Schema):
    run: int
    as_of: dt.date
    segments: list[CustomerSegmentOut]


@router.get("/customers/{int:customer_id}/segments",
            response={200: list[CustomerSnapshotOut], **ERRORS})
def customer_segment_history(request: HttpRequest, customer_id: int) -> list[dict[str, Any]]:
    """The segments the customer was in at each of the latest six scoring runs, newest first."""
    from guanxi.customers.selectors import access_customer

    user = user_of(request)
    customer = access_customer(user=user, customer_id=customer_id)
    return customer_segments(user=user, customer=customer)
