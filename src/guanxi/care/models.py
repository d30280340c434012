"""Care tasks: dated things a person should do for a customer (MISSION M14, M26).

The daily run (``care_tasks_create``) writes birthday, anniversary, festival and thank-you tasks;
people write reminders (and follow-ups) themselves. A generated task has a ``key`` —
``kind:customer:occasion:year`` — that is unique, so running the calendar twice on the same day
(or on two days whose horizons overlap) never creates the same task twice. A task a person set
has no key.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from guanxi.customers.models import Customer


class TaskKind(models.TextChoices):
    BIRTHDAY = "birthday", _("Birthday")
    ANNIVERSARY = "anniversary", _("Anniversary")
    FESTIVAL = "festival", _("Festival")
    THANK_YOU = "thank_you", _("Thank-you")
    REMINDER = "reminder", _("Reminder")
    FOLLOW_UP = "follow_up", _("Follow-up")


# Kinds the care calendar creates; the others are set by people.
CALENDAR_KINDS = (TaskKind.BIRTHDAY, TaskKind.ANNIVERSARY, TaskKind.FESTIVAL, TaskKind.THANK_YOU)


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    SNOOZED = "snoozed", _("Snoozed")
    DISMISSED = "dismissed", _("Dismissed")


# Statuses that still ask for work (a snoozed task comes back on ``snoozed_until``).
PENDING = (TaskStatus.OPEN, TaskStatus.SNOOZED)


class Task(models.Model):
    """One dated thing to do for one customer, owned by one person."""

    kind = models.CharField(_("kind"), max_length=16, choices=TaskKind.choices, db_index=True)
    customer = models.ForeignKey(Customer, verbose_name=_("customer"), on_delete=models.CASCADE,
                                 related_name="care_tasks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("owner"), null=True,
                              blank=True, on_delete=models.SET_NULL, related_name="care_tasks")
    due_on = models.DateField(_("due on"))
    title = models.CharField(_("title"), max_length=200)
    message = models.TextField(_("drafted message"), blank=True)
    # The channel the customer consented to be contacted on; empty means none is known, and
    # the page says so rather than guessing.
    channel = models.CharField(_("channel"), max_length=16, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=TaskStatus.choices,
                              default=TaskStatus.OPEN)
    snoozed_until = models.DateField(_("snoozed until"), null=True, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("done by"), null=True,
                                blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("created by"),
                                   null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("created at"))
    # kind:customer:occasion:year for calendar tasks (unique), NULL for tasks people set.
    key = models.CharField(max_length=120, null=True, blank=True, unique=True)

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        indexes = [
            # A person's queue: their pending tasks by date.
            models.Index(fields=["owner", "status", "due_on"], name="care_task_queue"),
            models.Index(fields=["customer", "status"], name="care_task_customer"),
            # The daily run reads the keys of the tasks due in its window, and the calendar
            # page a month of tasks.
            models.Index(fields=["due_on"], name="care_task_due"),
        ]

    def __str__(self) -> str:
        return f"{self.due_on} {self.title}"

    @property
    def effective_due_on(self) -> object:
        """The day the task asks for attention: a snoozed task's wake-up day."""
        if self.status == TaskStatus.SNOOZED and self.snoozed_until:
            return self.snoozed_until
        return self.due_on
