"""The fast paths of the order import (issue #2 performance) give exactly what the slow ones do.

The import reads the common spellings (``2024-01-05 13:45``, ``¥1,234.50``) without the full
parsers, converts times to UTC with one offset per day, and parses the next chunk in a thread
while the database writes the current one. Each shortcut must agree with the general way,
including on the days a zone with daylight saving time changes its clocks.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import threading
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection
from django.test import override_settings

from guanxi.accounts.models import User
from guanxi.customers import events
from guanxi.customers.models import Customer, CustomerEvent
from guanxi.imports.errors import ImportFileError
from guanxi.imports.models import ImportRun, ImportStatus
from guanxi.imports.parsing import iso_datetime, parse_amount, parse_datetime, plain_amount
from guanxi.imports.services import (
    _can_check_keys_per_chunk,
    _check_keys,
    _DbTime,
    import_customers,
    import_orders,
)
from guanxi.sales.models import Order, OrderLine

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
CUSTOMERS = [["客户编号", "客户名称"], ["C001", "张伟"], ["C002", "李娜"]]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def read_report(path: str | Path) -> list[dict[str, str]]:
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("raw", [
    "2024-01-05", "2024-01-05 13:45", "2024-01-05 13:45:30", "2024-02-29 00:00",
    "2024-02-30", "2024-13-01", "2024-01-05 24:00", " 2024-01-05", "2024-01-05T13:45",
    "２０２４-01-05", "2024-1-5", "2024/01/05", "20240105", "", "2024-01-05 13:45+08:00",
])
def test_iso_fast_path_agrees_with_the_full_parser(raw: str) -> None:
    fast = iso_datetime(raw, SHANGHAI)
    if fast is None:
        return  # the import hands it to parse_datetime
    full = parse_datetime(raw, "Asia/Shanghai")
    assert (fast, fast.tzinfo) == (full, full.tzinfo)


def test_iso_fast_path_leaves_impossible_dates_to_the_full_parser() -> None:
    assert iso_datetime("2024-02-30", SHANGHAI) is None
    with pytest.raises(ValueError, match="not a valid date"):
        parse_datetime("2024-02-30", "Asia/Shanghai")


@pytest.mark.parametrize("raw", [
    "88", "-88.00", "¥1,234.50", "￥1,234.50", "$12.00", "1 000", "€3", "£0.5", "1,2,3",
    "(88.00)", "88.00-", "−88", "RMB 1 000", "1000元", "abc", "", "1.", ".5", "1e3", "١٢",
    "\t12", "¥-5",
])
def test_amount_fast_path_agrees_with_the_full_parser(raw: str) -> None:
    fast = plain_amount(raw)
    if fast is None:
        return
    full = parse_amount(raw)
    assert fast == full
    assert str(fast) == str(full)


def _around(day: dt.date, zone: ZoneInfo) -> list[dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min)
    return [(start + dt.timedelta(minutes=15 * i)).replace(tzinfo=zone, fold=fold)
            for i in range(-8, 4 * 24 + 8) for fold in (0, 1)]


@pytest.mark.parametrize(("zone", "day"), [
    ("Europe/Berlin", dt.date(2024, 3, 31)),       # clocks forward at 02:00
    ("Europe/Berlin", dt.date(2024, 10, 27)),      # back at 03:00: 02:xx twice
    ("America/New_York", dt.date(2024, 11, 3)),
    ("Australia/Lord_Howe", dt.date(2024, 4, 7)),  # a half-hour change
    ("Asia/Shanghai", dt.date(2024, 1, 5)),
    ("Asia/Shanghai", dt.date(1991, 4, 14)),       # China had DST until 1991
])
def test_day_offsets_match_zoneinfo_on_days_the_clocks_change(zone: str, day: dt.date) -> None:
    sqlite, postgres = _DbTime("sqlite"), _DbTime("postgresql")
    for value in _around(day, ZoneInfo(zone)):
        utc = value.astimezone(dt.UTC)
        assert sqlite(value) == str(utc.replace(tzinfo=None)), value
        assert dt.datetime.fromisoformat(postgres(value)) == utc, value


class TestOrderImportFastPaths:
    @pytest.fixture
    def known_customers(self, manager: User, tmp_path: Path) -> None:
        import_customers(path=write_csv(tmp_path / "customers.csv", CUSTOMERS),
                         actor=manager)

    @pytest.mark.usefixtures("known_customers")
    def test_a_shop_in_berlin_imports_orders_of_the_night_the_clocks_went_back(
            self, manager: User, tmp_path: Path) -> None:
        # Given a shop whose till runs on Berlin time, with orders around both DST changes
        rows = [["订单号", "客户编号", "下单时间", "实付金额"],
                ["D1", "C001", "2024-03-31 01:30", "10"],
                ["D2", "C001", "2024-03-31 03:30", "20"],
                ["D3", "C002", "2024-10-27 02:30", "30"],
                ["D4", "C002", "2024-10-27 12:00:00", "¥1,040.50"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        with override_settings(TIME_ZONE="Europe/Berlin"):
            # When the orders are imported
            result = import_orders(path=path, actor=manager)
            # Then each is stored at the instant zoneinfo gives for the wall-clock time
            assert (result.created, result.rejected) == (4, 0)
            stored = dict(Order.objects.values_list("external_id", "placed_at"))
            for ext, wall in (("D1", "2024-03-31 01:30"), ("D2", "2024-03-31 03:30"),
                              ("D3", "2024-10-27 02:30"), ("D4", "2024-10-27 12:00")):
                expected = dt.datetime.fromisoformat(wall).replace(tzinfo=BERLIN)
                # (in UTC: Python finds no 02:30 of the night clocks go back equal to
                # a time in another zone)
                assert stored[ext] == expected.astimezone(dt.UTC), ext
            assert Order.objects.get(external_id="D4").total == Decimal("1040.50")
            # And importing the file again finds every order unchanged
            again = import_orders(path=path, actor=manager)
        assert (again.unchanged, again.created, again.rejected) == (4, 0, 0)

    def test_odd_characters_in_order_numbers_reach_the_database_as_written(
            self, manager: User, tmp_path: Path) -> None:
        # Given an export whose order numbers, customer numbers, SKUs and channels hold the
        # characters COPY and array literals treat specially
        odd = ["A\tB", "back\\slash", 'say "hi"', "two\nlines", "\\N", "NULL", "a,b",
               "{x}", '","', "cr\rx", "普通"]
        rows = [["订单号", "客户编号", "下单时间", "实付金额", "商品", "渠道"]]
        for i, text in enumerate(odd):
            rows.append([f"{text}-{i}", f"{text}#c", "2024-05-01 10:00", f"{i + 1}",
                         f"{text}-sku", text])
        rows.append(["plain", "plain#c", "2024-05-01 10:00", "9", "", ""])
        path = write_csv(tmp_path / "orders.csv", rows)
        # When it is imported with its customers, then imported again
        first = import_orders(path=path, actor=manager, create_customers=True)
        again = import_orders(path=path, actor=manager)
        # Then every order is stored with exactly the file's texts
        assert (first.created, first.rejected) == (len(odd) + 1, 0)
        stored = {o.external_id: o for o in Order.objects.select_related("customer")}
        for i, text in enumerate(odd):
            order = stored[f"{text}-{i}"]
            assert order.channel == text
            assert order.customer.external_ids.get().value == f"{text}#c"
            assert order.lines.get().product.sku == f"{text}-sku"
            assert CustomerEvent.objects.get(data__order_id=order.pk).data["external_id"] \
                == f"{text}-{i}"
        assert stored["plain"].lines.get().product is None
        # And the second import finds every order unchanged
        assert (again.unchanged, again.created, again.rejected) == (len(odd) + 1, 0, 0)

    def test_column_by_column_and_row_by_row_store_the_same(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a clean export with every optional column: orders of one line and of several,
        # a refund, a status, quantities, spaces around values, another currency, and a
        # later line of an order that disagrees with its first
        rows = [["订单号", "客户编号", "客户名称", "下单时间", "实付金额", "数量", "商品", "状态",
                 "渠道", "币种"],
                ["W1", "C001", "张伟", "2024-05-01 10:00", "¥1,234.50", "2", "茶叶", "已完成",
                 "门店", "cny"],
                ["W2", " C002 ", "李娜", "2024-05-02 11:00:30", "-88", "", " 茶杯 ", "", "",
                 ""],
                ["W3", "C001", "张伟", "2024-05-03 09:00", "10.005", "1.5", "茶叶", "已付款",
                 "网店", "USD"],
                ["W3", "C001", "张伟", "2024-05-03 09:00", "3", "1", "茶壶", "", "", "USD"],
                ["W4", "C009", "王芳", "2024-05-04 12:00", "5", "3", "", "", "", ""],
                ["W3", "C002", "李娜", "2024-05-03 09:00", "7", "1", "茶盘", "", "", "USD"]]
        path = write_csv(tmp_path / "orders.csv", rows)

        def stored() -> list[tuple[object, ...]]:
            return sorted(Order.objects.values_list(
                "external_id", "customer__external_ids__value", "customer__name", "placed_at",
                "status", "channel", "currency", "total", "lines__product__sku",
                "lines__quantity", "lines__amount"))

        # When it is imported column by column, and (after deleting it all) row by row
        def run() -> tuple[tuple[int, ...], list[tuple[object, ...]], list[list[str]]]:
            result = import_orders(path=path, actor=manager, create_customers=True)
            report = [[r["_line"], r["_field"], r["_reason"]]
                      for r in read_report(result.error_report or "")]
            counts = (result.created, result.rejected, result.customers_created)
            return counts, stored(), report

        from guanxi.imports.services import _OrderImport
        by_columns = _OrderImport.group_columns
        taken = tmp_path / "taken"  # (a file: the parsing runs in another process)

        def spy(self: _OrderImport, chunk: list[tuple[int, dict[str, str]]],
                rejects: list[tuple[int, dict[str, str], str, str]]) -> object:
            orders = by_columns(self, chunk, rejects)
            with taken.open("a") as fh:
                fh.write(f"{orders is not None}\n")
            return orders

        monkeypatch.setattr(_OrderImport, "group_columns", spy)
        columns = run()
        assert taken.read_text() == "True\n"  # (the file is one the columns take)
        again = import_orders(path=path, actor=manager)
        CustomerEvent.objects.all().delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        Customer.objects.all().delete()
        monkeypatch.setattr("guanxi.imports.services._OrderImport.group_columns",
                            lambda self, chunk, rejects: None)
        by_rows = run()
        # Then both ways store the same orders and report the same row
        assert columns == by_rows
        assert columns[0] == (5, 1, 3)
        assert columns[2] == [["7", "订单号", "order W3 appears on line 4 with another "
                               "customer, time or currency"]]
        assert (again.unchanged, again.created, again.rejected) == (5, 0, 1)

    def test_the_cycle_collector_is_on_again_after_an_import(
            self, manager: User, tmp_path: Path) -> None:
        # Given the collector is on
        import gc
        assert gc.isenabled()
        # When an import succeeds, and another fails on an unreadable file
        path = write_csv(tmp_path / "orders.csv", [["订单号", "客户编号", "下单时间", "实付金额"],
                                                   ["G1", "C001", "2024-05-01 10:00", "1"]])
        import_orders(path=path, actor=manager, create_customers=True)
        assert gc.isenabled()
        broken = tmp_path / "broken.xlsx"
        broken.write_bytes(b"PK\x03\x04 not a workbook")
        with pytest.raises(ImportFileError):
            import_orders(path=broken, actor=manager)
        # Then it is on after each
        assert gc.isenabled()

    def test_an_import_leaves_no_cycles_for_the_collector(
            self, manager: User, tmp_path: Path) -> None:
        # Given 2,000 order rows, some rejected, some orders of two lines, both ways of parsing
        import gc
        rows = [["订单号", "客户编号", "下单时间", "实付金额"]]
        rows += [[f"N{i // 2}", f"C{i % 50}", "2024-05-01 10:00",
                  "oops" if i % 97 == 0 else "5"] for i in range(2000)]
        path = write_csv(tmp_path / "orders.csv", rows)
        gc.collect()
        gc.disable()
        try:
            # When it is imported (and again) with the collector off
            import_orders(path=path, actor=manager, create_customers=True, chunk_size=500)
            import_orders(path=path, actor=manager, chunk_size=500)
            # Then reference counting freed everything: nothing per row waits for the
            # collector, which is why the import may pause it
            assert gc.collect() < 200
        finally:
            gc.enable()

    def test_the_database_writes_the_same_order_events_as_order_event_rows(
            self, manager: User, tmp_path: Path) -> None:
        # Given orders with a refund, a round total, a zero and an order number JSON escapes
        rows = [["订单号", "客户编号", "下单时间", "实付金额", "商品"],
                ["V1", "C001", "2024-05-01 10:00", "¥1,234.50", "茶叶"],
                ["V2", "C001", "2024-05-02 10:00", "-88", "茶叶"],
                ["V3", "C002", "2024-05-03 10:00", "100", "茶杯"],
                ["V3", "C002", "2024-05-03 10:00", "0.10", "茶壶"],
                ['V"4\\', "C002", "2024-05-04 10:00", "0", ""],
                ["订单5", "C002", "2024-05-05 10:00", "999999999999.99", ""]]
        path = write_csv(tmp_path / "orders.csv", rows)
        # When they are imported
        result = import_orders(path=path, actor=manager, create_customers=True)
        # Then each order's event is what order_event_rows says for it
        assert (result.created, result.rejected) == (6, 0)
        for order in Order.objects.all():
            expected = next(events.order_event_rows(
                orders=[(order.customer_id, order.pk, order.external_id, order.placed_at,
                         order.total, order.currency, order.status == "refunded")],
                actor_id=manager.pk))
            event = CustomerEvent.objects.get(data__order_id=order.pk)
            assert (event.customer_id, event.type, event.occurred_at, event.actor_id,
                    event.data) == (*expected[:4], json.loads(expected[4]))
            if connection.vendor == "sqlite":  # stored as text: the very same text
                with connection.cursor() as cursor:
                    cursor.execute("SELECT data FROM customers_customerevent WHERE id = %s",
                                   [event.pk])
                    assert cursor.fetchone()[0] == expected[4]
        assert CustomerEvent.objects.get(data__order_id=Order.objects.get(
            external_id="V2").pk).type == "order_refunded"

    @pytest.mark.usefixtures("known_customers")
    def test_rows_rejected_while_reading_ahead_are_reported_in_file_order(
            self, manager: User, tmp_path: Path) -> None:
        # Given bad rows in several chunks, and a row for a customer nobody imported
        rows = [["订单号", "客户编号", "下单时间", "实付金额"]]
        for i in range(12):
            rows.append([f"E{i}", "C001", "2024-05-01 10:00", "oops" if i % 3 == 0 else "5"])
        rows.append(["E99", "C404", "2024-05-01", "5"])
        path = write_csv(tmp_path / "orders.csv", rows)
        # When they are imported in chunks of four rows
        result = import_orders(path=path, actor=manager, chunk_size=4)
        # Then the counts add up and the report lists the rows in the order of the file
        assert (result.read, result.created, result.rejected) == (13, 8, 5)
        report = read_report(result.error_report or "")
        assert [r["_line"] for r in report] == ["2", "5", "8", "11", "14"]
        assert [r["_field"] for r in report] == ["实付金额"] * 4 + ["客户编号"]

    @pytest.mark.usefixtures("known_customers")
    def test_parsing_in_a_process_and_in_a_thread_store_and_report_the_same(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given orders over several chunks: two-line orders, a bad amount, a customer nobody
        # imported (its order rejected whole, after parsing), a refund and odd characters
        rows = [["订单号", "客户编号", "下单时间", "实付金额", "商品", "渠道"]]
        for i in range(30):
            rows.append([f"P{i // 2}", "C001" if i // 2 % 5 else "C002", "2024-05-01 10:00",
                         "oops" if i == 7 else f"{i - 3}.5", f"S{i % 3}", "a\tb" if i == 4 else ""])
        rows += [["P99", "C404", "2024-05-02", "5", "S1", ""],
                 ["P99", "C404", "2024-05-02", "6", "S2", ""]]
        path = write_csv(tmp_path / "orders.csv", rows)

        def run() -> tuple[object, ...]:
            result = import_orders(path=path, actor=manager, chunk_size=6)
            stored = sorted(Order.objects.values_list(
                "external_id", "customer__name", "placed_at", "status", "channel", "total",
                "lines__product__sku", "lines__amount"))
            events = sorted((name, kind, at, sorted((k, v) for k, v in data.items()
                                                    if k != "order_id"))
                            for name, kind, at, data in CustomerEvent.objects.filter(
                                type__startswith="order").values_list(
                                    "customer__name", "type", "occurred_at", "data"))
            report = [list(r.values()) for r in read_report(result.error_report or "")]
            return (result.read, result.created, result.rejected), stored, events, report

        # When it is imported with a parsing process, and (after deleting it) with a thread
        in_process = run()
        CustomerEvent.objects.filter(type__startswith="order").delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        monkeypatch.setattr("guanxi.imports.services._CAN_FORK", False)
        in_thread = run()
        # Then both store and report the same, the rejected order's rows as the file has them
        assert in_process == in_thread
        assert in_process[0] == (32, 29, 3)
        assert in_process[3][-2:] == [
            ["P99", "C404", "2024-05-02", "5", "S1", "", "32", "客户编号", in_process[3][-1][-1]],
            ["P99", "C404", "2024-05-02", "6", "S2", "", "33", "客户编号", in_process[3][-1][-1]]]

    @pytest.mark.usefixtures("known_customers")
    def test_a_file_broken_after_some_chunks_keeps_them_and_stops_the_reader(
            self, manager: User, tmp_path: Path) -> None:
        # Given an export whose bytes go bad after a few hundred KB (past the sample read
        # to detect the encoding), with long remarks so a few rows fill that
        path = tmp_path / "orders.csv"
        with path.open("wb") as fh:
            fh.write("订单号,客户编号,下单时间,实付金额,备注\n".encode())
            for i in range(300):
                fh.write(f"F{i},C001,2024-05-01 10:00,5,{'x' * 1000}\n".encode())
            fh.write(b"F300,C001,2024-05-01 10:00,5,\xff\xfe bad bytes\n")
        # When it is imported in chunks of 100 rows
        with pytest.raises(ImportFileError, match="not valid utf-8"):
            import_orders(path=path, actor=manager, chunk_size=100)
        # Then the chunks read before the bad bytes are stored whole
        stored = Order.objects.filter(external_id__startswith="F").count()
        assert stored > 0
        assert stored % 100 == 0
        # And their customer's last purchase was brought along before the import stopped
        zhang = Customer.objects.get(external_ids__value="C001")
        assert zhang.last_purchase_at == dt.datetime(2024, 5, 1, 10, tzinfo=SHANGHAI)
        # And the run is recorded as failed, and no reading thread is left behind
        run = ImportRun.objects.latest("pk")
        assert run.status == ImportStatus.FAILED
        assert not [t for t in threading.enumerate() if t.name == "guanxi-import-read-ahead"]
        assert not multiprocessing.active_children()

    @pytest.mark.usefixtures("known_customers")
    def test_last_purchase_follows_the_newest_order_across_chunks(
            self, manager: User, tmp_path: Path) -> None:
        # Given orders of one customer spread over chunks, newest in the middle, and a refund
        rows = [["订单号", "客户编号", "下单时间", "实付金额"],
                ["L1", "C001", "2024-05-01 10:00", "5"],
                ["L2", "C002", "2024-05-01 10:00", "5"],
                ["L3", "C001", "2024-07-01 09:00", "5"],
                ["L4", "C001", "2024-06-01 10:00", "5"],
                ["L5", "C001", "2024-08-01 10:00", "-5"],
                ["L6", "C002", "2024-04-01 10:00", "5"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        # When a dry run and then the import run in chunks of two rows
        dry = import_orders(path=path, actor=manager, chunk_size=2, dry_run=True)
        real = import_orders(path=path, actor=manager, chunk_size=2)
        # Then both count the same, and each customer's last purchase is their newest order
        assert (dry.created, real.created) == (6, 6)
        last = dict(Customer.objects.values_list("external_ids__value", "last_purchase_at"))
        assert last["C001"] == dt.datetime(2024, 7, 1, 9, tzinfo=SHANGHAI)
        assert last["C002"] == dt.datetime(2024, 5, 1, 10, tzinfo=SHANGHAI)

    def test_customers_created_by_a_dry_run_are_not_remembered(
            self, manager: User, tmp_path: Path) -> None:
        # Given orders of a new customer in two chunks
        rows = [["订单号", "客户编号", "客户名称", "下单时间", "实付金额"],
                ["N1", "NEW", "Bob", "2024-05-01", "5"],
                ["N2", "X", "Xu", "2024-05-01", "5"],
                ["N3", "NEW", "Bob", "2024-05-02", "5"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        # When a dry run creates the customers, then the real run does
        dry = import_orders(path=path, actor=manager, chunk_size=2, dry_run=True,
                            create_customers=True)
        real = import_orders(path=path, actor=manager, chunk_size=2, create_customers=True)
        # Then both say the same, and the orders are stored against the real customer
        assert (dry.created, dry.customers_created) == (3, 2)
        assert (real.created, real.customers_created, real.rejected) == (3, 2, 0)
        bob = Customer.objects.get(external_ids__value="NEW")
        assert sorted(bob.orders.values_list("external_id", flat=True)) == ["N1", "N3"]

    @pytest.mark.usefixtures("known_customers")
    def test_an_interrupted_import_run_again_repairs_the_last_purchases(
            self, manager: User, tmp_path: Path) -> None:
        # Given an import whose orders were stored but which was killed before it could move
        # its customers' last purchases (they are moved once, at the end)
        rows = [["订单号", "客户编号", "下单时间", "实付金额"],
                ["K1", "C001", "2024-05-01 10:00", "5"],
                ["K2", "C002", "2024-06-01 10:00", "5"],
                ["K3", "C001", "2024-07-01 10:00", "-5"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        import_orders(path=path, actor=manager, chunk_size=1)
        Customer.objects.update(last_purchase_at=None)
        # When the same file is imported again
        again = import_orders(path=path, actor=manager, chunk_size=1)
        # Then nothing is written twice, and the last purchases are right (the refund is none)
        assert (again.unchanged, again.created) == (3, 0)
        last = dict(Customer.objects.values_list("external_ids__value", "last_purchase_at"))
        assert last == {"C001": dt.datetime(2024, 5, 1, 10, tzinfo=SHANGHAI),
                        "C002": dt.datetime(2024, 6, 1, 10, tzinfo=SHANGHAI)}

    @pytest.mark.usefixtures("known_customers")
    def test_an_order_moved_back_by_a_later_chunk_moves_the_last_purchase_back(
            self, manager: User, tmp_path: Path) -> None:
        # Given a file that names order M1 twice, the second time (a later chunk) earlier
        rows = [["订单号", "客户编号", "下单时间", "实付金额"],
                ["M1", "C001", "2024-07-01 10:00", "5"],
                ["M2", "C002", "2024-06-01 10:00", "5"],
                ["M3", "C001", "2024-03-01 10:00", "5"],
                ["M1", "C001", "2024-05-01 10:00", "5"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        # When it is imported with --update, one row per chunk
        result = import_orders(path=path, actor=manager, chunk_size=1, update=True)
        # Then M1 is stored as the later row says, and so is the customer's last purchase
        assert (result.created, result.updated) == (3, 1)
        zhang = Customer.objects.get(external_ids__value="C001")
        assert zhang.last_purchase_at == dt.datetime(2024, 5, 1, 10, tzinfo=SHANGHAI)


    @pytest.mark.usefixtures("known_customers")
    def test_an_order_across_a_chunk_boundary_and_a_conflict_in_a_later_chunk(
            self, manager: User, tmp_path: Path) -> None:
        # Given an order of three lines where a chunk of two rows would end, and a later row
        # (another chunk, parsed ahead while the first is written) reusing its number
        rows = [["订单号", "客户编号", "下单时间", "实付金额", "商品"],
                ["B1", "C001", "2024-05-01 10:00", "10", "茶叶"],
                ["B2", "C002", "2024-05-02 10:00", "1", "茶杯"],
                ["B2", "C002", "2024-05-02 10:00", "2", "茶壶"],
                ["B2", "C002", "2024-05-02 10:00", "3", "茶盘"],
                ["B3", "C001", "2024-05-03 10:00", "5", "茶叶"],
                ["B2", "C002", "2024-05-09 10:00", "6", "茶叶"]]
        path = write_csv(tmp_path / "orders.csv", rows)
        # When it is imported in chunks of two rows
        result = import_orders(path=path, actor=manager, chunk_size=2)
        # Then the three lines make one order, and the later B2 is rejected as a conflict
        assert (result.read, result.created, result.rejected) == (6, 5, 1)
        b2 = Order.objects.get(external_id="B2")
        assert (b2.total, b2.lines.count()) == (Decimal("6.00"), 3)
        report = read_report(result.error_report or "")
        assert [(r["_line"], r["_field"]) for r in report] == [("7", "下单时间")]
        assert "use --update" in report[0]["_reason"]
        # And one event per order, and the last purchases follow the stored orders
        assert CustomerEvent.objects.filter(type="order_placed").count() == 3
        last = dict(Customer.objects.values_list("external_ids__value", "last_purchase_at"))
        assert last["C002"] == dt.datetime(2024, 5, 2, 10, tzinfo=SHANGHAI)

@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's foreign-key triggers")
@pytest.mark.django_db
class TestForeignKeysCheckedPerChunk:
    """On PostgreSQL the order import checks foreign keys once per chunk, not per row."""

    @pytest.fixture
    def orders_file(self, manager: User, tmp_path: Path) -> Path:
        import_customers(path=write_csv(tmp_path / "customers.csv", CUSTOMERS), actor=manager)
        rows = [["订单号", "客户编号", "下单时间", "实付金额", "商品"]]
        rows += [[f"P{i}", f"C00{1 + i % 2}", f"2024-05-0{1 + i % 9} 10:00", f"{i}.50",
                  f"SKU-{i % 3}"] for i in range(10)]
        return write_csv(tmp_path / "orders.csv", rows)

    def test_the_fast_way_and_the_row_by_row_way_store_the_same(
            self, manager: User, orders_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given the test database's user may skip the per-row checks
        assert _can_check_keys_per_chunk()
        # When the file is imported the fast way, then (after deleting it all) row by row
        def stored() -> list[tuple[object, ...]]:
            return sorted(Order.objects.values_list(
                "external_id", "customer__name", "placed_at", "total", "lines__product__sku",
                "lines__amount"))
        fast = import_orders(path=orders_file, actor=manager, chunk_size=4)
        first = stored()
        events_first = CustomerEvent.objects.filter(type="order_placed").count()
        CustomerEvent.objects.filter(type="order_placed").delete()
        OrderLine.objects.all().delete()
        Order.objects.all().delete()
        monkeypatch.setattr("guanxi.imports.services._can_check_keys_per_chunk", lambda: False)
        slow = import_orders(path=orders_file, actor=manager, chunk_size=4)
        # Then both stored the same orders, lines and events
        assert (fast.created, slow.created) == (10, 10)
        assert stored() == first
        assert CustomerEvent.objects.filter(type="order_placed").count() == events_first == 10

    def test_a_customer_that_no_longer_exists_fails_the_chunk(self) -> None:
        # Given a customer id nobody has
        missing = (Customer.objects.order_by("-pk").values_list("pk", flat=True).first()
                   or 0) + 1000
        # When the chunk's keys are checked, then it fails as a foreign key would
        with pytest.raises(IntegrityError, match="no longer exist"):
            _check_keys(Customer, {missing})

    def test_a_trigger_on_the_order_tables_keeps_the_row_by_row_checks(self) -> None:
        # Given someone added a trigger to the orders table (replica mode would skip it)
        with connection.cursor() as cursor:
            cursor.execute("CREATE FUNCTION guanxi_test_noop() RETURNS trigger "
                           "LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'")
            cursor.execute("CREATE TRIGGER guanxi_test_noop BEFORE INSERT ON sales_order "
                           "FOR EACH ROW EXECUTE FUNCTION guanxi_test_noop()")
        # Then the import does not take the fast way (the test's transaction drops both)
        assert not _can_check_keys_per_chunk()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's planner statistics")
@pytest.mark.django_db
def test_a_large_customer_import_leaves_statistics_for_the_order_import_after_it(
        tmp_path: Path) -> None:
    # Given a customer list large enough to be analysed after it is loaded
    rows = [["客户编号", "客户名称"]] + [[f"S{i:05d}", f"客户{i}"] for i in range(1_200)]
    path = write_csv(tmp_path / "customers.csv", rows)
    # When it is imported
    import_customers(path=path, actor=None)
    # Then the planner knows how many customer numbers there are (ANALYZE sets reltuples)
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'customers_externalid'")
        assert cursor.fetchone()[0] >= 1_200
