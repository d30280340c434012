"""``/api/v1/care/...``: tasks (own and team's), the work queue, the calendar, and offers.

Same rules as the pages: a person works their own tasks, a manager also the team's, an admin
everyone's; a task or customer out of reach is "not found".
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from guanxi.accounts.models import User
from guanxi.api.customers import ERRORS, user_of
from guanxi.care import selectors, services
from guanxi.care.errors import CareErrorCode
from guanxi.care.models import Task, TaskKind
from guanxi.core import clock
from guanxi.core.errors import NotFound, ValidationFailed
from guanxi.core.pagination import MAX_PAGE_SIZE, keyset_page
from guanxi.customers.selectors import access_customer

router = Router(tags=["care"])


class TaskOut(Schema):
    id: int
    kind: str
    customer_id: int
    customer: str
    owner: str | None
    due_on: dt.date
    title: str
    message: str
    channel: str | None = Field(None, description="A channel the customer consented to; "
                                "null when none is known.")
    status: str
    snoozed_until: dt.date | None
    done_at: dt.datetime | None
    created_by: str | None


class TaskPageOut(Schema):
    items: list[TaskOut]
    next: int | None


class TaskIn(Schema):
    customer_id: int
    due_on: dt.date
    title: str = Field(..., max_length=200)
    message: str = ""
    kind: str = Field(TaskKind.REMINDER, description="reminder or follow_up")
    owner: str | None = Field(None, description="Username; a manager may set a team member.")


class TaskPatch(Schema):
    title: str | None = None
    due_on: dt.date | None = None
    message: str | None = None


class SnoozeIn(Schema):
    until: dt.date | None = Field(None, description="Default: tomorrow.")
    days: int | None = Field(None, ge=1, le=365, description="Or: this many days from today.")


class TaskFilters(Schema):
    start: dt.date | None = None
    end: dt.date | None = None
    status: str | None = None
    kind: str | None = None
    customer_id: int | None = None
    owner: str | None = None
    after: int | None = Field(None, description="The `next` cursor of the previous page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


class OfferOut(Schema):
    product_id: int
    product: str
    because_id: int
    because: str
    confidence: float
    lift: float
    sequential: bool
    reason: str


class QueueItemOut(Schema):
    source: str
    id: int
    kind: str
    customer_id: int
    customer: str
    title: str
    reason: str
    due_on: dt.date
    days_overdue: int
    value: Decimal
    channel: str | None
    status: str
    notes: list[str]
    offer: OfferOut | None


class QueueOut(Schema):
    user: str
    as_of: dt.date
    items: list[QueueItemOut]


class CalendarDayOut(Schema):
    date: dt.date
    tasks: list[TaskOut]


class CalendarOut(Schema):
    start: dt.date
    end: dt.date
    days: list[CalendarDayOut]


class TeamRowOut(Schema):
    user: str
    due_today: int
    overdue: int
    done_today: int


def render_task(t: Task) -> dict[str, Any]:
    return {"id": t.pk, "kind": t.kind, "customer_id": t.customer_id,
            "customer": t.customer.name, "owner": t.owner.username if t.owner else None,
            "due_on": t.due_on, "title": t.title, "message": t.message,
            "channel": t.channel or None, "status": t.status,
            "snoozed_until": t.snoozed_until, "done_at": t.done_at,
            "created_by": t.created_by.username if t.created_by else None}


def render_offer(o: selectors.Offer) -> dict[str, Any]:
    return {"product_id": o.product_id, "product": o.product, "because_id": o.because_id,
            "because": o.because, "confidence": o.confidence, "lift": o.lift,
            "sequential": o.sequential, "reason": o.reason}


def _owner(user: User, username: str | None) -> User | None:
    if not username:
        return None
    person = User.objects.filter(username=username, is_active=True).first()
    if person is None or not selectors.can_assign_task_to(user, person):
        raise NotFound(CareErrorCode.USER_NOT_FOUND, f"No user {username!r} on your team.",
                       field="owner")
    return person


@router.get("/care/tasks", response={200: TaskPageOut, **ERRORS})
def list_tasks(request: HttpRequest, filters: Query[TaskFilters]) -> dict[str, Any]:
    user = user_of(request)
    owner = _owner(user, filters.owner)
    qs = selectors.task_list(user=user, start=filters.start, end=filters.end,
                             status=filters.status, kind=filters.kind,
                             customer_id=filters.customer_id,
                             owner_id=owner.pk if owner else None)
    page = keyset_page(qs.select_related("created_by"), after=filters.after,
                       limit=filters.limit)
    return {"items": [render_task(t) for t in page.items], "next": page.next_cursor}


@router.post("/care/tasks", response={201: TaskOut, **ERRORS})
def create_task(request: HttpRequest, payload: TaskIn) -> Status[dict[str, Any]]:
    user = user_of(request)
    customer = access_customer(user=user, customer_id=payload.customer_id, write=True)
    task = services.task_create(actor=user, customer=customer, due_on=payload.due_on,
                                title=payload.title, message=payload.message,
                                kind=payload.kind, owner=_owner(user, payload.owner))
    return Status(201, render_task(task))


@router.get("/care/tasks/{task_id}", response={200: TaskOut, **ERRORS})
def get_task(request: HttpRequest, task_id: int) -> dict[str, Any]:
    return render_task(selectors.access_task(user=user_of(request), task_id=task_id))


@router.patch("/care/tasks/{task_id}", response={200: TaskOut, **ERRORS})
def update_task(request: HttpRequest, task_id: int, payload: TaskPatch) -> dict[str, Any]:
    user = user_of(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    task = services.task_update(actor=user, task=task, title=payload.title,
                                due_on=payload.due_on, message=payload.message)
    return render_task(task)


@router.delete("/care/tasks/{task_id}", response={204: None, **ERRORS})
def delete_task(request: HttpRequest, task_id: int) -> Status[None]:
    user = user_of(request)
    services.task_delete(actor=user, task=selectors.access_task(user=user, task_id=task_id,
                                                                write=True))
    return Status(204, None)


@router.post("/care/tasks/{task_id}/done", response={200: TaskOut, **ERRORS})
def done_task(request: HttpRequest, task_id: int) -> dict[str, Any]:
    user = user_of(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    return render_task(services.task_done(actor=user, task=task))


@router.post("/care/tasks/{task_id}/snooze", response={200: TaskOut, **ERRORS})
def snooze_task(request: HttpRequest, task_id: int, payload: SnoozeIn) -> dict[str, Any]:
    user = user_of(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    until = payload.until or clock.today() + dt.timedelta(days=payload.days or 1)
    return render_task(services.task_snooze(actor=user, task=task, until=until))


@router.post("/care/tasks/{task_id}/dismiss", response={200: TaskOut, **ERRORS})
def dismiss_task(request: HttpRequest, task_id: int) -> dict[str, Any]:
    user = user_of(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    return render_task(services.task_dismiss(actor=user, task=task))


@router.post("/care/tasks/{task_id}/reopen", response={200: TaskOut, **ERRORS})
def reopen_task(request: HttpRequest, task_id: int) -> dict[str, Any]:
    user = user_of(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    return render_task(services.task_reopen(actor=user, task=task))


@router.get("/care/queue", response={200: QueueOut, **ERRORS})
def queue(request: HttpRequest, user: str | None = None,
          as_of: dt.date | None = None) -> dict[str, Any]:
    """A person's work for the day (default: yours; a manager may ask for a team member's)."""
    person = selectors.queue_user(user=user_of(request), username=user)
    day = as_of or clock.today()
    items = selectors.queue_for(user=person, as_of=day)
    return {"user": person.username, "as_of": day, "items": [
        {"source": i.source, "id": i.id, "kind": i.kind, "customer_id": i.customer_id,
         "customer": i.customer_name, "title": i.title, "reason": i.reason,
         "due_on": i.due_on, "days_overdue": i.days_overdue, "value": i.value,
         "channel": i.channel or None, "status": i.status, "notes": i.notes,
         "offer": render_offer(i.offer) if i.offer else None} for i in items]}


@router.get("/care/team", response={200: list[TeamRowOut], **ERRORS})
def team(request: HttpRequest, as_of: dt.date | None = None) -> list[dict[str, Any]]:
    """Per person on your team: tasks due, overdue (undone) and done today. Managers only."""
    rows = selectors.team_overview(user=user_of(request), as_of=as_of)
    return [{"user": r.username, "due_today": r.due_today, "overdue": r.overdue,
             "done_today": r.done_today} for r in rows]


@router.get("/care/calendar", response={200: CalendarOut, **ERRORS})
def care_calendar(request: HttpRequest, start: dt.date | None = None,
                  days: int = 14) -> dict[str, Any]:
    """The tasks you may see, day by day, from ``start`` (default today), 1 to 62 days."""
    if days < 1 or days > 62:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD, "days is between 1 and 62.",
                               field="days")
    first = start or clock.today()
    last = first + dt.timedelta(days=days - 1)
    tasks = list(selectors.task_list(user=user_of(request), start=first, end=last)
                 .select_related("created_by")[:2000])
    by_day: dict[dt.date, list[dict[str, Any]]] = {}
    for t in tasks:
        by_day.setdefault(t.due_on, []).append(render_task(t))
    return {"start": first, "end": last,
            "days": [{"date": d, "tasks": by_day[d]} for d in sorted(by_day)]}


@router.get("/customers/{customer_id}/offers", response={200: list[OfferOut], **ERRORS})
def customer_offers(request: HttpRequest, customer_id: int,
                    limit: int = 3) -> list[dict[str, Any]]:
    """What to offer the customer, each with its reason ("bought A; 38% of A buyers then buy
    B"); what they have and what their taboo notes name are never offered."""
    user = user_of(request)
    if limit < 1 or limit > 20:
        raise ValidationFailed(CareErrorCode.INVALID_FIELD, "limit is between 1 and 20.",
                               field="limit")
    return [render_offer(o) for o in
            selectors.offers_for(user=user, customer_id=customer_id, top_k=limit)]
