"""Writes to customers: each function is one atomic change plus its event."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.core.errors import ValidationFailed
from guanxi.customers import events
from guanxi.customers.errors import CustomerErrorCode
from guanxi.customers.models import (
    Channel,
    Consent,
    ConsentChannel,
    ConsentPurpose,
    Customer,
    Direction,
    ExternalId,
    Interaction,
    MemoryNote,
    NoteCategory,
    Tag,
)
from guanxi.customers.normalize import name_pinyin, normalize_email, normalize_phone

# Fields a person may set through a form, the API or an import.
EDITABLE_FIELDS = frozenset({
    "kind", "name", "phone", "email", "gender", "birthday", "city", "region", "country",
    "industry", "company_size", "occupation", "income_band", "source", "acquired_on",
    "owner", "owner_id", "referred_by", "referred_by_id", "organization", "organization_id",
    "attributes",
})


def clean_customer_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalize profile fields; raise ValidationFailed naming the field."""
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD, f"Unknown field {name!r}.",
                               field=name)
    cleaned = dict(fields)
    if "name" in cleaned:
        cleaned["name"] = str(cleaned["name"]).strip()
        if not cleaned["name"]:
            raise ValidationFailed(CustomerErrorCode.INVALID_FIELD, "A customer needs a name.",
                                   field="name")
    if cleaned.get("phone"):
        try:
            cleaned["phone"] = normalize_phone(str(cleaned["phone"]))
        except ValueError as exc:
            raise ValidationFailed(CustomerErrorCode.INVALID_PHONE, str(exc).capitalize() + ".",
                                   field="phone") from None
    if cleaned.get("email"):
        try:
            cleaned["email"] = normalize_email(str(cleaned["email"]))
        except ValueError as exc:
            raise ValidationFailed(CustomerErrorCode.INVALID_EMAIL, str(exc).capitalize() + ".",
                                   field="email") from None
    return cleaned


def _apply_pinyin(customer: Customer) -> None:
    customer.name_pinyin, customer.name_initials = name_pinyin(customer.name)


def customer_create(
    *,
    actor: User | None,
    name: str,
    external_id: str | None = None,
    source_system: str = "default",
    **fields: Any,
) -> Customer:
    cleaned = clean_customer_fields({"name": name, **fields})
    with transaction.atomic():
        customer = Customer(**cleaned)
        _apply_pinyin(customer)
        customer.save()
        if external_id:
            ExternalId.objects.create(customer=customer, source=source_system, value=external_id)
        events.customer_created_event(customer=customer, actor=actor,
                                      source=cleaned.get("source", ""))
    return customer


def customer_update(*, actor: User | None, customer: Customer, **fields: Any) -> Customer:
    cleaned = clean_customer_fields(fields)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        old_owner = customer.owner
        changes: dict[str, tuple[Any, Any]] = {}
        for key, value in cleaned.items():
            old = getattr(customer, key)
            if old != value:
                changes[key] = (old, value)
                setattr(customer, key, value)
        if not changes:
            return customer
        if "name" in changes:
            _apply_pinyin(customer)
        customer.save()
        if customer.owner != old_owner:
            events.owner_changed_event(customer=customer, actor=actor, old_owner=old_owner,
                                       new_owner=customer.owner)
            changes.pop("owner", None)
            changes.pop("owner_id", None)
        if changes:
            events.customer_updated_event(customer=customer, actor=actor, changes=changes)
    return customer


def customer_assign_owner(*, actor: User | None, customer: Customer,
                          owner: User | None) -> Customer:
    return customer_update(actor=actor, customer=customer, owner=owner)


def note_add(
    *,
    actor: User | None,
    customer: Customer,
    text: str,
    category: NoteCategory | str = NoteCategory.OTHER,
    pinned: bool = False,
    created_at: dt.datetime | None = None,
) -> MemoryNote:
    text = text.strip()
    if not text:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD, "A note needs some text.",
                               field="text")
    if category not in NoteCategory.values:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"Unknown note category {category!r}.", field="category")
    with transaction.atomic():
        note = MemoryNote.objects.create(customer=customer, category=category, text=text,
                                         pinned=pinned, author=actor,
                                         created_at=created_at or clock.now())
        events.note_added_event(customer=customer, actor=actor, note_id=note.pk,
                                category=str(category), text=text, pinned=pinned)
    return note


def interaction_log(
    *,
    actor: User | None,
    customer: Customer,
    channel: Channel | str,
    subject: str = "",
    outcome: str = "",
    direction: Direction | str = Direction.OUTBOUND,
    occurred_at: dt.datetime | None = None,
    external_id: str | None = None,
) -> Interaction:
    if channel not in Channel.values:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"Unknown channel {channel!r}; use one of "
                               f"{', '.join(Channel.values)}.", field="channel")
    if direction not in Direction.values:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"Unknown direction {direction!r}.", field="direction")
    when = occurred_at or clock.now()
    with transaction.atomic():
        interaction = Interaction.objects.create(
            customer=customer, channel=channel, direction=direction, subject=subject,
            outcome=outcome, occurred_at=when, author=actor, external_id=external_id,
        )
        events.interaction_logged_event(customer=customer, actor=actor,
                                        interaction_id=interaction.pk, channel=str(channel),
                                        subject=subject, occurred_at=when)
    return interaction


def consent_set(
    *,
    actor: User | None,
    customer: Customer,
    channel: ConsentChannel | str,
    purpose: ConsentPurpose | str,
    granted: bool,
    source: str = "",
    evidence: str = "",
) -> Consent:
    if channel not in ConsentChannel.values:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"Unknown consent channel {channel!r}.", field="channel")
    if purpose not in ConsentPurpose.values:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"Unknown consent purpose {purpose!r}.", field="purpose")
    with transaction.atomic():
        consent, created = Consent.objects.select_for_update().get_or_create(
            customer=customer, channel=channel, purpose=purpose,
            defaults={"granted": granted, "recorded_at": clock.now(), "source": source,
                      "evidence": evidence},
        )
        if not created:
            if consent.granted == granted:
                return consent
            consent.granted = granted
            consent.recorded_at = clock.now()
            consent.source = source
            consent.evidence = evidence
            consent.save()
        events.consent_changed_event(customer=customer, actor=actor, channel=str(channel),
                                     purpose=str(purpose), granted=granted, source=source)
    return consent


def customer_tag_add(*, actor: User | None, customer: Customer, names: list[str]) -> list[str]:
    """Add tags to a customer (creating unknown tags); return its tag names, sorted.

    Adding a tag the customer already has changes nothing and writes no event.
    """
    cleaned = sorted({n.strip() for n in names if n.strip()})
    if not cleaned:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD, "A tag needs a name.",
                               field="tags")
    too_long = next((n for n in cleaned if len(n) > 64), None)
    if too_long:
        raise ValidationFailed(CustomerErrorCode.INVALID_FIELD,
                               f"A tag is at most 64 characters: {too_long[:20]!r}….",
                               field="tags")
    with transaction.atomic():
        before = sorted(customer.tags.values_list("name", flat=True))
        new = [n for n in cleaned if n not in before]
        if not new:
            return before
        for name in new:
            tag, _ = Tag.objects.get_or_create(name=name)
            customer.tags.add(tag)
        after = sorted([*before, *new])
        events.customer_updated_event(customer=customer, actor=actor,
                                      changes={"tags": (", ".join(before), ", ".join(after))})
    return after


from guanxi.customers.merge import customer_merge as customer_merge  # noqa: E402  (re-export)
