"""Who may import, and reads of past imports."""

from __future__ import annotations

from django.db.models import QuerySet

from guanxi.accounts.models import Role, User
from guanxi.core.errors import PermissionDenied
from guanxi.imports.models import ImportRun

# An import creates and changes customers of every owner, so it is for the people who answer
# for the whole base; reps, agents and analysts ask them.
IMPORT_ROLES = (Role.ADMIN, Role.MANAGER)


def can_import(user: User | None) -> bool:
    """``None`` is the operator at the command line, who has the database anyway."""
    return user is None or user.is_admin_role or user.role in IMPORT_ROLES


def check_can_import(*, user: User | None) -> None:
    if not can_import(user):
        raise PermissionDenied("import_not_allowed",
                               "Only administrators and managers may import data.")


def import_runs(*, user: User) -> QuerySet[ImportRun]:
    qs = ImportRun.objects.all()
    return qs if user.is_admin_role else qs.filter(actor=user)
