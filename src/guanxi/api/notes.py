"""``/api/v1/customers/{id}/notes``: what to remember about a customer (M2)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.api.schemas import NoteIn, NoteOut, NotePageOut
from guanxi.core.pagination import MAX_PAGE_SIZE, keyset_page
from guanxi.customers.models import MemoryNote
from guanxi.customers.selectors import access_customer
from guanxi.customers.services import note_add

router = Router(tags=["notes"])


class PageParams(Schema):
    after: int | None = Field(None, description="The `next` cursor of the previous page.")
    limit: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


@router.get("/customers/{customer_id}/notes", response={200: NotePageOut, **ERRORS})
def list_notes(request: HttpRequest, customer_id: int,
               page: Query[PageParams]) -> dict[str, Any]:
    customer = access_customer(user=user_of(request), customer_id=customer_id)
    result = keyset_page(MemoryNote.objects.filter(customer=customer), after=page.after,
                         limit=page.limit)
    return {"items": result.items, "next": result.next_cursor}


@router.post("/customers/{customer_id}/notes", response={201: NoteOut, **ERRORS})
def add_note(request: HttpRequest, customer_id: int,
             payload: NoteIn) -> Status[MemoryNote]:
    user = user_of(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    note = note_add(actor=user, customer=customer, text=payload.text,
                    category=payload.category, pinned=payload.pinned)
    return Status(201, note)
