"""The parsers on the spellings real exports use, and the header mapping."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from guanxi.imports.errors import ImportMappingError
from guanxi.imports.mapping import map_headers, parse_map_options, require_fields
from guanxi.imports.parsing import parse_amount, parse_date, parse_datetime, parse_quantity

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("raw", "expected"), [
    ("2024-01-05", dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    ("2024/1/5", dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    ("20240105", dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    ("2024-01-05 13:45", dt.datetime(2024, 1, 5, 13, 45, tzinfo=SHANGHAI)),
    ("2024-01-05T13:45:30", dt.datetime(2024, 1, 5, 13, 45, 30, tzinfo=SHANGHAI)),
    ("2024年1月5日", dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    ("2024-01-05T05:45:00Z", dt.datetime(2024, 1, 5, 13, 45, tzinfo=SHANGHAI)),
    ("45296", dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    ("45296.5", dt.datetime(2024, 1, 5, 12, tzinfo=SHANGHAI)),
    (45296, dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    (20240105, dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
    (dt.datetime(2024, 1, 5, 9), dt.datetime(2024, 1, 5, 9, tzinfo=SHANGHAI)),
    (dt.date(2024, 1, 5), dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)),
])
def test_parse_datetime_reads_what_exports_write(raw: object, expected: dt.datetime) -> None:
    value = parse_datetime(raw)
    assert value == expected
    assert value.tzinfo is not None


@pytest.mark.parametrize("raw", ["", "yesterday", "2024-02-30", "5/1/2024", "2024-13-01"])
def test_parse_datetime_rejects_with_a_reason(raw: str) -> None:
    with pytest.raises(ValueError, match=r"date"):
        parse_datetime(raw)


def test_parse_date_of_a_birthday() -> None:
    assert parse_date("1985/3/7") == dt.date(1985, 3, 7)


@pytest.mark.parametrize(("raw", "expected"), [
    ("¥1,234.50", Decimal("1234.50")),
    ("￥1,234.50", Decimal("1234.50")),
    ("$12.00", Decimal("12.00")),
    ("-88.00", Decimal("-88.00")),
    ("(88.00)", Decimal("-88.00")),
    ("88.00-", Decimal("-88.00")),
    ("−88", Decimal("-88")),
    ("RMB 1 000", Decimal("1000")),
    ("1000元", Decimal("1000")),
    (99.9, Decimal("99.9")),
    (12, Decimal("12")),
])
def test_parse_amount(raw: object, expected: Decimal) -> None:
    assert parse_amount(raw) == expected


@pytest.mark.parametrize("raw", ["", "十元", "1.2.3", "abc", "--5"])
def test_parse_amount_rejects(raw: str) -> None:
    with pytest.raises(ValueError, match="amount"):
        parse_amount(raw)


def test_quantity_defaults_to_one() -> None:
    assert parse_quantity("") == Decimal(1)
    assert parse_quantity("3") == Decimal(3)


def test_map_headers_in_chinese_and_english() -> None:
    headers = ["订单号", "客户编号", "下单时间", "实付金额(元)", "数量", "商品", "_reason"]
    assert map_headers(headers, "orders") == {
        "订单号": "external_id", "客户编号": "customer_external_id", "下单时间": "placed_at",
        "实付金额(元)": "amount", "数量": "quantity", "商品": "product"}
    assert map_headers(["Order ID", "Customer ID", "Order Date", "Total"], "orders") == {
        "Order ID": "external_id", "Customer ID": "customer_external_id",
        "Order Date": "placed_at", "Total": "amount"}
    assert map_headers(["客户编号", "姓名", "电话"], "customers") == {
        "客户编号": "external_id", "姓名": "name", "电话": "phone"}


def test_map_overrides_win_and_are_checked() -> None:
    mapping = map_headers(["金额", "实付"], "orders", overrides={"实付": "amount"})
    assert mapping == {"实付": "amount"}
    with pytest.raises(ImportMappingError, match="not a field of orders"):
        map_headers(["a"], "orders", overrides={"a": "price_tag"})
    with pytest.raises(ImportMappingError, match="does not have"):
        map_headers(["a"], "orders", overrides={"b": "amount"})
    with pytest.raises(ImportMappingError, match="COLUMN=FIELD"):
        parse_map_options(["amount"])


def test_require_fields_names_missing_and_found() -> None:
    with pytest.raises(ImportMappingError, match=r"amount.*Its columns are: x, y"):
        require_fields({"x": "external_id"}, "orders", ["x", "y"])
