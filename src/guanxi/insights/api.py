"""``/api/v1/`` endpoints of the insights domain.

- ``GET  /insights/traits`` — what distinguishes the best customers (managers, analysts, admins)
- ``GET  /insights/prospects`` — look-alike prospects of the caller, ranked, pages of ``limit``
  after rank ``after``; with the excluded counts by reason
- ``GET  /insights/prospects/export?format=csv|xlsx`` — the whole ranking as a file
- ``GET  /insights/key-accounts`` — organizations with the three key-account measures
- ``GET|POST|PATCH /insights/key-accounts/{id}/plan``, ``POST .../plan/advance`` — the plan
- ``GET  /insights/strategy`` — concentration, heterogeneity and the recommended strategy

Each route: parse, one access check (in the selectors or reports), one call, render.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema, Status
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.insights import reports, selectors, services
from guanxi.insights.models import KeyAccountPlan

router = Router(tags=["insights"])


class TopParams(Schema):
    top: str = Field("vip,key", description="Value tiers that count as best customers, "
                     "comma-separated.")


class ProspectParams(TopParams):
    after: int = Field(0, ge=0, description="The rank of the last prospect of the previous "
                       "page (`next`).")
    limit: int = Field(50, ge=1, le=500)


class ExportParams(TopParams):
    format: Literal["csv", "xlsx"] = "csv"


class KeyAccountParams(Schema):
    candidates: bool = Field(False, description="Only the candidates.")
    years: int = Field(4, ge=2, le=10, description="Years of continuity to look at.")
    limit: int = Field(100, ge=1, le=1000, description="At most this many, best first.")


class PlanIn(Schema):
    owner_id: int | None = None
    goals: str = ""
    notes: str = ""
    next_review_on: dt.date | None = None
    stage: Literal["build", "stabilize", "strengthen"] = "build"


class PlanPatch(Schema):
    owner_id: int | None = None
    goals: str | None = None
    notes: str | None = None
    next_review_on: dt.date | None = None
    stage: Literal["build", "stabilize", "strengthen"] | None = None


class PlanOut(Schema):
    account_id: int
    account_name: str
    stage: str
    owner: str | None
    goals: str
    notes: str
    next_review_on: dt.date | None
    updated_at: dt.datetime


def _tiers(top: str) -> list[str]:
    return [t for t in top.split(",") if t.strip()]


def _plan(plan: KeyAccountPlan) -> dict[str, Any]:
    return {"account_id": plan.account_id, "account_name": plan.account.name,
            "stage": plan.stage, "owner": plan.owner.username if plan.owner else None,
            "goals": plan.goals, "notes": plan.notes, "next_review_on": plan.next_review_on,
            "updated_at": plan.updated_at}


def _owner(owner_id: int | None) -> Any:
    from guanxi.accounts.models import User
    from guanxi.core.errors import ValidationFailed
    from guanxi.insights.errors import InsightsErrorCode

    if owner_id is None:
        return None
    try:
        return User.objects.get(pk=owner_id)
    except User.DoesNotExist:
        raise ValidationFailed(InsightsErrorCode.INVALID_OWNER,
                               f"User {owner_id} does not exist.", field="owner_id") from None


@router.get("/insights/traits", response={200: dict[str, Any], **ERRORS})
def traits(request: HttpRequest, params: Query[TopParams]) -> dict[str, Any]:
    report = reports.traits_report(user=user_of(request), top_tiers=_tiers(params.top))
    return {"top_tiers": list(report.top_tiers), "customers": report.n_customers,
            "top_customers": report.n_top, "base_rate": report.base_rate,
            "holdout_customers": report.n_holdout, "holdout_auc": report.holdout_auc,
            "top_decile_lift": report.top_decile_lift, "traits": report.traits}


@router.get("/insights/prospects", response={200: dict[str, Any], **ERRORS})
def prospects(request: HttpRequest, params: Query[ProspectParams]) -> dict[str, Any]:
    ranking = reports.prospects_rank(user=user_of(request), top_tiers=_tiers(params.top))
    rows = ranking.rows(params.after, params.after + params.limit)
    more = params.after + params.limit < len(ranking.ids)
    return {"ranked": len(ranking.ids), "excluded": ranking.excluded_counts,
            "holdout_auc": ranking.holdout_auc, "items": rows,
            "next": params.after + params.limit if more else None}


@router.get("/insights/prospects/export", response={200: None, **ERRORS})
def prospects_export(request: HttpRequest, params: Query[ExportParams]) -> HttpResponse:
    from guanxi.insights.exports import table_response

    ranking = reports.prospects_rank(user=user_of(request), top_tiers=_tiers(params.top))
    header, table = reports.ranking_table(ranking)
    return table_response(params.format, header, table)


@router.get("/insights/key-accounts", response={200: list[dict[str, Any]], **ERRORS})
def key_accounts(request: HttpRequest, params: Query[KeyAccountParams]) -> list[dict[str, Any]]:
    return reports.key_account_candidates(user=user_of(request), n_periods=params.years,
                                          candidates_only=params.candidates,
                                          limit=params.limit)


@router.get("/insights/key-accounts/{account_id}/plan", response={200: PlanOut, **ERRORS})
def plan_get(request: HttpRequest, account_id: int) -> dict[str, Any]:
    return _plan(selectors.access_plan(user=user_of(request), account_id=account_id))


@router.post("/insights/key-accounts/{account_id}/plan", response={201: PlanOut, **ERRORS})
def plan_create(request: HttpRequest, account_id: int,
                payload: PlanIn) -> Status[dict[str, Any]]:
    user = user_of(request)
    account = selectors.access_organization(user=user, customer_id=account_id, write=True)
    plan = services.key_account_plan_create(
        actor=user, account=account, owner=_owner(payload.owner_id), goals=payload.goals,
        notes=payload.notes, next_review_on=payload.next_review_on, stage=payload.stage)
    return Status(201, _plan(plan))


@router.patch("/insights/key-accounts/{account_id}/plan", response={200: PlanOut, **ERRORS})
def plan_update(request: HttpRequest, account_id: int, payload: PlanPatch) -> dict[str, Any]:
    user = user_of(request)
    plan = selectors.access_plan(user=user, account_id=account_id, write=True)
    fields = payload.model_dump(exclude_unset=True)
    if "owner_id" in fields:
        fields["owner"] = _owner(fields.pop("owner_id"))
    plan = services.key_account_plan_update(actor=user, plan=plan, **fields)
    return _plan(plan)


@router.post("/insights/key-accounts/{account_id}/plan/advance",
             response={200: PlanOut, **ERRORS})
def plan_advance(request: HttpRequest, account_id: int) -> dict[str, Any]:
    user = user_of(request)
    plan = selectors.access_plan(user=user, account_id=account_id, write=True)
    return _plan(services.key_account_plan_advance(actor=user, plan=plan))


@router.get("/insights/strategy", response={200: dict[str, Any], **ERRORS})
def strategy(request: HttpRequest) -> dict[str, Any]:
    return reports.strategy(user=user_of(request))
