"""Finding a customer: what a rep types, and what the analyst may not use."""

from __future__ import annotations

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, Kind
from guanxi.customers.selectors import customer_list, customers_visible
from guanxi.customers.services import customer_create


def _names(qs: object) -> set[str]:
    return {c.name for c in qs}  # type: ignore[attr-defined]


def test_rep_finds_by_initials_pinyin_surname_phone_and_external_id(rep1: User) -> None:
    # Given two of Li's customers
    customer_create(actor=rep1, name="张伟", owner=rep1, phone="138 0013 8000",
                    external_id="ERP-7")
    customer_create(actor=rep1, name="王芳", owner=rep1, email="Wang.Fang@Example.com")
    # When Li searches the way people type, then the right customer comes back
    assert _names(customer_list(user=rep1, search="zw")) == {"张伟"}
    assert _names(customer_list(user=rep1, search="zhang wei")) == {"张伟"}
    assert _names(customer_list(user=rep1, search="张")) == {"张伟"}
    assert _names(customer_list(user=rep1, search="13800138000")) == {"张伟"}
    assert _names(customer_list(user=rep1, search="ERP-7")) == {"张伟"}
    assert _names(customer_list(user=rep1, search="wang.fang@example.com")) == {"王芳"}


def test_short_terms_match_the_start_of_a_name_long_terms_anywhere(rep1: User) -> None:
    customer_create(actor=rep1, name="John Smith", owner=rep1)
    customer_create(actor=rep1, name="Ajo Otieno", owner=rep1)
    assert _names(customer_list(user=rep1, search="jo")) == {"John Smith"}
    assert _names(customer_list(user=rep1, search="smith")) == {"John Smith"}


def test_analyst_cannot_find_a_customer_by_phone_or_email(analyst: User, rep1: User) -> None:
    customer_create(actor=rep1, name="张伟", owner=rep1, phone="13800138000",
                    email="zw@example.com")
    assert _names(customer_list(user=analyst, search="13800138000")) == set()
    assert _names(customer_list(user=analyst, search="zw@example.com")) == set()
    assert _names(customer_list(user=analyst, search="zw")) == {"张伟"}


def test_rep_sees_contacts_of_their_organizations_and_manager_sees_the_team(
    rep1: User, rep2: User, manager: User
) -> None:
    org = customer_create(actor=rep1, name="Acme 贸易", kind=Kind.ORGANIZATION, owner=rep1)
    contact = customer_create(actor=None, name="李雷", organization=org)
    other = customer_create(actor=rep2, name="韩梅梅", owner=rep2)
    assert set(customers_visible(user=rep1)) == {org, contact}
    assert set(customers_visible(user=rep2)) == {other}
    assert set(customers_visible(user=manager)) == {org, contact, other}
    assert Customer.objects.count() == 3


def test_who_may_give_customers_to_whom(
    admin: User, manager: User, rep1: User, rep2: User, agent: User, analyst: User
) -> None:
    from guanxi.customers.selectors import can_add_customers, can_assign_owner

    # A rep may take a customer, never hand one to a colleague.
    assert can_assign_owner(rep1, rep1)
    assert not can_assign_owner(rep1, rep2)
    assert not can_assign_owner(rep1, None)
    # A manager hands customers within the team, or leaves them unassigned.
    assert can_assign_owner(manager, rep2)
    assert can_assign_owner(manager, None)
    assert not can_assign_owner(manager, admin)
    # An admin may give anyone to anyone; readers may not even take one.
    assert can_assign_owner(admin, rep1)
    assert not can_assign_owner(agent, agent)
    assert not can_add_customers(analyst)
