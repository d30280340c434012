"""Stories about the alert list page: filters, one-click close via htmx, the same access rules."""

from __future__ import annotations

import pytest
from django.test import Client
from retention_story import AS_OF, Shop

from guanxi.accounts.models import User
from guanxi.retention.models import AlertStatus, ChurnAlert
from guanxi.retention.services import daily_run

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_li_sees_her_alerts_and_closes_one_in_one_click(
        shop: Shop, rep1: User, rep2: User, manager: User, analyst: User,
        the_next_morning: None) -> None:
    daily_run(as_of=AS_OF)
    li = _client(rep1)
    page = li.get("/retention/alerts/")
    assert page.status_code == 200
    html = page.content.decode()
    assert shop.weekly.name in html
    assert shop.wangs_weekly.name not in html
    assert "usually orders every 7 days; 20 days since the last order" in html
    # The manager sees the team's
    assert shop.wangs_weekly.name in _client(manager).get("/retention/alerts/").content.decode()
    alert = ChurnAlert.objects.get(customer=shop.weekly)
    # Wang cannot close Li's alert
    assert _client(rep2).post(f"/retention/alerts/{alert.pk}/close/",
                              {"outcome": "lost"}).status_code == 404
    # The analyst sees the list but no close buttons, and cannot post one
    analyst_page = _client(analyst).get("/retention/alerts/").content.decode()
    assert f'action="/retention/alerts/{alert.pk}/close/"' not in analyst_page
    assert _client(analyst).post(f"/retention/alerts/{alert.pk}/close/",
                                 {"outcome": "lost"}).status_code == 403
    # Li dismisses it with htmx: the row comes back closed
    response = li.post(f"/retention/alerts/{alert.pk}/close/", {"outcome": "dismissed"},
                       headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert f'id="alert-{alert.pk}"' in response.content.decode()
    assert "Dismissed" in response.content.decode()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.DISMISSED
    assert alert.closed_by == rep1
    # Filtered by status, the dismissed alert is listed; the open list no longer shows it
    dismissed = li.get("/retention/alerts/", {"status": "dismissed"}).content.decode()
    assert shop.weekly.name in dismissed
    assert shop.weekly.name not in li.get("/retention/alerts/").content.decode()
    # A fragment for the filters' htmx swap
    fragment = li.get("/retention/alerts/", {"status": "dismissed"},
                      headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment


def test_the_due_page_lists_the_rice_buyer_for_li_only(
        shop: Shop, rep1: User, rep2: User, the_next_morning: None) -> None:
    daily_run(as_of=AS_OF)
    assert "Rice 10 kg" in _client(rep1).get("/retention/due/").content.decode()
    assert "Rice 10 kg" not in _client(rep2).get("/retention/due/").content.decode()


def test_the_pages_need_a_signed_in_person(db: None) -> None:
    assert Client().get("/retention/alerts/").status_code == 302
