"""The care calendar (issue #6 §3): birthdays — lunar ones too — festivals, anniversaries and the
thank-you after a first purchase become dated tasks, once each."""

from __future__ import annotations

import datetime as dt

import holidays
import numpy as np
import pytest
import time_machine

from guanxi.accounts.models import User
from guanxi.care import calendar
from guanxi.care.models import Task, TaskKind
from guanxi.care.services import care_tasks_create
from guanxi.core.errors import ValidationFailed
from guanxi.customers.models import Customer, ImportantDate
from guanxi.customers.services import consent_set, customer_update, note_add

from .conftest import SHANGHAI, buy

NO_FESTIVALS = {"festivals": {code: None for code in (
    "new_year", "spring_festival", "lantern", "dragon_boat", "mid_autumn", "national_day")}}


# --- pure date arithmetic -------------------------------------------------------------------

def test_a_lunar_mid_autumn_birthday_falls_on_the_mid_autumn_festival() -> None:
    # Given someone born on lunar 1990-08-15 (the Mid-Autumn Festival; Gregorian 1990-10-03)
    born = dt.date(1990, 8, 15)
    # Then each year their birthday is the Mid-Autumn Festival's Gregorian day
    assert calendar.next_occurrence(born, is_lunar=True,
                                    on_or_after=dt.date(2026, 1, 1)) == dt.date(2026, 9, 25)
    assert calendar.next_occurrence(born, is_lunar=True,
                                    on_or_after=dt.date(2026, 9, 26)) == dt.date(2027, 9, 15)
    # and agrees with the public-holiday table
    table = holidays.country_holidays("CN", years=2026, language="en_US")
    assert table.get(dt.date(2026, 9, 25)) == "Mid-Autumn Festival"


def test_lunar_dates_early_in_a_gregorian_year_belong_to_the_previous_lunar_year() -> None:
    # Lunar 11/20 of lunar year 2025 is 8 January 2026
    assert calendar.next_occurrence(dt.date(1980, 11, 20), is_lunar=True,
                                    on_or_after=dt.date(2026, 1, 1)) == dt.date(2026, 1, 8)


def test_day_30_of_a_short_lunar_month_falls_back_to_day_29() -> None:
    # Lunar 2026's 12th month has 29 days (its 29th is 2027-02-05, the 1st of 2027's first
    # month is 2027-02-06): the 30th falls on the 29th
    assert calendar.lunar_in_year(12, 29, 2026) == dt.date(2027, 2, 5)
    assert calendar.lunar_in_year(12, 30, 2026) == dt.date(2027, 2, 5)


def test_29_february_falls_on_the_28th_in_common_years() -> None:
    assert calendar.next_occurrence(dt.date(1992, 2, 29),
                                    on_or_after=dt.date(2026, 1, 1)) == dt.date(2026, 2, 28)
    assert calendar.next_occurrence(dt.date(1992, 2, 29),
                                    on_or_after=dt.date(2028, 1, 1)) == dt.date(2028, 2, 29)


def test_the_anniversaries_of_a_column_of_days_match_the_calendar_one_by_one() -> None:
    # Given first-purchase days around year ends and 29 February, and windows of 0 to 366 days
    from guanxi.care.services import _yearly_in_window

    days = [dt.date(2020, 2, 29), dt.date(2021, 2, 28), dt.date(2019, 12, 31),
            dt.date(2019, 1, 1), dt.date(2023, 3, 1), dt.date(2025, 7, 15), dt.date(2026, 1, 2)]
    column = np.array(days, dtype="datetime64[D]")
    for start, horizon in [(dt.date(2026, 2, 20), 14), (dt.date(2028, 2, 28), 1),
                           (dt.date(2026, 12, 25), 14), (dt.date(2026, 1, 1), 366),
                           (dt.date(2026, 7, 15), 0), (dt.date(2027, 3, 1), 300)]:
        end = start + dt.timedelta(days=horizon)
        # When they are matched all at once
        when, year = _yearly_in_window(column, start, end)
        # Then each gets the day and year that calendar.occurrence_in_window gives it
        for k, day in enumerate(days):
            expected = calendar.occurrence_in_window(day, is_lunar=False, yearly=True,
                                                     start=start, end=end)
            got = None if np.isnat(when[k]) else (when[k].astype(dt.date), int(year[k]))
            assert got == expected, (day, start, end)


def test_the_lunar_festivals_match_the_public_holiday_table_for_a_decade() -> None:
    # Our lunar arithmetic and the holidays package agree on the festivals both know
    for year in range(2020, 2031):
        for (month, day), name in (((5, 5), "Dragon Boat Festival"),
                                   ((8, 15), "Mid-Autumn Festival"),
                                   ((1, 1), "Chinese New Year (Spring Festival)")):
            # (2020's Mid-Autumn shares 1 October with National Day: "A; B" in the table)
            assert calendar.lunar_in_year(month, day, year) == calendar.holiday_date(
                name, country="CN", year=year)


# --- the daily calendar -----------------------------------------------------------------------

