"""Who sees what on the pages (issue #5 §1): every cross-access is tried and refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, MemoryNote

ClientFor = Callable[[User], Client]


def test_a_rep_sees_only_their_own_customers_in_the_list(
    rep1: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    # Given Li owns 张伟 and Wang owns 刘洋
    # When Li opens the customer list
    html = client_for(rep1).get(reverse("customer_list")).content.decode()

    # Then Li sees 张伟 and not 刘洋
    assert "张伟" in html
    assert "刘洋" not in html


def test_a_manager_sees_the_whole_team(
    manager: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    html = client_for(manager).get(reverse("customer_list")).content.decode()
    assert "张伟" in html
    assert "刘洋" in html


@pytest.mark.parametrize("url_name", ["customer_detail", "customer_timeline"])
def test_a_rep_gets_404_on_another_reps_customer(
    rep1: User, liu_yang: Customer, client_for: ClientFor, url_name: str
) -> None:
    # When Li guesses the address of Wang's customer
    response = client_for(rep1).get(reverse(url_name, args=[liu_yang.pk]))

    # Then the page does not exist for Li (not even a 403 that would confirm it exists)
    assert response.status_code == 404
    assert "刘洋" not in response.content.decode()


@pytest.mark.parametrize("url_name", ["customer_note_add", "customer_interaction_add"])
def test_a_rep_cannot_write_to_another_reps_customer(
    rep1: User, liu_yang: Customer, client_for: ClientFor, url_name: str
) -> None:
    data = {"text": "x", "category": "other", "channel": "phone", "direction": "out",
            "subject": "x"}
    response = client_for(rep1).post(reverse(url_name, args=[liu_yang.pk]), data)
    assert response.status_code == 404
    assert not MemoryNote.objects.filter(customer=liu_yang).exists()
    assert not liu_yang.interactions.exists()


def test_the_analyst_sees_the_list_without_phone_or_email(
    analyst: User, zhang_wei: Customer, liu_yang: Customer, client_for: ClientFor
) -> None:
    # When Chen the analyst opens the list and a 360 page
    client = client_for(analyst)
    listing = client.get(reverse("customer_list")).content.decode()
    detail = client.get(reverse("customer_detail", args=[zhang_wei.pk])).content.decode()

    # Then every customer is there, but no phone number or e-mail address
    assert "张伟" in listing
    assert "刘洋" in listing
    for html in (listing, detail):
        assert "+8613800138000" not in html
        assert "zhangwei@example.cn" not in html
        assert "liuyang@example.cn" not in html


def test_a_rep_sees_contact_details_of_their_own_customer(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    html = client_for(rep1).get(reverse("customer_detail", args=[zhang_wei.pk])).content.decode()
    assert "+8613800138000" in html
    assert "zhangwei@example.cn" in html


@pytest.mark.parametrize("persona", ["agent", "analyst"])
def test_readers_may_view_but_not_post_notes(
    persona: str, zhang_wei: Customer, client_for: ClientFor, request: pytest.FixtureRequest
) -> None:
    # Given Zhao (service agent) or Chen (analyst), who may look at any customer
    user: User = request.getfixturevalue(persona)
    client = client_for(user)
    page = client.get(reverse("customer_detail", args=[zhang_wei.pk]))
    assert page.status_code == 200
    # The page offers no note form to them
    assert reverse("customer_note_add", args=[zhang_wei.pk]) not in page.content.decode()

    # When they post a note anyway
    response = client.post(reverse("customer_note_add", args=[zhang_wei.pk]),
                           {"text": "Call after 6 pm", "category": "preference"},
                           headers={"HX-Request": "true"})

    # Then they are refused and nothing is written
    assert response.status_code == 403
    assert not MemoryNote.objects.filter(customer=zhang_wei).exists()


def test_pages_require_sign_in(zhang_wei: Customer) -> None:
    client = Client()
    for url in (reverse("customer_list"), reverse("customer_detail", args=[zhang_wei.pk])):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_writes_need_a_csrf_token(rep1: User, zhang_wei: Customer) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(rep1)
    response = client.post(reverse("customer_note_add", args=[zhang_wei.pk]),
                           {"text": "no token", "category": "other"})
    assert response.status_code == 403
    assert not MemoryNote.objects.exists()


def test_the_analyst_cannot_find_a_customer_by_phone_or_email(
    rep1: User, analyst: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    # Chen could otherwise learn whose number 138 0013 8000 is
    client = client_for(analyst)
    for term in ("138 0013 8000", "+8613800138000", "zhangwei@example.cn"):
        html = client.get(reverse("customer_list"), {"q": term}).content.decode()
        assert "张伟" not in html, term
    # Names still work, and Li (who may see contact details) still finds the phone
    assert "张伟" in client.get(reverse("customer_list"), {"q": "zw"}).content.decode()
    assert "张伟" in client_for(rep1).get(reverse("customer_list"),
                                         {"q": "138 0013 8000"}).content.decode()
