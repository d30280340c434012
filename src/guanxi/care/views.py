"""Pages of the care domain: the work queue, the care calendar, and the quick actions.

Thin edges: parse, one access check (``care.selectors`` / ``customers.selectors``), one service,
render. A task or customer out of reach is a 404, like everywhere else.
"""

from __future__ import annotations

import calendar as monthcal
import contextlib
import datetime as dt
from collections import defaultdict
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from guanxi.accounts.models import Role, User
from guanxi.care import selectors, services
from guanxi.care.models import TaskKind
from guanxi.core import clock, errors
from guanxi.customers.selectors import access_customer
from guanxi.retention.selectors import access_alert
from guanxi.retention.services import alert_close
from guanxi.web.views import guanxi_errors

SNOOZES = {"tomorrow": 1, "week": 7}


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "login_required runs first"
    return user


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _is_lead(user: User) -> bool:
    return user.is_admin_role or user.role == Role.MANAGER


@login_required
@require_GET
@guanxi_errors
def queue(request: HttpRequest) -> HttpResponse:
    """My work for today (or a team member's, for a manager), and the team's undone work."""
    user = _user(request)
    person = selectors.queue_user(user=user, username=request.GET.get("user"))
    today = clock.today()
    items = selectors.queue_for(user=person, as_of=today)
    team = selectors.team_overview(user=user, as_of=today) if _is_lead(user) else []
    return render(request, "care/queue.html", {
        "person": person, "items": items, "team": team, "today": today,
        "is_mine": person.pk == user.pk,
    })


@login_required
@require_GET
def care_calendar(request: HttpRequest) -> HttpResponse:
    """A month of care tasks as a grid, and the agenda of the next 14 days below it."""
    user = _user(request)
    today = clock.today()
    month = request.GET.get("month", "")
    try:
        first = dt.date.fromisoformat(f"{month}-01") if month else today.replace(day=1)
    except ValueError:
        first = today.replace(day=1)
    last = first.replace(day=monthcal.monthrange(first.year, first.month)[1])
    tasks = list(selectors.task_list(user=user, start=first, end=last)[:3000])
    by_day: dict[dt.date, list[Any]] = defaultdict(list)
    for t in tasks:
        by_day[t.due_on].append(t)
    weeks = [[(d, by_day.get(d, []) if d.month == first.month else None) for d in week]
             for week in monthcal.Calendar(firstweekday=0).monthdatescalendar(first.year,
                                                                             first.month)]
    agenda = list(selectors.task_list(user=user, start=today,
                                      end=today + dt.timedelta(days=14))[:300])
    prev_month = (first - dt.timedelta(days=1)).replace(day=1)
    next_month = last + dt.timedelta(days=1)
    return render(request, "care/calendar.html", {
        "first": first, "weeks": weeks, "agenda": agenda, "today": today,
        "prev_month": prev_month.strftime("%Y-%m"), "next_month": next_month.strftime("%Y-%m"),
        "weekdays": [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")],
    })


@login_required
@require_POST
@guanxi_errors
def task_action(request: HttpRequest, task_id: int, action: str) -> HttpResponse:
    """Done, snooze (tomorrow / next week), dismiss or reopen a task in one click."""
    user = _user(request)
    task = selectors.access_task(user=user, task_id=task_id, write=True)
    if action == "done":
        task = services.task_done(actor=user, task=task)
    elif action == "dismiss":
        task = services.task_dismiss(actor=user, task=task)
    elif action == "reopen":
        task = services.task_reopen(actor=user, task=task)
    elif action.startswith("snooze-") and action[7:] in SNOOZES:
        until = clock.today() + dt.timedelta(days=SNOOZES[action[7:]])
        task = services.task_snooze(actor=user, task=task, until=until)
    else:
        return HttpResponse(status=404)
    if _is_htmx(request):
        return render(request, "care/_task_done.html", {"task": task})
    return HttpResponseRedirect(request.POST.get("next") or reverse("care:queue"))


@login_required
@require_POST
@guanxi_errors
def alert_dismiss(request: HttpRequest, alert_id: int) -> HttpResponse:
    """Dismiss a churn alert from the queue (it is closed as dismissed, on the timeline)."""
    user = _user(request)
    alert = access_alert(user=user, alert_id=alert_id, write=True)
    # Already closed by someone else: the row goes away all the same.
    with contextlib.suppress(errors.Conflict):
        alert_close(alert=alert, actor=user, outcome="dismissed",
                    note=request.POST.get("note", ""))
    if _is_htmx(request):
        return render(request, "care/_task_done.html", {"alert": alert})
    return HttpResponseRedirect(reverse("care:queue"))


@login_required
@require_POST
@guanxi_errors
def reminder_add(request: HttpRequest, customer_id: int) -> HttpResponse:
    """The 360 page's "set a reminder": a reminder task for the current user."""
    user = _user(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    due_on = _date(request.POST.get("due_on"))
    title = request.POST.get("title", "")
    error = ""
    if due_on is None:
        error = _("Pick a date.")
    else:
        try:
            services.task_create(actor=user, customer=customer, due_on=due_on, title=title,
                                 kind=TaskKind.REMINDER)
        except errors.ValidationFailed:
            error = _("Write what to remember (at most 200 characters).")
    context = {"customer": customer, "reminder_error": error, "reminder_set": not error,
               "reminder_title": title if error else "", "reminder_due": due_on}
    if _is_htmx(request):
        return render(request, "care/_reminder_form.html", context,
                      status=422 if error else 200)
    if error:
        return render(request, "care/_reminder_form.html", context, status=422)
    return HttpResponseRedirect(reverse("customer_detail", args=[customer.pk]))