@pytest.mark.django_db
def test_a_lunar_birthday_becomes_a_task_on_its_gregorian_day(
    rep1: User, zhang_wei: Customer
) -> None:
    # Given 张伟 celebrates his birthday on lunar 8/15 and agreed to WeChat greetings
    ImportantDate.objects.create(customer=zhang_wei, kind="birthday", date=dt.date(1990, 8, 15),
                                 is_lunar=True)
    consent_set(actor=rep1, customer=zhang_wei, channel="wechat", purpose="marketing",
                granted=True)
    note_add(actor=rep1, customer=zhang_wei, text="爱喝普洱茶", category="preference",
             pinned=True)
    # When the calendar runs on 2026-09-15 for the next 14 days
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
    # Then Li has a birthday task on 25 September, drafted in Chinese, to send on WeChat
    assert counts["birthday"]["created"] == 1
    task = Task.objects.get(kind=TaskKind.BIRTHDAY)
    assert task.due_on == dt.date(2026, 9, 25)
    assert task.owner == rep1
    assert task.channel == "wechat"
    assert "张伟" in task.message
    assert "生日快乐" in task.message
    assert "普洱茶" in task.message


@pytest.mark.django_db
def test_running_the_calendar_twice_creates_nothing_new(
    rep1: User, zhang_wei: Customer, liu_yang: Customer
) -> None:
    # Given a Gregorian birthday, a customer who bought in 2024 and one who just bought
    customer_update(actor=rep1, customer=zhang_wei, birthday=dt.date(1985, 10, 3))
    buy(zhang_wei, dt.datetime(2024, 9, 28, 15, tzinfo=SHANGHAI), ("tea-1", "tea"))
    buy(liu_yang, dt.datetime(2026, 9, 14, 20, tzinfo=SHANGHAI), ("tea-2", "tea"))
    conf = {"festival_tiers": None}
    # When the calendar runs on 15 September, again the same day, and again the next day
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        first = care_tasks_create(as_of=dt.date(2026, 9, 15), horizon_days=20, overrides=conf)
        second = care_tasks_create(as_of=dt.date(2026, 9, 15), horizon_days=20, overrides=conf)
    with time_machine.travel(dt.datetime(2026, 9, 16, 7, tzinfo=SHANGHAI), tick=False):
        third = care_tasks_create(as_of=dt.date(2026, 9, 16), horizon_days=20, overrides=conf)
    # Then the first run made a birthday, a 2-year anniversary, a thank-you, and Mid-Autumn and
    # National Day greetings for both buyers
    assert first["birthday"]["created"] == 1
    assert first["anniversary"]["created"] == 1
    assert first["thank_you"]["created"] == 1
    assert first["festival"]["created"] == 4
    # and the later runs created nothing new
    assert all(c["created"] == 0 for c in second.values())
    assert second["festival"]["unchanged"] == 4
    assert all(c["created"] == 0 for c in third.values())
    assert Task.objects.count() == 7
    anniversary = Task.objects.get(kind=TaskKind.ANNIVERSARY)
    assert anniversary.due_on == dt.date(2026, 9, 28)
    assert "2" in anniversary.title
    thanks = Task.objects.get(kind=TaskKind.THANK_YOU)
    assert thanks.customer == liu_yang
    assert thanks.due_on == dt.date(2026, 9, 15)
    assert thanks.channel == ""  # no consent recorded: the page says so


@pytest.mark.django_db
def test_a_taboo_note_cancels_the_occasion_and_is_never_quoted(
    rep1: User, zhang_wei: Customer
) -> None:
    # Given 张伟 does not celebrate birthdays, and bought once (so he gets festival greetings)
    customer_update(actor=rep1, customer=zhang_wei, birthday=dt.date(1985, 9, 20))
    note_add(actor=rep1, customer=zhang_wei, text="不过生日 (does not celebrate birthdays)",
             category="taboo")
    buy(zhang_wei, dt.datetime(2025, 3, 1, 10, tzinfo=SHANGHAI), ("tea-1", "tea"))
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15),
                                   overrides={"festival_tiers": None})
    # Then no birthday task, but the Mid-Autumn greeting stands
    assert counts["birthday"] == {"created": 0, "closed": 0, "unchanged": 0, "skipped_taboo": 1}
    assert list(Task.objects.values_list("kind", flat=True)) == [TaskKind.FESTIVAL]


@pytest.mark.django_db
def test_company_festivals_are_configurable(rep1: User, zhang_wei: Customer) -> None:
    # Given a company that drops the defaults and greets on its own founding day
    buy(zhang_wei, dt.datetime(2025, 3, 1, 10, tzinfo=SHANGHAI), ("tea-1", "tea"))
    conf = {**NO_FESTIVALS, "festival_tiers": None, "language": "en",
            "festivals": {**NO_FESTIVALS["festivals"],
                          "founding": {"gregorian": [9, 20], "label": "Founding Day"}}}
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=conf)
    assert counts["festival"]["created"] == 1
    task = Task.objects.get()
    assert task.due_on == dt.date(2026, 9, 20)
    assert "Founding Day" in task.message
    assert task.message.startswith("Dear 张伟")


