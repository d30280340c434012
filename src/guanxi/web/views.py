"""Pages: parse the request, one access check, one service call, render.

Access is decided by ``guanxi.customers.selectors`` alone: a customer the user may not see is a
404 (a rep must not learn another rep's customer exists), one they may see but not change is a
403.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from guanxi.accounts.models import User
from guanxi.core import errors
from guanxi.customers import services
from guanxi.customers.models import Customer
from guanxi.customers.selectors import (
    access_customer,
    can_change_customer,
    can_see_contact_details,
    customers_visible,
)
from guanxi.web import charts, exports, selectors
from guanxi.web.forms import BulkForm, InteractionForm, ListFilterForm, NoteForm

F = TypeVar("F", bound=Callable[..., HttpResponse])


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User), "login_required runs first"
    return user


def guanxi_errors(view: F) -> F:
    """Turn the domain's errors into HTTP answers: NotFound → 404, PermissionDenied → 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except errors.NotFound as exc:
            raise Http404(exc.message) from None
        except errors.PermissionDenied as exc:
            return HttpResponseForbidden(exc.message)

    return wrapper  # type: ignore[return-value]  # same signature as ``view``


def _is_htmx(request: HttpRequest) -> bool:
    return bool(getattr(request, "htmx", False))


def _wants_fragment(request: HttpRequest) -> bool:
    """An htmx swap wants a fragment; a history restore (back button after htmx's cache
    expired) wants the whole page again."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not getattr(htmx, "history_restore_request", False)


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    data = charts.dashboard_data(user=user)
    return render(request, "web/home.html", {
        "dash": data["summary"],
        "charts": charts.build_charts(user=user, data=data),
        "work": charts.todays_work(user=user),
        "can_score": user.is_admin_role or user.role == "manager",
        "scoring": request.GET.get("scoring") == "1",
    })


@login_required
@require_GET
def chart_export(request: HttpRequest, key: str, fmt: str) -> HttpResponseBase:
    """One dashboard chart as CSV (its table) or PNG (drawn by matplotlib)."""
    user = _user(request)
    chart = charts.build_charts(user=user, data=charts.dashboard_data(user=user)).get(key)
    if chart is None or fmt not in ("csv", "png") or (fmt == "png" and not chart.has_png):
        raise Http404(_("Unknown chart or format."))
    if fmt == "png":
        response = HttpResponse(charts.png(chart), content_type="image/png")
    else:
        response = exports.table_csv_response(chart.columns, chart.rows)
    response["Content-Disposition"] = f'attachment; filename="guanxi-{key}.{fmt}"'
    return response


# ---------------------------------------------------------------------------------------------
# Customer list
# ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    form = ListFilterForm(request.GET or None, owners=selectors.owner_choices(user=user))
    form.is_valid()
    filters = form.filters()
    cursor = request.GET.get("cursor") or None
    page = selectors.customer_page(
        user=user, filters=filters, cursor=cursor,
        known_count=None if cursor else charts.cached_list_count(user=user, filters=filters))
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "form": form,
        "page": page,
        "query": query.urlencode(),
        "first_page": not request.GET.get("cursor"),
        "show_contact": can_see_contact_details(user),
        "bulk_owners": selectors.assignable_owners(user=user),
        "can_tag": selectors.may_change_some_customers(user=user),
    }
    template = ("web/customers/_results.html" if _wants_fragment(request)
                else "web/customers/list.html")
    return render(request, template, context)


@login_required
@require_GET
def customer_export(request: HttpRequest, fmt: str) -> HttpResponseBase:
    """Export every customer of the current list (its filters), within the user's rights."""
    user = _user(request)
    form = ListFilterForm(request.GET or None, owners=selectors.owner_choices(user=user))
    form.is_valid()
    qs = (selectors.customers_filtered(user=user, filters=form.filters())
          .select_related("owner", "value").order_by("pk"))
    if fmt == "csv":
        return exports.csv_response(user, qs.iterator(chunk_size=2000))
    if fmt != "xlsx":
        raise Http404(_("Unknown export format."))
    if qs[: exports.XLSX_MAX_ROWS + 1].count() > exports.XLSX_MAX_ROWS:
        return HttpResponse(
            _("More than %(max)s customers: narrow the list or export CSV instead.")
            % {"max": f"{exports.XLSX_MAX_ROWS:,}"},
            status=422, content_type="text/plain; charset=utf-8")
    return exports.xlsx_response(user, qs.iterator(chunk_size=2000))


