"""The unified customer profile (MISSION M1–M3) and what we remember about each customer."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Kind(models.TextChoices):
    PERSON = "person", _("Person")
    ORGANIZATION = "organization", _("Organization")


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    FEMALE = "f", _("Female")
    MALE = "m", _("Male")
    OTHER = "o", _("Other")


class IncomeBand(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    AFFLUENT = "affluent", _("Affluent (富裕)")
    COMFORTABLE = "comfortable", _("Comfortable (小康)")
    BASIC = "basic", _("Basic (温饱)")


class LifecycleStage(models.TextChoices):
    PROSPECT = "prospect", _("Prospect")
    NEW = "new", _("New")
    ACTIVE = "active", _("Active")
    LOYAL = "loyal", _("Loyal")
    DORMANT = "dormant", _("Dormant")
    LOST = "lost", _("Lost")


class ValueTier(models.TextChoices):
    UNSCORED = "", _("Not scored")
    VIP = "vip", _("VIP")
    KEY = "key", _("Key")
    MAJOR = "major", _("Major")
    ORDINARY = "ordinary", _("Ordinary")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class Customer(models.Model):
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200, db_index=True)
    # Pinyin of Chinese names, so "zhangwei" and the initials "zw" find 张伟 (kept by services).
    name_pinyin = models.CharField(max_length=400, blank=True, db_index=True)
    name_initials = models.CharField(max_length=100, blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True, db_index=True,
                             help_text=_("E.164, normalized on save."))
    email = models.EmailField(_("e-mail"), blank=True, db_index=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True,
                              default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True, db_index=True)
    region = models.CharField(_("region"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, blank=True, default="CN")
    industry = models.CharField(_("industry"), max_length=100, blank=True)
    company_size = models.CharField(_("company size"), max_length=32, blank=True)
    occupation = models.CharField(_("occupation"), max_length=100, blank=True)
    income_band = models.CharField(_("income band"), max_length=16, choices=IncomeBand.choices,
                                   blank=True, default=IncomeBand.UNKNOWN)
    source = models.CharField(_("acquisition source"), max_length=64, blank=True, db_index=True)
    acquired_on = models.DateField(_("acquired on"), null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="customers")
    referred_by = models.ForeignKey("self", verbose_name=_("referred by"), null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="referrals")
    organization = models.ForeignKey(
        "self", verbose_name=_("organization"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="contacts",
        limit_choices_to={"kind": Kind.ORGANIZATION},
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True)

    # The value engine's figures (tier, CLV, stage...) are not stored here: they are the
    # customer's latest score, ``customer.value`` (``guanxi.value.models.CustomerValue``), so a
    # scoring run never rewrites this wide, heavily indexed table. The last purchase stays:
    # orders and imports keep it current between runs.
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True,
                                            db_index=True)

    # A merged customer stays as a tombstone pointing at the survivor, so links keep resolving.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="merged_from")
    is_active = models.BooleanField(default=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        indexes = [
            models.Index(fields=["owner", "id"], name="customer_owner_id"),
            # The visibility rule first asks for the organizations a rep owns (usually none):
            # without this partial index that reads all of the rep's customers, on every page.
            models.Index(fields=["owner"], name="customer_owner_organizations",
                         condition=models.Q(kind="organization", is_active=True)),
            # A rep's list in name order and in last-purchase order without reading the other
            # reps' customers: 10 and 37 ms a page at 1M customers, 0.5 and 0.8 ms with these
            # (measured with web_bench; PostgreSQL CPU per request halved). Merged customers
            # are never listed.
            models.Index(fields=["owner", "name", "id"], name="customer_owner_name",
                         condition=models.Q(is_active=True)),
            models.Index(fields=["owner", "last_purchase_at", "id"],
                         name="customer_owner_last_purchase",
                         condition=models.Q(is_active=True)),
        ]

    def __str__(self) -> str:
        return self.name


class ExternalId(models.Model):
    """A customer's id in a source system (ERP, shop, CDNOW...).

    After a merge the loser's ids point at the survivor with ``is_alias`` set, so an import that
    still uses the old id lands on the surviving customer.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="external_ids")
    source = models.CharField(_("source system"), max_length=64, default="default")
    value = models.CharField(_("external id"), max_length=128)
    is_alias = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("external id")
        verbose_name_plural = _("external ids")
        constraints = [
            models.UniqueConstraint(fields=["source", "value"], name="external_id_unique"),
        ]
        indexes = [models.Index(fields=["value"], name="external_id_value")]

    def __str__(self) -> str:
        return f"{self.source}:{self.value}"


class DateKind(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Anniversary")
    CUSTOM = "custom", _("Custom")


class ImportantDate(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE,
                                 related_name="important_dates")
    kind = models.CharField(_("kind"), max_length=16, choices=DateKind.choices)
    label = models.CharField(_("label"), max_length=100, blank=True)
    # For a lunar date, month/day are the lunar month and day and the year is the one of the
    # original occasion (may be unknown: 0 means "not recorded").
    date = models.DateField(_("date"))
    is_lunar = models.BooleanField(_("Chinese lunar calendar"), default=False)
    yearly = models.BooleanField(_("every year"), default=True)

    class Meta:
        verbose_name = _("important date")
        verbose_name_plural = _("important dates")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.date}"


