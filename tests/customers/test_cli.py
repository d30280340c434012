"""Stories about the ``guanxi customers`` and ``guanxi users`` commands (issue #2 §5)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from guanxi.accounts.models import ApiToken, Role, User, hash_token
from guanxi.cli.main import app
from guanxi.customers.models import Customer, EventType, ExternalId
from guanxi.customers.services import consent_set, customer_create, note_add
from guanxi.sales.services import order_create
from value_fixtures import give_value

runner = CliRunner()


def _ok(args: list[str], input: str | None = None) -> str:
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 0, result.output
    return result.stdout


def _json(args: list[str]) -> Any:
    return json.loads(_ok([*args, "--json"]))


def _fails(args: list[str], input: str | None = None) -> str:
    """Run a command that must fail with one sentence on stderr, and return that sentence."""
    result = runner.invoke(app, args, input=input)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0].removeprefix("Error: ")


@pytest.fixture
def book(rep1: User, rep2: User) -> dict[str, Customer]:
    """Li has 张伟 and 张玮 (one man twice) in 杭州; Wang has Ann in Boston."""
    return {
        "zw": customer_create(actor=rep1, name="张伟", city="杭州", owner=rep1,
                              phone="138 0013 8000", external_id="A1", source_system="erp"),
        "zw2": customer_create(actor=rep1, name="张玮", city="杭州", owner=rep1,
                               phone="+86 13800138000", email="zw@example.com",
                               external_id="S9", source_system="shop"),
        "ann": customer_create(actor=rep2, name="Ann Lee", city="Boston", owner=rep2,
                               email="ann@example.com"),
    }


# --- customers list ------------------------------------------------------------------------

def test_list_shows_every_customer_to_the_system(book: dict[str, Customer]) -> None:
    rows = _json(["customers", "list"])
    assert [r["name"] for r in rows] == ["Ann Lee", "张伟", "张玮"]
    assert rows[0] == {
        "id": book["ann"].pk, "name": "Ann Lee", "kind": "person", "phone": "",
        "email": "ann@example.com", "city": "Boston", "owner": "wang",
        # Never scored: no latest values yet.
        "lifecycle_stage": None, "value_tier": None, "clv": None, "last_purchase_at": None,
    }


def test_list_filters_by_owner_search_stage_and_limit(book: dict[str, Customer]) -> None:
    give_value(book["zw"], lifecycle_stage="loyal", value_tier="vip", clv=Decimal("1234.50"))

    assert [r["name"] for r in _json(["customers", "list", "--owner", "wang"])] == ["Ann Lee"]
    assert [r["name"] for r in _json(["customers", "list", "--search", "zhangwei"])] == [
        "张伟", "张玮"]
    loyal = _json(["customers", "list", "--stage", "loyal", "--tier", "vip"])
    assert [(r["name"], r["clv"]) for r in loyal] == [("张伟", "1234.50")]
    assert len(_json(["customers", "list", "--limit", "1"])) == 1


def test_list_prints_a_table(book: dict[str, Customer]) -> None:
    out = _ok(["customers", "list"])
    assert "Customers (3 of 3)" in out
    assert "Ann Lee" in out
    assert "wang" in out


def test_list_explains_a_wrong_filter_in_one_sentence(book: dict[str, Customer]) -> None:
    assert _fails(["customers", "list", "--stage", "sleepy"]) == (
        "Unknown stage 'sleepy'; use one of prospect, new, active, loyal, dormant, lost.")
    assert _fails(["customers", "list", "--owner", "nobody"]) == (
        "There is no user named 'nobody'.")


# --- customers show ------------------------------------------------------------------------

def test_show_gives_the_whole_picture(rep1: User, book: dict[str, Customer]) -> None:
    zw = book["zw"]
    note_add(actor=rep1, customer=zw, text="Allergic to peanuts", category="taboo", pinned=True)
    note_add(actor=rep1, customer=zw, text="Talked about golf")
    order_create(actor=rep1, customer=zw, external_id="SO-1", total=Decimal("199.00"),
                 placed_at=dt.datetime(2025, 3, 1, 10, tzinfo=ZoneInfo("Asia/Shanghai")))
    consent_set(actor=rep1, customer=zw, channel="sms", purpose="marketing", granted=True)

    shown = _json(["customers", "show", str(zw.pk)])

    assert shown["customer"]["name"] == "张伟"
    assert shown["customer"]["phone"] == "+8613800138000"
    assert shown["external_ids"] == [{"source": "erp", "value": "A1", "is_alias": False}]
    assert [n["text"] for n in shown["pinned_notes"]] == ["Allergic to peanuts"]
    assert shown["orders"][0]["external_id"] == "SO-1"
    assert shown["orders"][0]["total"] == "199.00"
    assert shown["consents"] == [{"channel": "sms", "purpose": "marketing", "granted": True,
                                  "recorded_at": shown["consents"][0]["recorded_at"]}]
    assert {e["type"] for e in shown["events"]} >= {"created", "note_added", "order_placed",
                                                     "consent_changed"}
    table = _ok(["customers", "show", str(zw.pk)])
    assert "Allergic to peanuts" in table
    assert "SO-1" in table


def test_show_an_unknown_customer(db: None) -> None:
    assert _fails(["customers", "show", "999"]) == "Customer 999 does not exist."


# --- customers duplicates and merge --------------------------------------------------------

def test_duplicates_lists_the_pair_with_reasons(book: dict[str, Customer]) -> None:
    pairs = _json(["customers", "duplicates"])

    assert pairs == [{
        "score": 98,
        "a": {"id": book["zw"].pk, "name": "张伟"},
        "b": {"id": book["zw2"].pk, "name": "张玮"},
        "reasons": ["same phone", "similar name in 杭州 (张伟 / 张玮, pinyin zhangwei)"],
    }]
    assert "similar name in 杭州" in _ok(["customers", "duplicates"])
    assert _json(["customers", "duplicates", "--min-score", "99"]) == []


def test_merge_with_yes(book: dict[str, Customer]) -> None:
    zw, zw2 = book["zw"], book["zw2"]

    result = _json(["customers", "merge", str(zw.pk), str(zw2.pk), "--yes"])

    assert result == {"survivor": zw.pk, "merged": zw2.pk,
                      "moved": {"events": 1, "external_ids": 1}}
    zw2.refresh_from_db()
    assert zw2.merged_into_id == zw.pk
    assert ExternalId.objects.get(value="S9").customer_id == zw.pk
    # The system made the change, not a person
    assert zw.events.get(type=EventType.MERGED).actor is None
    assert _json(["customers", "duplicates"]) == []


def test_merge_asks_first_and_shows_what_will_move(book: dict[str, Customer]) -> None:
    zw, zw2 = book["zw"], book["zw2"]
    args = ["customers", "merge", str(zw.pk), str(zw2.pk)]

    # When the person answers no, nothing happens
    declined = runner.invoke(app, args, input="n\n")
    assert declined.exit_code == 1
    assert f"Merge 张玮 (#{zw2.pk}) into 张伟 (#{zw.pk})." in declined.stderr
    assert f"This moves: 1 event, 1 external id; #{zw2.pk} stays as a pointer to #{zw.pk}." in (
        declined.stderr)
    zw2.refresh_from_db()
    assert zw2.is_active

    # When they answer yes, it is done
    out = _ok(args, input="y\n")
    assert out.strip().splitlines()[-1] == (f"Merged 张玮 (#{zw2.pk}) into 张伟 (#{zw.pk}): "
                                            "1 event, 1 external id.")


def test_merge_errors_come_before_the_question(book: dict[str, Customer]) -> None:
    zw, zw2 = book["zw"], book["zw2"]
    assert _fails(["customers", "merge", str(zw.pk), str(zw.pk)]) == (
        f"Customer {zw.pk} cannot be merged into itself.")
    assert _fails(["customers", "merge", str(zw.pk), "999"]) == "Customer 999 does not exist."
    _ok(["customers", "merge", str(zw.pk), str(zw2.pk), "--yes"])
    assert _fails(["customers", "merge", str(book["ann"].pk), str(zw2.pk)]) == (
        f"Customer {zw2.pk} (张玮) was already merged into customer {zw.pk}.")


# --- users ---------------------------------------------------------------------------------

def test_create_users_with_a_manager(db: None) -> None:
    out = _ok(["users", "create", "mei", "--role", "manager", "--email", "mei@example.com",
               "--password", "plum blossom 2025"])
    assert out.strip() == "Created mei (Manager)."
    _ok(["users", "create", "li", "--role", "rep", "--manager", "mei",
         "--password", "plum blossom 2025"])

    li = User.objects.get(username="li")
    assert li.role == Role.REP
    assert li.manager == User.objects.get(username="mei")
    assert li.check_password("plum blossom 2025")
    assert _json(["users", "list"]) == [
        {"username": "li", "role": "rep", "email": "", "manager": "mei", "is_active": True,
         "last_login": None},
        {"username": "mei", "role": "manager", "email": "mei@example.com", "manager": None,
         "is_active": True, "last_login": None},
    ]
    assert "Sales rep" in _ok(["users", "list"])


def test_create_asks_for_the_password_twice(db: None) -> None:
    _ok(["users", "create", "zhao", "--role", "agent"],
        input="plum blossom 2025\nplum blossom 2025\n")
    assert User.objects.get(username="zhao").check_password("plum blossom 2025")


def test_create_refuses_in_one_sentence(admin: User) -> None:
    assert _fails(["users", "create", "admin", "--role", "rep",
                   "--password", "plum blossom 2025"]) == "A user named 'admin' exists already."
    assert _fails(["users", "create", "li", "--role", "rep", "--manager", "nobody",
                   "--password", "plum blossom 2025"]) == "There is no user named 'nobody'."
    weak = _fails(["users", "create", "li", "--role", "rep", "--password", "123"])
    assert "too short" in weak
    assert not User.objects.filter(username="li").exists()


def test_a_token_is_printed_once_and_only_its_hash_kept(rep1: User) -> None:
    result = runner.invoke(app, ["users", "token", "li", "--name", "ERP sync"])

    assert result.exit_code == 0
    raw = result.stdout.strip()
    assert raw.startswith("gx_")
    assert "cannot be shown again" in result.stderr
    stored = ApiToken.objects.get(user=rep1)
    assert stored.name == "ERP sync"
    assert stored.digest == hash_token(raw)
    assert raw not in (stored.prefix, stored.digest)
    assert _json(["users", "token", "li", "--name", "BI"])["username"] == "li"
    assert _fails(["users", "token", "nobody", "--name", "x"]) == (
        "There is no user named 'nobody'.")


def test_the_installed_command_exits_non_zero_with_one_sentence(tmp_path: Path) -> None:
    # The real entry point (not CliRunner), on its own SQLite file: whatever database the tests
    # use, this must never touch it.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GUANXI_")}
    env["GUANXI_DATA_DIR"] = str(tmp_path)

    def guanxi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "guanxi", *args], capture_output=True,
                              text=True, env=env, check=False)

    assert guanxi("init").returncode == 0
    shown = guanxi("customers", "show", "999")
    assert shown.returncode == 2
    assert shown.stderr.strip() == "Error: Customer 999 does not exist."
    assert guanxi("users", "list", "--json").stdout.strip() == "[]"