@login_required
@require_POST
def customer_bulk(request: HttpRequest) -> HttpResponseBase:
    """Assign an owner to, tag, or export the selected customers — only those the user may see."""
    user = _user(request)
    owners = selectors.assignable_owners(user=user)
    form = BulkForm(request.POST, owners=owners)
    if not form.is_valid():
        return render(request, "web/customers/bulk_errors.html", {"form": form}, status=422)
    ids: list[int] = form.cleaned_data["ids"]
    customers = list(customers_visible(user=user).filter(pk__in=ids)
                     .select_related("owner", "value").order_by("name", "pk"))
    if len(customers) != len(ids):
        # One of the ids is someone else's customer (or gone): refuse the whole request.
        raise Http404(_("Some of the selected customers do not exist."))
    action = form.cleaned_data["action"]
    if action == "export_csv":
        return exports.csv_response(user, customers)
    if action == "export_xlsx":
        return exports.xlsx_response(user, customers)
    # Fetched through customers_visible just above: only the role decides (no query each).
    if not all(can_change_customer(user, c, seen=True) for c in customers):
        return HttpResponseForbidden(_("You may not change these customers."))
    # All or nothing: half a team reassigned (or tagged) is worse than none.
    if action == "tag":
        with transaction.atomic():
            for customer in customers:
                services.customer_tag_add(actor=user, customer=customer,
                                          names=form.cleaned_data["tags"])
    else:
        if not owners.exists():
            return HttpResponseForbidden(_("You may not reassign these customers."))
        new_owner: User = form.cleaned_data["owner"]
        with transaction.atomic():
            for customer in customers:
                services.customer_assign_owner(actor=user, customer=customer, owner=new_owner)
    url = reverse("customer_list") + "?" + request.POST.get("query", "")
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


# ---------------------------------------------------------------------------------------------
# Customer 360
# ---------------------------------------------------------------------------------------------


def _detail_context(user: User, customer: Customer, **extra: Any) -> dict[str, Any]:
    # ``customer`` always comes from access_customer for this user (see the callers).
    can_change = can_change_customer(user, customer, seen=True)
    return {
        "view": selectors.customer_360(user=user, customer=customer),
        "customer": customer,
        "can_change": can_change,
        "show_contact": can_see_contact_details(user),
        "timeline": selectors.timeline_page(customer=customer),
        "note_form": extra.pop("note_form", NoteForm()),
        "interaction_form": extra.pop("interaction_form", InteractionForm()),
        **extra,
    }


@login_required
@require_GET
@guanxi_errors
def customer_detail(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _user(request)
    customer = access_customer(user=user, customer_id=customer_id)
    if customer.merged_into_id and customer.merged_into_id != customer.pk:
        # A merged customer's page forwards to the survivor (if the user may see it).
        return HttpResponseRedirect(reverse("customer_detail", args=[customer.merged_into_id]))
    return render(request, "web/customers/detail.html", _detail_context(user, customer))


@login_required
@require_GET
@guanxi_errors
def customer_timeline(request: HttpRequest, customer_id: int) -> HttpResponse:
    customer = access_customer(user=_user(request), customer_id=customer_id)
    page = selectors.timeline_page(customer=customer, cursor=request.GET.get("cursor") or None)
    return render(request, "web/customers/_timeline_items.html",
                  {"customer": customer, "timeline": page})


@login_required
@require_http_methods(["POST"])
@guanxi_errors
def note_add(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _user(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    form = NoteForm(request.POST)
    if form.is_valid():
        try:
            services.note_add(actor=user, customer=customer, text=form.cleaned_data["text"],
                              category=form.cleaned_data["category"],
                              pinned=form.cleaned_data["pinned"])
        except errors.ValidationFailed as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    ok = not form.errors
    if _is_htmx(request):
        response = render(request, "web/customers/_notes.html", {
            "customer": customer, "can_change": True,
            "view": selectors.customer_360(user=user, customer=customer),
            "note_form": NoteForm() if ok else form,
        })
        if ok:
            response["HX-Trigger"] = "timeline-changed"
        return response
    if ok:
        return HttpResponseRedirect(reverse("customer_detail", args=[customer.pk]))
    return render(request, "web/customers/detail.html",
                  _detail_context(user, customer, note_form=form), status=422)


@login_required
@require_http_methods(["POST"])
@guanxi_errors
def interaction_add(request: HttpRequest, customer_id: int) -> HttpResponse:
    user = _user(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    form = InteractionForm(request.POST)
    if form.is_valid():
        try:
            services.interaction_log(actor=user, customer=customer,
                                     channel=form.cleaned_data["channel"],
                                     direction=form.cleaned_data["direction"],
                                     subject=form.cleaned_data["subject"],
                                     outcome=form.cleaned_data["outcome"])
        except errors.ValidationFailed as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
    ok = not form.errors
    if _is_htmx(request):
        response = render(request, "web/customers/_interaction_form.html", {
            "customer": customer, "interaction_form": InteractionForm() if ok else form,
            "logged": ok,
        })
        if ok:
            response["HX-Trigger"] = "timeline-changed"
        return response
    if ok:
        return HttpResponseRedirect(reverse("customer_detail", args=[customer.pk]))
    return render(request, "web/customers/detail.html",
                  _detail_context(user, customer, interaction_form=form), status=422)
