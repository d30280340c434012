"""The customer 360 page (issue #5 §2): memory first, value, dates, consent, timeline."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import time_machine
from django.test import Client
from django.urls import reverse

from guanxi.accounts.models import User
from guanxi.customers import events
from guanxi.customers.models import (
    Customer,
    CustomerEvent,
    EventType,
    ImportantDate,
    Interaction,
    MemoryNote,
)
from guanxi.customers.services import (
    consent_set,
    customer_create,
    interaction_log,
    note_add,
)
from value_fixtures import give_value

ClientFor = Callable[[User], Client]
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


def _detail(client: Client, customer: Customer) -> str:
    response = client.get(reverse("customer_detail", args=[customer.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_pinned_notes_come_before_the_others(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    # Given a recent ordinary note and an older pinned one
    with time_machine.travel(dt.datetime(2026, 1, 1, 9, tzinfo=SHANGHAI), tick=False):
        note_add(actor=rep1, customer=zhang_wei, text="Needs a drafting table in the room",
                 category="request", pinned=True)
    with time_machine.travel(dt.datetime(2026, 3, 1, 9, tzinfo=SHANGHAI), tick=False):
        note_add(actor=rep1, customer=zhang_wei, text="Asked about the spring catalogue")
    # When Li opens the 360 page
    html = _detail(client_for(rep1), zhang_wei)
    # Then the standing request is shown first, however old it is
    assert html.index("Needs a drafting table") < html.index("Asked about the spring")
    assert html.index("Needs a drafting table") < html.index('id="timeline"')


def test_posting_a_note_with_htmx_returns_the_fragment(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    client = client_for(rep1)
    # When Li adds a pinned preference without reloading the page
    response = client.post(reverse("customer_note_add", args=[zhang_wei.pk]),
                           {"text": "Prefers calls after 6 pm", "category": "preference",
                            "pinned": "on"},
                           headers={"HX-Request": "true"})
    # Then the notes fragment comes back with the note, and the timeline is told to refresh
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="notes"' in html
    assert "Prefers calls after 6 pm" in html
    assert response["HX-Trigger"] == "timeline-changed"
    note = MemoryNote.objects.get(customer=zhang_wei)
    assert (note.pinned, note.author, note.category) == (True, rep1, "preference")
    # And it shows on the page from then on, and on the timeline
    page = _detail(client, zhang_wei)
    assert "Prefers calls after 6 pm" in page
    assert CustomerEvent.objects.filter(customer=zhang_wei, type=EventType.NOTE_ADDED).exists()


def test_an_empty_note_shows_the_field_error(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    response = client_for(rep1).post(reverse("customer_note_add", args=[zhang_wei.pk]),
                                     {"text": "   ", "category": "other"},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "errors" in response.content.decode()
    assert not MemoryNote.objects.exists()


def test_a_note_without_htmx_redirects_back(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    response = client_for(rep1).post(reverse("customer_note_add", args=[zhang_wei.pk]),
                                     {"text": "Plain form post", "category": "other"})
    assert response.status_code == 302
    assert response["Location"] == reverse("customer_detail", args=[zhang_wei.pk])


def test_a_logged_interaction_appears_on_the_timeline(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    client = client_for(rep1)
    # When Li logs a call from the 360 page
    response = client.post(reverse("customer_interaction_add", args=[zhang_wei.pk]),
                           {"channel": "phone", "direction": "out",
                            "subject": "Follow-up on the quote", "outcome": "Will order"},
                           headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response["HX-Trigger"] == "timeline-changed"
    assert "Interaction logged." in response.content.decode()
    interaction = Interaction.objects.get(customer=zhang_wei)
    assert interaction.author == rep1
    # Then the refreshed timeline shows it
    timeline = client.get(reverse("customer_timeline", args=[zhang_wei.pk])).content.decode()
    assert "Follow-up on the quote" in timeline
    assert "Phone" in timeline


def test_an_interaction_needs_a_subject_and_a_known_channel(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    response = client_for(rep1).post(reverse("customer_interaction_add", args=[zhang_wei.pk]),
                                     {"channel": "pigeon", "direction": "out", "subject": ""},
                                     headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert response.content.decode().count('class="errors"') >= 1
    assert not Interaction.objects.exists()


def test_the_timeline_shows_everything_newest_first_in_pages(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    # Given 35 calls over 35 days, an order and a consent change
    base = dt.datetime(2026, 1, 1, 10, tzinfo=SHANGHAI)
    for day in range(35):
        interaction_log(actor=rep1, customer=zhang_wei, channel="phone",
                        subject=f"call {day:02d}", occurred_at=base + dt.timedelta(days=day))
    events.order_events_bulk(orders=[(zhang_wei.pk, 1, "SO-1001",
                                      base + dt.timedelta(days=40), Decimal("1234.50"),
                                      "CNY", False)])
    consent_set(actor=rep1, customer=zhang_wei, channel="sms", purpose="marketing",
                granted=False)
    client = client_for(rep1)

    html = _detail(client, zhang_wei)
    # Then the order (newest dated event) precedes the latest call, which precedes older ones
    assert "SO-1001" in html
    assert "¥1,234.50" in html
    assert html.index("SO-1001") < html.index("call 34") < html.index("call 30")
    # And the oldest calls wait behind "Show older"
    assert "call 00" not in html
    assert "Show older" in html

    seen = set()
    cursor_url = reverse("customer_timeline", args=[zhang_wei.pk])
    for _ in range(5):
        part = client.get(cursor_url).content.decode()
        seen |= {f"call {d:02d}" for d in range(35) if f"call {d:02d}" in part}
        if "Show older" not in part:
            break
        start = part.index('hx-get="') + len('hx-get="')
        cursor_url = part[start:part.index('"', start)].replace("&amp;", "&")
    assert len(seen) == 35


def test_value_card_dates_consent_and_related_people(
    rep1: User, rep2: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    # Given scores from the value engine, a birthday, consent and relations
    give_value(zhang_wei, clv=Decimal("8800.00"), p_alive=0.87,
               expected_next_purchase=dt.date(2026, 7, 1), rfm_segment="champions",
               value_tier="vip", lifecycle_stage="loyal")
    ImportantDate.objects.create(customer=zhang_wei, kind="birthday", date=dt.date(1980, 6, 20))
    consent_set(actor=rep1, customer=zhang_wei, channel="wechat", purpose="marketing",
                granted=True)
    org = customer_create(actor=rep1, name="远景设计公司", kind="organization", owner=rep1)
    friend = customer_create(actor=rep1, name="王芳", owner=rep1, referred_by=zhang_wei)
    hidden = customer_create(actor=rep2, name="秘密客户", owner=rep2)
    Customer.objects.filter(pk=zhang_wei.pk).update(organization=org, referred_by=hidden)
    CustomerEvent.objects.create(customer=zhang_wei, type=EventType.SCORE_CHANGED,
                                 occurred_at=dt.datetime(2026, 6, 1, tzinfo=SHANGHAI),
                                 data={"old": {"clv": "8000.00"}, "new": {"clv": "8800.00"}})

    # When Li opens the page on 10 June 2026
    with time_machine.travel(dt.datetime(2026, 6, 10, 9, tzinfo=SHANGHAI), tick=False):
        html = _detail(client_for(rep1), zhang_wei)

    assert "¥8,800.00" in html
    assert "87%" in html
    assert "Champions" in html  # the RFM segment, named for people
    assert "VIP" in html
    assert "Loyal" in html
    assert "▲ ¥800.00" in html
    assert "Birthday in 10 days" in html
    assert 'class="consent-yes"' in html
    assert "远景设计公司" in html
    assert friend.name in html
    # Wang's customer who referred 张伟 is not named to Li
    assert "秘密客户" not in html
    # The value card explains itself on hover
    assert "present value of the profit" in html


def test_the_value_trend_compares_the_last_two_snapshots(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    from guanxi.value.models import CustomerScore, ScoreRun

    # Given two complete value snapshots a month apart, and an older failed one
    runs = [
        ScoreRun.objects.create(as_of=dt.date(2026, 4, 30), status=status,
                                created_at=dt.datetime(2026, 5, 1, tzinfo=SHANGHAI))
        for status in ("complete", "failed")
    ]
    runs.append(ScoreRun.objects.create(as_of=dt.date(2026, 5, 31), status="complete",
                                        created_at=dt.datetime(2026, 6, 1, tzinfo=SHANGHAI)))
    for run, clv, p_alive in ((runs[0], "1000.00", 0.90), (runs[1], "99999.00", 0.1),
                              (runs[2], "850.00", 0.70)):
        CustomerScore.objects.create(run=run, customer=zhang_wei, lifecycle_stage="active",
                                     clv=Decimal(clv), p_alive=p_alive)

    html = _detail(client_for(rep1), zhang_wei)

    # Then the card shows CLV down ¥150 and P(alive) down 20 points since 30 April
    assert "▼ -¥150.00" in html
    assert "P −20%" in html
    assert "since 04/30/2026" in html


def test_the_page_reads_a_bounded_number_of_queries(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from guanxi.value.models import CustomerScore, ScoreRun

    # Given two snapshots, an organization, a referrer and a note: every panel has something
    for as_of, clv in ((dt.date(2026, 4, 30), "1000.00"), (dt.date(2026, 5, 31), "850.00")):
        run = ScoreRun.objects.create(as_of=as_of, status="complete",
                                      created_at=dt.datetime(2026, 6, 1, tzinfo=SHANGHAI))
        CustomerScore.objects.create(run=run, customer=zhang_wei, lifecycle_stage="active",
                                     clv=Decimal(clv), p_alive=0.5)
    org = customer_create(actor=rep1, name="远景设计公司", kind="organization", owner=rep1)
    friend = customer_create(actor=rep1, name="王芳", owner=rep1)
    Customer.objects.filter(pk=zhang_wei.pk).update(organization=org, referred_by=friend)
    note_add(actor=rep1, customer=zhang_wei, text="prefers calls after 6 pm", pinned=True)
    client = client_for(rep1)

    # When Li opens the page
    with CaptureQueriesContext(connection) as queries:
        html = _detail(client, zhang_wei)

    # Then it shows them all from about one query per panel (over twenty before: the
    # visibility filter five times, the score trend in three steps, the owner and the run
    # each on its own)
    assert "▼ -¥150.00" in html
    assert "远景设计公司" in html
    assert "王芳" in html
    sql = [q["sql"][:90] for q in queries.captured_queries]
    assert len(sql) <= 15, "\n".join(sql)
