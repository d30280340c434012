"""``/api/v1/`` endpoints of the retention domain: churn alerts and replenishments due.

Same visibility as the pages: a rep's own customers, a manager's team, everyone for an admin;
an analyst reads but cannot close. Lists are keyset pages in id order (stable for programs);
``GET /alerts`` filters by status, severity and owner.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.core.pagination import MAX_PAGE_SIZE, keyset_page
from guanxi.retention.models import ChurnAlert, Replenishment
from guanxi.retention.selectors import access_alert, alert_list, replenishments_due
from guanxi.retention.services import alert_close

router = Router(tags=["retention"])


class AlertOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    owner_id: int | None
    raised_on: dt.date
    reason_code: str
    reason: str = Field(description="The reason in words, in the request's language.")
    severity: str
    value_at_stake: Decimal | None
    days_since_last: int
    last_purchase_on: dt.date
    expected_interval_days: float | None
    late_after_days: float | None
    p_alive: float | None
    status: str
    closed_on: dt.date | None
    closed_by_id: int | None
    outcome_note: str
    outcome: str = Field(description="The outcome in words (a won-back alert: when).")


class AlertPageOut(Schema):
    items: list[AlertOut]
    next: int | None


class AlertFilters(Schema):
    status: str | None = Field("open", description="open, won_back, lost, dismissed; "
                               "empty for all.")
    severity: str | None = Field(None, description="critical, high, medium or low.")
    owner_id: int | None = None
    after: int | None = Field(None, description="The `next` cursor of the previous page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class AlertCloseIn(Schema):
    outcome: str = Field(description="lost or dismissed.")
    note: str = Field("", max_length=2000)


class ReplenishmentOut(Schema):
    id: int
    customer_id: int
    customer_name: str
    owner_id: int | None
    product_id: int | None
    category: str
    item: str
    due_on: dt.date
    last_bought_on: dt.date
    interval_days: float
    value: Decimal
    reason: str


def _alert(a: ChurnAlert) -> dict[str, Any]:
    return {
        "id": a.pk, "customer_id": a.customer_id, "customer_name": a.customer.name,
        "owner_id": a.owner_id, "raised_on": a.raised_on, "reason_code": a.reason_code,
        "reason": a.reason, "severity": a.severity, "value_at_stake": a.value_at_stake,
        "days_since_last": a.days_since_last, "last_purchase_on": a.last_purchase_on,
        "expected_interval_days": a.expected_interval_days,
        "late_after_days": a.late_after_days, "p_alive": a.p_alive, "status": a.status,
        "closed_on": a.closed_on, "closed_by_id": a.closed_by_id,
        "outcome_note": a.outcome_note, "outcome": a.outcome,
    }


def _replenishment(r: Replenishment) -> dict[str, Any]:
    return {
        "id": r.pk, "customer_id": r.customer_id, "customer_name": r.customer.name,
        "owner_id": r.owner_id, "product_id": r.product_id, "category": r.category,
        "item": r.item_name, "due_on": r.due_on, "last_bought_on": r.last_bought_on,
        "interval_days": r.interval_days, "value": r.value, "reason": r.reason,
    }


@router.get("/alerts", response={200: AlertPageOut, **ERRORS})
def list_alerts(request: HttpRequest, filters: Query[AlertFilters]) -> dict[str, Any]:
    qs = alert_list(user=user_of(request), status=filters.status or None,
                    severity=filters.severity or None)
    if filters.owner_id is not None:
        qs = qs.filter(owner_id=filters.owner_id)
    page = keyset_page(qs, after=filters.after, limit=filters.limit)
    return {"items": [_alert(a) for a in page.items], "next": page.next_cursor}


@router.get("/alerts/{alert_id}", response={200: AlertOut, **ERRORS})
def get_alert(request: HttpRequest, alert_id: int) -> dict[str, Any]:
    return _alert(access_alert(user=user_of(request), alert_id=alert_id))


@router.post("/alerts/{alert_id}/close", response={200: AlertOut, **ERRORS})
def close_alert(request: HttpRequest, alert_id: int, payload: AlertCloseIn) -> dict[str, Any]:
    user = user_of(request)
    alert = access_alert(user=user, alert_id=alert_id, write=True)
    return _alert(alert_close(alert=alert, actor=user, outcome=payload.outcome,
                              note=payload.note))


class DueParams(Schema):
    within_days: int = Field(7, ge=0, le=366)


@router.get("/replenishments/due", response={200: list[ReplenishmentOut], **ERRORS})
def list_replenishments_due(request: HttpRequest,
                            params: Query[DueParams]) -> list[dict[str, Any]]:
    rows = replenishments_due(user=user_of(request), within_days=params.within_days)
    return [_replenishment(r) for r in rows[:MAX_PAGE_SIZE]]