@pytest.mark.django_db
def test_a_festival_spec_needs_one_way_to_find_its_day() -> None:
    with pytest.raises(ValidationFailed) as err:
        care_tasks_create(as_of=dt.date(2026, 9, 15),
                          overrides={"festivals": {"odd": {"label": "Odd"}}})
    assert err.value.field == "GUANXI_CARE"


@pytest.mark.django_db
def test_a_key_account_partnership_has_its_anniversary(rep1: User) -> None:
    from guanxi.customers.services import customer_create
    from guanxi.insights.models import KeyAccountPlan

    # Given 华美集团 became a key account on 2024-09-20
    account = customer_create(actor=rep1, name="华美集团", kind="organization", owner=rep1)
    began = dt.datetime(2024, 9, 20, 10, tzinfo=SHANGHAI)
    KeyAccountPlan.objects.create(account=account, owner=rep1, created_at=began,
                                  updated_at=began)
    # When the calendar runs on 15 September 2026
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
    # Then Li is reminded of the second anniversary of the partnership
    assert counts["anniversary"]["created"] == 1
    task = Task.objects.get()
    assert task.due_on == dt.date(2026, 9, 20)
    assert "合作" in task.message
    assert "2" in task.title


@pytest.mark.django_db
def test_after_scoring_anniversaries_and_festival_tiers_read_the_latest_values(
    rep1: User, zhang_wei: Customer, liu_yang: Customer
) -> None:
    from value_fixtures import give_value

    # Given a scoring run: 张伟 is a VIP whose first purchase was on 2023-09-18; 刘洋 ordinary
    with time_machine.travel(dt.datetime(2026, 9, 14, 7, tzinfo=SHANGHAI), tick=False):
        give_value(zhang_wei, value_tier="vip",
                   first_purchase_at=dt.datetime(2023, 9, 18, 11, tzinfo=SHANGHAI))
        give_value(liu_yang, value_tier="ordinary",
                   first_purchase_at=dt.datetime(2025, 1, 5, 11, tzinfo=SHANGHAI))
    for c in (zhang_wei, liu_yang):
        buy(c, dt.datetime(2025, 1, 5, 11, tzinfo=SHANGHAI), ("tea-1", "tea"))
    # When the calendar runs with festival greetings for VIPs only
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15),
                                   overrides={"festival_tiers": ["vip"]})
    # Then the third anniversary comes from the score, and only the VIP gets Mid-Autumn wishes
    assert counts["anniversary"]["created"] == 1
    anniversary = Task.objects.get(kind=TaskKind.ANNIVERSARY)
    assert anniversary.due_on == dt.date(2026, 9, 18)
    assert "3" in anniversary.title
    festival = Task.objects.filter(kind=TaskKind.FESTIVAL)
    assert list(festival.values_list("customer__name", flat=True)) == ["张伟"]


@pytest.mark.django_db
def test_a_merged_customer_gets_no_anniversary_from_the_scores(
    rep1: User, zhang_wei: Customer, liu_yang: Customer
) -> None:
    from value_fixtures import give_value

    # Given two scored customers whose first purchases were on 2023-09-18, one merged since
    with time_machine.travel(dt.datetime(2026, 9, 14, 7, tzinfo=SHANGHAI), tick=False):
        for c in (zhang_wei, liu_yang):
            give_value(c, first_purchase_at=dt.datetime(2023, 9, 18, 11, tzinfo=SHANGHAI))
    Customer.objects.filter(pk=liu_yang.pk).update(is_active=False, merged_into=zhang_wei)
    # When the calendar runs
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
    # Then only the active customer's anniversary is made
    assert counts["anniversary"] == {"created": 1, "closed": 0, "unchanged": 0,
                                     "skipped_taboo": 0}
    assert list(Task.objects.values_list("customer__name", flat=True)) == ["张伟"]


@pytest.mark.django_db
def test_a_calendar_task_moved_by_a_person_is_not_created_again(
    rep1: User, zhang_wei: Customer
) -> None:
    from guanxi.care.services import task_update

    customer_update(actor=rep1, customer=zhang_wei, birthday=dt.date(1985, 9, 20))
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
        # Li moves the birthday call to a day outside the calendar's window
        task_update(actor=rep1, task=Task.objects.get(), due_on=dt.date(2026, 12, 1))
        care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
    assert Task.objects.count() == 1


@pytest.mark.django_db
def test_the_thank_you_read_leaves_the_planner_as_it_found_it(liu_yang: Customer) -> None:
    from django.db import connection

    # Given a customer who just bought (their thank-you is read without sequential scans)
    buy(liu_yang, dt.datetime(2026, 9, 14, 20, tzinfo=SHANGHAI), ("tea-2", "tea"))
    with time_machine.travel(dt.datetime(2026, 9, 15, 7, tzinfo=SHANGHAI), tick=False):
        counts = care_tasks_create(as_of=dt.date(2026, 9, 15), overrides=NO_FESTIVALS)
    assert counts["thank_you"]["created"] == 1
    # Then the rest of the transaction plans as before
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('enable_seqscan')")
            assert cursor.fetchone()[0] == "on"
