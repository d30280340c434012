"""What goes over the wire, per resource.

Output schemas list every field a client may rely on; personal contact details are ``null``
for a user who may not see them (an analyst), never silently left out, so the shape is stable.
Money is a decimal string ("1280.00"), never a float; times are ISO 8601 with an offset.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from guanxi.customers.models import (
    Channel,
    ConsentChannel,
    ConsentPurpose,
    Direction,
    Gender,
    IncomeBand,
    Kind,
    NoteCategory,
)
from guanxi.sales.models import OrderStatus


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


# --- customers -----------------------------------------------------------------------------


class CustomerOut(Schema):
    id: int
    kind: str
    name: str
    name_pinyin: str
    phone: str | None
    email: str | None
    birthday: dt.date | None
    gender: str
    city: str
    region: str
    country: str
    industry: str
    company_size: str
    occupation: str
    income_band: str
    source: str
    acquired_on: dt.date | None
    owner_id: int | None
    organization_id: int | None
    referred_by_id: int | None
    tags: list[str]
    attributes: dict[str, Any]
    # From the latest score; null when the customer was never scored.
    lifecycle_stage: str | None
    value_tier: str | None
    clv: Decimal | None
    p_alive: float | None
    rfm_segment: str | None
    last_purchase_at: dt.datetime | None
    merged_into_id: int | None
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerPageOut(Schema):
    items: list[CustomerOut]
    next: int | None


class _Input(Schema):
    # A field we do not know is an error, not silently dropped: a client that sends
    # "lifecycle_stage" (computed, read-only) or misspells "emial" must hear about it.
    model_config = ConfigDict(extra="forbid")


class _CustomerFields(_Input):
    kind: Kind | None = None
    phone: str | None = Field(None, max_length=64)
    email: str | None = Field(None, max_length=254)
    gender: Gender | None = None
    birthday: dt.date | None = None
    city: str | None = Field(None, max_length=100)
    region: str | None = Field(None, max_length=100)
    country: str | None = Field(None, max_length=2)
    industry: str | None = Field(None, max_length=100)
    company_size: str | None = Field(None, max_length=32)
    occupation: str | None = Field(None, max_length=100)
    income_band: IncomeBand | None = None
    source: str | None = Field(None, max_length=64)
    acquired_on: dt.date | None = None
    owner_id: int | None = None
    organization_id: int | None = None
    referred_by_id: int | None = None
    attributes: dict[str, Any] | None = None


class CustomerCreateIn(_CustomerFields):
    name: str = Field(..., min_length=1, max_length=200)
    external_id: str | None = Field(None, max_length=128)
    source_system: str = Field("default", max_length=64)


class CustomerUpdateIn(_CustomerFields):
    """Only the fields sent are changed (PATCH semantics); ``null`` clears a nullable field."""

    name: str | None = Field(None, min_length=1, max_length=200)


class MergeIn(_Input):
    merged_id: int


# --- notes, interactions -------------------------------------------------------------------


class NoteOut(Schema):
    id: int
    customer_id: int
    category: str
    text: str
    pinned: bool
    author_id: int | None
    created_at: dt.datetime


class NotePageOut(Schema):
    items: list[NoteOut]
    next: int | None


class NoteIn(_Input):
    text: str = Field(..., min_length=1, max_length=10000)
    category: NoteCategory = NoteCategory.OTHER
    pinned: bool = False


class InteractionOut(Schema):
    id: int
    customer_id: int
    channel: str
    direction: str
    subject: str
    outcome: str
    occurred_at: dt.datetime
    author_id: int | None
    external_id: str | None


class InteractionPageOut(Schema):
    items: list[InteractionOut]
    next: int | None


class InteractionIn(_Input):
    channel: Channel
    direction: Direction = Direction.OUTBOUND
    subject: str = Field("", max_length=200)
    outcome: str = Field("", max_length=10000)
    occurred_at: dt.datetime | None = None
    external_id: str | None = Field(None, max_length=128)


# --- orders --------------------------------------------------------------------------------


class OrderOut(Schema):
    id: int
    external_id: str
    customer_id: int
    placed_at: dt.datetime
    channel: str
    status: str
    total: Decimal
    currency: str


class OrderPageOut(Schema):
    items: list[OrderOut]
    next: int | None


class OrderIn(_Input):
    customer_id: int
    placed_at: dt.datetime
    total: Decimal = Field(..., max_digits=14, decimal_places=2)
    currency: str | None = Field(None, min_length=3, max_length=3)
    external_id: str | None = Field(None, min_length=1, max_length=128)
    channel: str = Field("", max_length=32)
    status: OrderStatus = OrderStatus.COMPLETED


# --- tokens --------------------------------------------------------------------------------


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(..., description="The raw token. Shown this once; only its hash is kept.")


class TokenIn(_Input):
    name: str = Field(..., min_length=1, max_length=100)


# --- consent -------------------------------------------------------------------------------


class ConsentOut(Schema):
    channel: str
    purpose: str
    granted: bool
    recorded_at: dt.datetime
    source: str


class ConsentIn(_Input):
    channel: ConsentChannel
    purpose: ConsentPurpose
    granted: bool
    source: str = Field("api", max_length=64)
    evidence: str = Field("", max_length=10000)
