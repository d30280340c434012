"""Pages of the retention domain: the churn alert list (close in one click) and what is due.

Thin: parse the filters, one selector with the viewer's visibility, one service, render.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from guanxi.core import errors
from guanxi.customers.selectors import can_change_customer
from guanxi.retention.models import AlertStatus, Severity
from guanxi.retention.selectors import access_alert, alert_list, replenishments_due
from guanxi.retention.services import alert_close
from guanxi.web.selectors import owner_choices
from guanxi.web.views import _user, _wants_fragment, guanxi_errors

PAGE = 100
MAX_ON_PAGE = 1000


class AlertFilterForm(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False,
                               choices=[("", _("All")), *AlertStatus.choices])
    severity = forms.ChoiceField(label=_("Severity"), required=False,
                                 choices=[("", _("All")), *Severity.choices])
    owner: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Owner"), required=False, queryset=None, empty_label=_("All"))

    def __init__(self, *args: Any, owners: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        owner_field = self.fields["owner"]
        assert isinstance(owner_field, forms.ModelChoiceField)
        owner_field.queryset = owners


class CloseForm(forms.Form):
    outcome = forms.ChoiceField(choices=[(AlertStatus.LOST, AlertStatus.LOST.label),
                                         (AlertStatus.DISMISSED, AlertStatus.DISMISSED.label)])
    note = forms.CharField(required=False, max_length=2000)


@login_required
@require_GET
def alert_list_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    data = request.GET.copy()
    if "status" not in data:
        data["status"] = AlertStatus.OPEN
    form = AlertFilterForm(data, owners=owner_choices(user=user))
    form.is_valid()
    f = getattr(form, "cleaned_data", {})
    qs = alert_list(user=user, status=f.get("status") or None,
                    severity=f.get("severity") or None, owner=f.get("owner"))
    # Worst first: the most urgent ``limit`` (a work list, not an archive to page through;
    # the API pages through all of them).
    limit = max(1, min(_int(request.GET.get("limit")) or PAGE, MAX_ON_PAGE))
    items = list(qs[:limit])
    total = qs.count()
    query = request.GET.copy()
    query["limit"] = str(min(limit + PAGE, MAX_ON_PAGE))
    context = {
        "form": form, "items": items, "total": total,
        "more": total > limit and limit < MAX_ON_PAGE, "more_query": query.urlencode(),
        "closable": {a.pk for a in items if a.status == AlertStatus.OPEN
                     and can_change_customer(user, a.customer)},
    }
    template = ("retention/_alert_results.html" if _wants_fragment(request)
                else "retention/alerts.html")
    return render(request, template, context)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


@login_required
@require_POST
@guanxi_errors
def alert_close_action(request: HttpRequest, alert_id: int) -> HttpResponse:
    user = _user(request)
    alert = access_alert(user=user, alert_id=alert_id, write=True)
    form = CloseForm(request.POST)
    error = ""
    if form.is_valid():
        try:
            alert_close(alert=alert, actor=user, outcome=form.cleaned_data["outcome"],
                        note=form.cleaned_data["note"])
        except errors.GuanxiError as exc:
            error = exc.message
    else:
        error = str(_("Choose lost or dismissed."))
    if _wants_fragment(request):
        return render(request, "retention/_alert_row.html",
                      {"a": alert, "closable": set() if not error else {alert.pk},
                       "error": error}, status=422 if error else 200)
    return HttpResponseRedirect(reverse("retention:alerts"))


@login_required
@require_GET
def due_page(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    within = _int(request.GET.get("within")) or 7
    within = max(0, min(within, 90))
    rows = list(replenishments_due(user=user, within_days=within)[:200])
    return render(request, "retention/due.html", {"rows": rows, "within": within})
