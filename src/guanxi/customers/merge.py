"""Merging two records of one customer into one (MISSION M1: the unified view).

``customer_merge`` is one atomic change: everything that belongs to the merged customer moves to
the survivor, the survivor's empty profile fields are filled from the merged one, the merged
customer becomes a tombstone pointing at the survivor, and the survivor's timeline records a
``merged`` event. If anything fails, nothing has moved.

The merged customer's external ids move to the survivor marked as aliases, so an import that
still says "ERP id 4711" lands on the survivor: ``customer_resolve_external_id`` is the lookup
importers use.

What moves
    Every row of any app that points at the merged customer with a foreign key moves — orders,
    notes, interactions, events, and whatever later apps add (tickets, points...) — because a
    list of known relations would silently leave new ones behind on the tombstone. Relations
    that need judgement are handled explicitly: consents (one per channel × purpose), important
    dates (no duplicates), external ids (become aliases), tags, referrals, contacts of an
    organization, and older tombstones. Snapshots of derived figures (value scores) stay
    behind: the next scoring run recomputes the survivor. A one-to-one record (say a loyalty
    account) moves only when the survivor has none; otherwise it stays with the tombstone. A
    move that would break another app's uniqueness rule stops the merge with a
    ``MERGE_CONFLICT`` error.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, models, transaction

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict
from guanxi.customers import events
from guanxi.customers.errors import CustomerErrorCode
from guanxi.customers.models import (
    Consent,
    Customer,
    ExternalId,
    ImportantDate,
)
from guanxi.customers.selectors import access_customer

__all__ = ["customer_merge", "customer_merge_preview", "customer_resolve_external_id"]

# Profile fields the survivor takes from the merged customer when its own is empty.
FILLABLE_FIELDS = (
    "phone", "email", "gender", "birthday", "city", "region", "country", "industry",
    "company_size", "occupation", "income_band", "source", "owner", "referred_by",
    "organization",
)

# Relations handled by hand below; every other relation to Customer moves generically.
_EXPLICIT = (Consent, ImportantDate, ExternalId, Customer)

# Per-customer snapshots of derived figures (one score row per customer per scoring run) stay
# with the tombstone: they describe that record as it was, the survivor has its own rows for
# the same runs, and the next scoring run computes the survivor from all the moved orders.
# ``value.customervalue`` is a read-only view of the latest of those rows.
KEEP_WITH_TOMBSTONE = frozenset({"value.customerscore", "value.customervalue",
                                 # The same for segment snapshots and the per-run order totals.
                                 "segments.segmentmembership", "segments.orderstats",
                                 "segments.categorystats"})

# Rows unique per (field, customer): the merged customer's rows the survivor already has (both
# on the same static list) are dropped before the others move, instead of failing the merge.
DROP_DUPLICATES_ON = {"segments.segmentmember": "segment"}

# Tombstone chains are short (a merges into b, later b into c); the bound only guards a cycle
# someone made by editing the database directly.
_MAX_HOPS = 32


def _model_of(rel: models.ForeignObjectRel) -> type[models.Model]:
    model = rel.related_model
    if isinstance(model, str):  # only before the app registry is ready
        raise RuntimeError(f"unresolved relation {rel!r}")
    return model


def _generic_relations() -> list[models.ForeignObjectRel]:
    """Relations from other models to Customer that move without special rules."""
    return [rel for rel in Customer._meta.related_objects
            if not issubclass(_model_of(rel), _EXPLICIT)
            and _model_of(rel)._meta.label_lower not in KEEP_WITH_TOMBSTONE]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == {}


def customer_merge_preview(*, survivor: Customer, merged: Customer) -> dict[str, int]:
    """How many records of each kind a merge would move (nonzero counts only), for a prompt.

    Raises the errors ``customer_merge`` would (into itself, already merged, kind mismatch), so
    a person is not asked to confirm a merge that cannot happen.
    """
    _check_self(survivor, merged)
    _check_mergeable(survivor, merged)
    counts: dict[str, int] = {}
    for rel in _generic_relations():
        name = rel.get_accessor_name() or rel.name
        if rel.many_to_many:
            n = getattr(merged, name).count()
        else:
            n = _model_of(rel)._base_manager.filter(**{rel.field.name: merged}).count()
        counts[name] = n
    counts["consents"] = merged.consents.count()
    counts["important_dates"] = merged.important_dates.count()
    counts["external_ids"] = merged.external_ids.count()
    counts["tags"] = merged.tags.exclude(pk__in=survivor.tags.values("pk")).count()
    counts["referrals"] = merged.referrals.exclude(pk=survivor.pk).count()
    counts["contacts"] = merged.contacts.exclude(pk=survivor.pk).count()
    return {k: v for k, v in sorted(counts.items()) if v}


def _lock_pair(survivor_id: int, merged_id: int) -> tuple[Customer, Customer]:
    # Lock in ascending pk order whatever the argument order: two merges of the same pair
    # started at once (a into b, b into a) then wait for each other instead of deadlocking.
    # On SQLite select_for_update is a no-op; its IMMEDIATE transactions serialize writers.
    locked = {pk: Customer.objects.select_for_update().get(pk=pk)
              for pk in sorted((survivor_id, merged_id))}
    return locked[survivor_id], locked[merged_id]


def _check_self(survivor: Customer, merged: Customer) -> None:
    if survivor.pk == merged.pk:
        raise Conflict(CustomerErrorCode.MERGE_INTO_ITSELF,
                       f"Customer {survivor.pk} cannot be merged into itself.")


def _check_mergeable(survivor: Customer, merged: Customer) -> None:
    for customer in (merged, survivor):
        if not customer.is_active or customer.merged_into_id is not None:
            raise Conflict(CustomerErrorCode.ALREADY_MERGED,
                           f"Customer {customer.pk} ({customer.name}) was already merged into "
                           f"customer {customer.merged_into_id}.")
    if survivor.kind != merged.kind:
        raise Conflict(CustomerErrorCode.MERGE_KIND_MISMATCH,
                       f"Cannot merge {merged.get_kind_display().lower()} {merged.name!r} into "
                       f"{survivor.get_kind_display().lower()} {survivor.name!r}; change the "
                       f"kind of one of them first.")


def _move_consents(survivor: Customer, merged: Customer) -> int:
    # A consent row is the customer's latest word on one channel × purpose. When both records
    # have one, the more recent statement is the person's current wish, whichever record carried
    # it: a withdrawal last week must not be overturned by an older grant on the duplicate.
    # On a tie we keep the withdrawal, the choice that cannot send unwanted messages.
    mine = {(c.channel, c.purpose): c for c in survivor.consents.all()}
    moved = 0
    for theirs in merged.consents.all():
        ours = mine.get((theirs.channel, theirs.purpose))
        if ours is not None:
            theirs_wins = (theirs.recorded_at, not theirs.granted) > (ours.recorded_at,
                                                                       not ours.granted)
            if not theirs_wins:
                theirs.delete()
                continue
            ours.delete()
        theirs.customer = survivor
        theirs.save(update_fields=["customer"])
        moved += 1
    return moved


def _move_dates(survivor: Customer, merged: Customer) -> int:
    # Both records often carry the same birthday; two identical reminders would be noise.
    have = set(survivor.important_dates.values_list("kind", "date", "is_lunar", "label"))
    moved = 0
    for date in merged.important_dates.all():
        if (date.kind, date.date, date.is_lunar, date.label) in have:
            date.delete()
            continue
        date.customer = survivor
        date.save(update_fields=["customer"])
        moved += 1
    return moved


def _move_generic(survivor: Customer, merged: Customer) -> dict[str, int]:
    moved: dict[str, int] = {}
    for rel in _generic_relations():
        name = rel.get_accessor_name() or rel.name
        model = _model_of(rel)
        try:
            # A savepoint, so that PostgreSQL reports the conflict instead of a broken
            # transaction; the Conflict raised below rolls the whole merge back anyway.
            with transaction.atomic():
                if isinstance(rel, models.ManyToManyRel):
                    if rel.through is None or not rel.through._meta.auto_created:
                        continue  # an explicit through model moves as its own foreign key
                    moved[name] = _move_m2m(rel, survivor, merged)
                elif rel.one_to_one:
                    rows = model._base_manager.filter(**{rel.field.name: merged})
                    if model._base_manager.filter(**{rel.field.name: survivor}).exists():
                        continue  # the survivor has its own; this one stays with the tombstone
                    moved[name] = rows.update(**{rel.field.name: survivor})
                else:
                    rows = model._base_manager.filter(**{rel.field.name: merged})
                    key = DROP_DUPLICATES_ON.get(model._meta.label_lower)
                    if key is not None:
                        has = model._base_manager.filter(**{rel.field.name: survivor})
                        rows.filter(**{f"{key}__in": has.values(key)}).delete()
                    moved[name] = rows.update(**{rel.field.name: survivor})
        except IntegrityError as exc:
            raise Conflict(
                CustomerErrorCode.MERGE_CONFLICT,
                f"Cannot merge: both customers have {model._meta.verbose_name_plural} that "
                f"cannot be combined; resolve them first.",
            ) from exc
    return moved


def _move_m2m(rel: models.ManyToManyRel, survivor: Customer, merged: Customer) -> int:
    """Re-point links of another model's many-to-many field, dropping ones the survivor has."""
    through = rel.through
    if through is None:  # resolved once the app registry is ready
        raise RuntimeError(f"unresolved relation {rel!r}")
    to_customer = rel.field.m2m_reverse_field_name()
    other_side = rel.field.m2m_field_name()
    links = through._default_manager.filter(**{to_customer: merged})
    already = through._default_manager.filter(**{to_customer: survivor}).values(other_side)
    links.filter(**{f"{other_side}__in": already}).delete()
    return int(links.update(**{to_customer: survivor}))