class NoteCategory(models.TextChoices):
    PREFERENCE = "preference", _("Preference")
    HABIT = "habit", _("Habit")
    TABOO = "taboo", _("Taboo")
    REQUEST = "request", _("Standing request")
    FAMILY = "family", _("Family")
    OTHER = "other", _("Other")


class MemoryNote(models.Model):
    """Something to remember about the customer and show again at every contact (M2)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="notes")
    category = models.CharField(_("category"), max_length=16, choices=NoteCategory.choices,
                                default=NoteCategory.OTHER)
    text = models.TextField(_("text"))
    pinned = models.BooleanField(_("pinned"), default=False)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(_("time"), db_index=True)

    class Meta:
        ordering = ["-pinned", "-created_at"]
        verbose_name = _("memory note")
        verbose_name_plural = _("memory notes")

    def __str__(self) -> str:
        return self.text[:60]


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    VISIT = "visit", _("Visit")
    EMAIL = "email", _("E-mail")
    SMS = "sms", _("SMS")
    WECHAT = "wechat", _("WeChat")
    MEETING = "meeting", _("Meeting")
    OTHER = "other", _("Other")


class Direction(models.TextChoices):
    INBOUND = "in", _("Inbound")
    OUTBOUND = "out", _("Outbound")


class Interaction(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="interactions")
    external_id = models.CharField(max_length=128, null=True, blank=True, unique=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices,
                                 default=Direction.OUTBOUND)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    outcome = models.TextField(_("outcome"), blank=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["-occurred_at"]
        verbose_name = _("interaction")
        verbose_name_plural = _("interactions")

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.occurred_at:%Y-%m-%d}"


class ConsentChannel(models.TextChoices):
    PHONE = "phone", _("Phone")
    SMS = "sms", _("SMS")
    EMAIL = "email", _("E-mail")
    WECHAT = "wechat", _("WeChat")
    MAIL = "mail", _("Post")


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    SERVICE = "service", _("Service")
    PROFILING = "profiling", _("Profiling")


class Consent(models.Model):
    """The latest state per customer × channel × purpose; the history is in customer events."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("channel"), max_length=16, choices=ConsentChannel.choices)
    purpose = models.CharField(_("purpose"), max_length=16, choices=ConsentPurpose.choices)
    granted = models.BooleanField(_("granted"))
    recorded_at = models.DateTimeField(_("time"))
    source = models.CharField(_("source"), max_length=64, blank=True)
    evidence = models.TextField(_("evidence"), blank=True)

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        constraints = [
            models.UniqueConstraint(fields=["customer", "channel", "purpose"],
                                    name="consent_unique"),
        ]

    def __str__(self) -> str:
        state = "granted" if self.granted else "withdrawn"
        return f"{self.channel}/{self.purpose}: {state}"


class EventType(models.TextChoices):
    CREATED = "created", _("Created")
    UPDATED = "updated", _("Updated")
    MERGED = "merged", _("Merged")
    NOTE_ADDED = "note_added", _("Note added")
    INTERACTION_LOGGED = "interaction_logged", _("Interaction logged")
    ORDER_PLACED = "order_placed", _("Order placed")
    ORDER_REFUNDED = "order_refunded", _("Order refunded")
    CONSENT_CHANGED = "consent_changed", _("Consent changed")
    OWNER_CHANGED = "owner_changed", _("Owner changed")
    SCORE_CHANGED = "score_changed", _("Score changed")
    CHURN_ALERT_RAISED = "churn_alert_raised", _("Churn alert raised")
    CHURN_ALERT_CLOSED = "churn_alert_closed", _("Churn alert closed")
    KEY_ACCOUNT_PLAN_CHANGED = "key_account_plan_changed", _("Key-account plan changed")


class CustomerEvent(models.Model):
    """One thing that happened to a customer; the timeline and the audit trail read these.

    Written only through the small functions in ``customers/events.py``.
    """

    # No index of its own: ``event_timeline`` (customer, -occurred_at) serves customer lookups,
    # and one index fewer makes bulk imports of order events faster.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="events",
                                 db_index=False)
    type = models.CharField(max_length=32, choices=EventType.choices)
    # No single-column indexes on ``occurred_at`` nor ``actor``: every query reads a customer's
    # events (``event_timeline``), and each index cost every imported order row (issue #2).
    # Deleting a user (SET NULL here) scans the table instead: a rare administrator action.
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+", db_index=False)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="event_timeline")]
        verbose_name = _("customer event")
        verbose_name_plural = _("customer events")

    def __str__(self) -> str:
        return f"{self.type} @ {self.occurred_at:%Y-%m-%d %H:%M}"
