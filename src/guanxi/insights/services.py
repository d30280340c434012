"""Writes of the insights domain: key-account plans, each change atomic with its event.

The plan follows the seed's three stages of key-account marketing — build the relationship
(建立关系: the buyer has no real experience of us yet; the costliest stage), stabilize it
(稳定关系) and strengthen it (加强关系) — and moves forward one stage at a time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from guanxi.accounts.models import Role, User
from guanxi.core import clock
from guanxi.core.errors import Conflict, ValidationFailed
from guanxi.customers import events
from guanxi.customers.models import Customer, Kind
from guanxi.insights.errors import InsightsErrorCode
from guanxi.insights.models import STAGE_ORDER, KeyAccountPlan, KeyAccountStage

EDITABLE = ("owner", "goals", "notes", "next_review_on", "stage")


def _check_owner(owner: User | None) -> None:
    if owner is not None and (not owner.is_active or owner.role not in
                              (Role.ADMIN, Role.MANAGER, Role.REP)):
        raise ValidationFailed(InsightsErrorCode.INVALID_OWNER,
                               _("%(user)s cannot own a key account (only active admins, "
                                 "managers and reps).") % {"user": owner.username},
                               field="owner")


def _check_stage(stage: str) -> KeyAccountStage:
    try:
        return KeyAccountStage(stage)
    except ValueError:
        raise ValidationFailed(InsightsErrorCode.INVALID_STAGE,
                               _("Unknown stage %(stage)r; use build, stabilize or "
                                 "strengthen.") % {"stage": stage}, field="stage") from None


def _snapshot(plan: KeyAccountPlan) -> dict[str, Any]:
    return {
        "stage": plan.stage,
        "owner": plan.owner.username if plan.owner else None,
        "goals": plan.goals,
        "notes": plan.notes,
        "next_review_on": plan.next_review_on.isoformat() if plan.next_review_on else None,
    }


@transaction.atomic
def key_account_plan_create(*, actor: User | None, account: Customer, owner: User | None = None,
                            goals: str = "", notes: str = "",
                            next_review_on: dt.date | None = None,
                            stage: str = KeyAccountStage.BUILD) -> KeyAccountPlan:
    """Start managing an organization as a key account (stage "build" unless told)."""
    if account.kind != Kind.ORGANIZATION:
        raise ValidationFailed(InsightsErrorCode.NOT_AN_ORGANIZATION,
                               _("Only organizations can be key accounts."), field="account")
    # Lock the account row: two people starting a plan at once get one plan and one Conflict.
    Customer.objects.select_for_update().filter(pk=account.pk).exists()
    if KeyAccountPlan.objects.filter(account=account).exists():
        raise Conflict(InsightsErrorCode.PLAN_EXISTS,
                       _("%(name)s already has a key-account plan.") % {"name": account.name})
    _check_owner(owner)
    now = clock.now()
    plan = KeyAccountPlan.objects.create(
        account=account, stage=_check_stage(stage), owner=owner, goals=goals.strip(),
        notes=notes.strip(), next_review_on=next_review_on, created_at=now, updated_at=now)
    events.key_account_plan_changed(customer=account, actor=actor, action="created",
                                    plan=_snapshot(plan), changes={})
    return plan


@transaction.atomic
def key_account_plan_update(*, actor: User | None, plan: KeyAccountPlan,
                            **fields: Any) -> KeyAccountPlan:
    """Change owner, goals, notes, next review date or stage; the event lists what changed."""
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(InsightsErrorCode.INVALID_FIELD,
                               _("Unknown field %(field)r.") % {"field": name}, field=name)
    plan = KeyAccountPlan.objects.select_for_update(of=("self",)).select_related(
        "owner", "account").get(pk=plan.pk)
    before = _snapshot(plan)
    if "owner" in fields:
        _check_owner(fields["owner"])
        plan.owner = fields["owner"]
    if "stage" in fields:
        plan.stage = _check_stage(fields["stage"])
    for name in ("goals", "notes"):
        if name in fields:
            setattr(plan, name, str(fields[name] or "").strip())
    if "next_review_on" in fields:
        plan.next_review_on = fields["next_review_on"]
    after = _snapshot(plan)
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if not changes:
        return plan
    plan.updated_at = clock.now()
    plan.save()
    events.key_account_plan_changed(customer=plan.account, actor=actor, action="updated",
                                    plan=after, changes=changes)
    return plan


@transaction.atomic
def key_account_plan_advance(*, actor: User | None, plan: KeyAccountPlan,
                             next_review_on: dt.date | None = None) -> KeyAccountPlan:
    """Move the plan to the next stage (build → stabilize → strengthen)."""
    # Read the stage under the row lock: two clicks must not skip a stage.
    plan = KeyAccountPlan.objects.select_for_update().get(pk=plan.pk)
    index = STAGE_ORDER.index(KeyAccountStage(plan.stage))
    if index + 1 >= len(STAGE_ORDER):
        raise Conflict(InsightsErrorCode.LAST_STAGE,
                       _("The plan is already in its last stage (strengthen)."))
    fields: dict[str, Any] = {"stage": STAGE_ORDER[index + 1].value}
    if next_review_on is not None:
        fields["next_review_on"] = next_review_on
    return key_account_plan_update(actor=actor, plan=plan, **fields)
