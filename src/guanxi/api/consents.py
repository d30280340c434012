"""``/api/v1/customers/{id}/consents``: what each customer agreed to, per channel and purpose."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Router

from guanxi.api.customers import ERRORS, user_of
from guanxi.api.schemas import ConsentIn, ConsentOut
from guanxi.customers.models import Consent
from guanxi.customers.selectors import access_customer
from guanxi.customers.services import consent_set

router = Router(tags=["consents"])


@router.get("/customers/{customer_id}/consents", response={200: list[ConsentOut], **ERRORS})
def list_consents(request: HttpRequest, customer_id: int) -> list[Consent]:
    customer = access_customer(user=user_of(request), customer_id=customer_id)
    return list(customer.consents.order_by("channel", "purpose"))


@router.put("/customers/{customer_id}/consents", response={200: ConsentOut, **ERRORS})
def set_consent(request: HttpRequest, customer_id: int, payload: ConsentIn) -> Consent:
    """Record a grant or a withdrawal; sending the current state again changes nothing."""
    user = user_of(request)
    customer = access_customer(user=user, customer_id=customer_id, write=True)
    return consent_set(actor=user, customer=customer, channel=payload.channel,
                       purpose=payload.purpose, granted=payload.granted,
                       source=payload.source, evidence=payload.evidence)
