"""The import as a background task: the upload page enqueues it, the worker (``guanxi serve``)
runs it, and the page polls the ``ImportRun`` the import service keeps up to date.

Arguments are JSON (a path, ids), never model instances: the task may run in another process,
minutes later, after the request that enqueued it has gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_tasks import task

from guanxi.accounts.models import User
from guanxi.imports import services
from guanxi.imports.models import ImportKind


def importer_for(kind: str) -> Callable[..., services.ImportResult]:
    """The import service for ``kind`` (customers, orders or interactions)."""
    if kind == ImportKind.CUSTOMERS:
        return services.import_customers
    if kind == ImportKind.ORDERS:
        return services.import_orders
    if kind == ImportKind.INTERACTIONS:
        return services.import_interactions
    raise ValueError(f"unknown import kind {kind!r}")


@task()
def import_file_task(*, path: str, kind: str, actor_id: int | None,
                     mapping: dict[str, str] | None = None, update: bool = False) -> dict[str, Any]:
    """Import ``path`` as ``kind`` on behalf of ``actor_id``; return the import's summary.

    The import service records its own ``ImportRun`` (progress per chunk, then the status and
    the error report), so a failure here is visible on the page as a failed run too.
    """
    actor = User.objects.get(pk=actor_id) if actor_id is not None else None
    importer = importer_for(kind)
    result = importer(path=path, actor=actor, mapping=mapping or None, update=update)
    return result.as_dict()