def _fill_profile(survivor: Customer, merged: Customer) -> dict[str, tuple[Any, Any]]:
    """Take the merged customer's values where the survivor has none; return what changed."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name in FILLABLE_FIELDS:
        field = Customer._meta.get_field(name)
        attname = field.attname  # type: ignore[union-attr]  # concrete fields only above
        mine, theirs = getattr(survivor, attname), getattr(merged, attname)
        if not _is_empty(mine) or _is_empty(theirs):
            continue
        if attname in ("referred_by_id", "organization_id") and theirs in (survivor.pk,
                                                                            merged.pk):
            continue  # a customer can refer or contain neither itself nor its own duplicate
        changes[name] = (mine, theirs)
        setattr(survivor, attname, theirs)
    # The relationship began when the earlier record did.
    if merged.acquired_on and (survivor.acquired_on is None
                               or merged.acquired_on < survivor.acquired_on):
        changes["acquired_on"] = (survivor.acquired_on, merged.acquired_on)
        survivor.acquired_on = merged.acquired_on
    if merged.last_purchase_at and (survivor.last_purchase_at is None
                                    or merged.last_purchase_at > survivor.last_purchase_at):
        survivor.last_purchase_at = merged.last_purchase_at
    # Custom attributes: the survivor's values win, the merged customer's extra keys join them.
    attributes = {**merged.attributes, **survivor.attributes}
    if attributes != survivor.attributes:
        changes["attributes"] = (survivor.attributes, attributes)
        survivor.attributes = attributes
    return changes


def _repoint_customers(survivor: Customer, merged: Customer) -> dict[str, int]:
    """Referrals, contacts and older tombstones that point at the merged customer."""
    # The survivor must not end up referred by, or a contact of, itself.
    if survivor.referred_by_id == merged.pk:
        survivor.referred_by = None
    if survivor.organization_id == merged.pk:
        survivor.organization = None
    others = Customer.objects.exclude(pk=survivor.pk)
    return {
        "referrals": others.filter(referred_by=merged).update(referred_by=survivor),
        "contacts": others.filter(organization=merged).update(organization=survivor),
        "tombstones": others.filter(merged_into=merged).update(merged_into=survivor),
    }


def customer_merge(*, actor: User | None, survivor: Customer, merged: Customer) -> Customer:
    """Merge ``merged`` into ``survivor`` atomically and return the survivor, fresh.

    ``actor`` None is the system (the CLI, run by whoever administers the server); a person
    must be allowed to change both customers, and one they may not see is reported as not found.
    Raises ``Conflict`` for a merge into itself, an already merged customer or a kind mismatch.
    """
    _check_self(survivor, merged)
    if actor is not None:
        for customer in (survivor, merged):
            seen = access_customer(user=actor, customer_id=customer.pk)
            # A tombstone is read-only to everyone; say it was merged (below), not "read-only".
            if seen.is_active:
                access_customer(user=actor, customer_id=customer.pk, write=True)
    with transaction.atomic():
        survivor, merged = _lock_pair(survivor.pk, merged.pk)
        _check_mergeable(survivor, merged)

        moved = _move_generic(survivor, merged)
        moved["consents"] = _move_consents(survivor, merged)
        moved["important_dates"] = _move_dates(survivor, merged)
        # Aliases: later imports that still use the merged customer's ids land on the survivor.
        moved["external_ids"] = ExternalId.objects.filter(customer=merged).update(
            customer=survivor, is_alias=True)
        new_tags = list(merged.tags.exclude(pk__in=survivor.tags.values("pk")))
        survivor.tags.add(*new_tags)
        merged.tags.clear()
        moved["tags"] = len(new_tags)
        moved.update(_repoint_customers(survivor, merged))

        changes = _fill_profile(survivor, merged)
        survivor.save()
        merged.is_active = False
        merged.merged_into = survivor
        merged.save(update_fields=["is_active", "merged_into", "updated_at"])

        if changes:
            events.customer_updated_event(customer=survivor, actor=actor, changes=changes)
        events.customer_merged_event(survivor=survivor, merged=merged, actor=actor,
                                     moved={k: v for k, v in sorted(moved.items()) if v})
    survivor.refresh_from_db()
    return survivor


def customer_resolve_external_id(*, source: str, value: str) -> Customer | None:
    """The customer a source system's id stands for today, following merges; None if unknown.

    Importers call this before creating a customer, so that a row for a merged customer's old
    id updates the survivor instead of resurrecting the duplicate.
    """
    ext = (ExternalId.objects.select_related("customer")
           .filter(source=source, value=value).first())
    if ext is None:
        return None
    customer = ext.customer
    # Merges move ids to the survivor, so a hop is rare: only rows written around a merge.
    for _ in range(_MAX_HOPS):
        if customer.merged_into_id is None:
            break
        customer = Customer.objects.get(pk=customer.merged_into_id)
    return customer
