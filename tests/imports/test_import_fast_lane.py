"""The order import's fast lane (``guanxi.imports.columnar`` and binary COPY) gives exactly
what the row path gives.

Mei imports her shop's CSV export. On PostgreSQL, blocks of it are read by Apache Arrow and
new orders written by binary COPY, two chunks at a time; any block the fast lane cannot read
exactly like the row path goes the row path's way. Whatever lane a block takes, the stored
orders, their lines and events, the customers' last purchases, the counts and the error report
must be the same. (Forcing the row path: ``text_layout`` patched to return None.)
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pytest
from django.db import connection

from guanxi.accounts.models import User
from guanxi.customers.models import Customer, CustomerEvent, EventType
from guanxi.imports import columnar, services
from guanxi.imports.services import ImportResult, import_customers, import_orders
from guanxi.sales.models import Order, OrderLine, Product

on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the fast lane (Arrow blocks, binary COPY, parallel writers) is PostgreSQL's; "
           "SQLite always takes the row path")

ORDER_HEADER = "订单号,客户编号,下单时间,实付金额,数量,商品,状态,渠道,币种\n"
ORDER_EVENTS = [EventType.ORDER_PLACED, EventType.ORDER_REFUNDED]


# ---------------------------------------------------------------------------------------------
# helpers


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def import_known_customers(actor: User, tmp_path: Path, count: int = 2) -> None:
    rows = "客户编号,客户名称\n" + "".join(f"C{i:03d},客户{i}\n" for i in range(1, count + 1))
    result = import_customers(path=write_text(tmp_path / "customers.csv", rows), actor=actor)
    assert result.created == count


def row_path_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "text_layout", lambda table: None)


def snapshot(result: ImportResult) -> dict[str, Any]:
    """What an import stored and said, without the ids that differ between two imports."""
    orders = {o.external_id: (o.customer_id, o.placed_at, o.status, o.total, o.currency,
                              o.channel)
              for o in Order.objects.all()}
    pks = dict(Order.objects.values_list("pk", "external_id"))
    lines = sorted((line.order.external_id, line.product.sku if line.product else None,
                    line.quantity, line.amount)
                   for line in OrderLine.objects.select_related("order", "product"))
    evs = []
    for event in CustomerEvent.objects.filter(type__in=ORDER_EVENTS):
        data = dict(event.data)
        # The event names its order by id: the same order (by number) it was written for.
        assert pks[data.pop("order_id")] == data["external_id"]
        evs.append((event.customer_id, event.type, event.occurred_at, sorted(data.items())))
    report = Path(result.error_report).read_text(encoding="utf-8-sig") \
        if result.error_report else None
    return {
        "orders": orders,
        "lines": lines,
        "events": sorted(evs),
        "last_purchase": dict(Customer.objects.values_list("pk", "last_purchase_at")),
        "counts": (result.read, result.created, result.updated, result.unchanged,
                   result.rejected, result.customers_created),
        "report": report,
    }


def wipe_orders() -> None:
    """Back to the customers alone, for the same file's import the other way."""
    CustomerEvent.objects.filter(type__in=ORDER_EVENTS).delete()
    OrderLine.objects.all().delete()
    Order.objects.all().delete()
    Product.objects.all().delete()
    Customer.objects.update(last_purchase_at=None)


class ChunkKinds:
    """Which chunks the import wrote as Arrow columns and which as the row path's."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.kinds: list[str] = []
        original = services._OrderImport.process
        seen = self.kinds

        def process(importer: Any, chunk: Any) -> Any:
            seen.append("fast" if isinstance(chunk, columnar.OrderColumns) else "rows")
            return original(importer, chunk)

        monkeypatch.setattr(services._OrderImport, "process", process)


def both_lanes(monkeypatch: pytest.MonkeyPatch, run: Callable[[], ImportResult],
               before: Callable[[], None] | None = None) -> tuple[dict[str, Any],
                                                                   dict[str, Any]]:
    """The snapshot after ``run`` with the fast lane, then after ``run`` by rows only."""
    if before is not None:
        before()
    fast = snapshot(run())
    wipe_orders()
    with monkeypatch.context() as patch:
        row_path_only(patch)
        if before is not None:
            before()
        rows = snapshot(run())
    return fast, rows


def report_rows(report: str | None) -> list[list[str]] | None:
    """The report's header, then its rows in line order (see
    ``test_the_error_report_lists_rows_in_the_same_order_either_lane`` for the order)."""
    if report is None:
        return None
    header, *rows = csv.reader(io.StringIO(report, newline=""))
    assert header[-3:] == ["_line", "_field", "_reason"]
    return [header, *sorted(rows, key=lambda row: (int(row[-3]), row))]


def assert_same(fast: dict[str, Any], rows: dict[str, Any]) -> None:
    for key in ("orders", "lines", "events", "last_purchase", "counts"):
        assert fast[key] == rows[key], key
    assert report_rows(fast["report"]) == report_rows(rows["report"])


# ---------------------------------------------------------------------------------------------
# 1. the same result either lane

# Lines of the file (line 1 is the header). chunk_size=4: blocks of 4 lines (5 taken).
MESSY_ORDERS = ORDER_HEADER + "".join([
    # 2-5: a block the fast lane reads (several spellings it knows)
    'A01,C001,2024-01-05,"¥1,234.50",2,SKU-TEA,已付款,tmall,CNY\n',
    "A02,C002,2024-01-05 13:45,-88,1,,,tmall,\n",
    "A03,C001,2024-01-06 09:15:30,1234.5,1.5,SKU-CUP,completed,jd,usd\n",
    "A04,C002,2024-01-07,99.99,,,,,\n",
    # 6-10: a multi-line order (A07) straddling the block boundary
    "A05,C001,2024-01-08 10:00,10,1,SKU-TEA,paid,tmall,CNY\n",
    "A06,C002,2024-01-09 11:00,20,1,,,,\n",
    "A07,C001,2024-02-01 08:00,5,1,SKU-TEA,,,\n",
    "A07,C001,2024-02-01 08:00,7.5,2,SKU-CUP,,,\n",
    "A07,C001,2024-02-01 08:00,1,1,SKU-SPOON,,,\n",
    # 11-13: rejects and a rounded amount
    "A08,C002,2024-02-30,10,,,,,\n",
    ",C001,2024-02-02,10,,,,,\n",
    "A09,C001,2024-02-03 12:00,1.005,1,,,,\n",
    # 14: a blank line, 15: a doubled quote, 16-17: a quoted line break, 18: a short row
    "\n",
    'A10,C002,2024-02-04,"12",1,"SKU ""Q""",,,\n',
    'A11,C001,2024-02-05,30,1,"SKU\nTWO",,,\n',
    "A12,C002,2024-02-06\n",
    # 19-22: an order number repeated later (same values), one with other values, an unknown
    # customer, a short row with an amount
    "A05,C001,2024-01-08 10:00,10,1,SKU-TEA,paid,tmall,CNY\n",
    "A06,C002,2024-01-09 11:00,25,1,,,,\n",
    "A13,C404,2024-02-07,10,,,,,\n",
    "A14,C001,2024-02-08 07:00,40\n",
    # 23-26: a clean block, the day Berlin moves its clocks forward among them
    "A15,C002,2024-03-31 01:30,11.10,3,SKU-TEA,已完成,jd,EUR\n",
    "A16,C001,2024-03-31 03:30,12,1,,,,\n",
    "A17,C002,2024-04-01,13,1,,交易成功,,\n",
    "A18,C001,2024-04-02 00:00:01,14.5,1,,shipped,,\n",
    # 27-30: a clean block the fast lane reads, then the file's last line without a break
    "A19,C001,2024-05-01,1,1,,,,\n",
    "A20,C002,2024-05-02,2,1,,,,\n",
    "A21,C001,2024-05-03 23:59:59,3,1,,,,\n",
    "A22,C002,2024-05-04 00:00,-4,1,,,,\n",
    # 31-34: the night Berlin's clocks go back (02:30 comes twice): the row path's block
    "A23,C001,2024-05-05,5,1,,,,\n",
    "A24,C001,2024-10-27 02:30,6,1,,,,\n",
    "A25,C002,2024-10-27 12:00:00,7,1,,,,\n",
    "A26,C002,2024-10-28,8,1,,,,\n",
    # 35: the file's last line, without a line break
    "A27,C001,2024-10-29,9,1,,,,",
])


@on_postgres
class TestSameResultEitherLane:
    @pytest.fixture(autouse=True)
    def berlin(self, settings: Any) -> None:
        settings.TIME_ZONE = "Europe/Berlin"

    def test_a_messy_export_is_stored_the_same_by_blocks_and_by_rows(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given Mei's customers and an export with every kind of row the row path knows
        import_known_customers(manager, tmp_path)
        path = write_text(tmp_path / "orders.csv", MESSY_ORDERS)
        kinds = ChunkKinds(monkeypatch)

        # When it is imported with the fast lane, and again (fresh) by rows only
        def run() -> ImportResult:
            return import_orders(path=path, actor=manager, chunk_size=4)

        fast, rows = both_lanes(monkeypatch, run)

        # Then the fast lane read some blocks and left others to the row path
        assert kinds.kinds.count("fast") >= 2
        assert "rows" in kinds.kinds
        # And everything stored and said is the same
        assert_same(fast, rows)
        # And it is what the row path is known to do
        orders = fast["orders"]
        berlin = ZoneInfo("Europe/Berlin")
        assert orders["A01"][1:] == (dt.datetime(2024, 1, 5, tzinfo=berlin), "paid",
                                     Decimal("1234.50"), "CNY", "tmall")
        assert orders["A02"][2:4] == ("refunded", Decimal("-88.00"))
        assert orders["A03"][1:] == (dt.datetime(2024, 1, 6, 9, 15, 30, tzinfo=berlin),
                                     "completed", Decimal("1234.50"), "USD", "jd")
        assert orders["A07"][3] == Decimal("13.50")
        assert orders["A09"][3] == Decimal("1.01")  # rounded half up
        assert orders["A15"][1] == dt.datetime(2024, 3, 31, 1, 30, tzinfo=berlin)
        assert orders["A16"][1] == dt.datetime(2024, 3, 31, 3, 30, tzinfo=berlin)
        assert orders["A16"][1] - orders["A15"][1] == dt.timedelta(hours=1)
        assert "A08" not in orders
        assert ("A03", "SKU-CUP", Decimal("1.500"), Decimal("1234.50")) in fast["lines"]
        assert ("A04", None, Decimal("1.000"), Decimal("99.99")) in fast["lines"]
        assert ("A10", 'SKU "Q"', Decimal("1.000"), Decimal("12.00")) in fast["lines"]
        assert ("A11", "SKU\nTWO", Decimal("1.000"), Decimal("30.00")) in fast["lines"]
        report = fast["report"]
        assert report is not None
        assert "2024-02-30" in report
        assert "C404" in report

    @pytest.mark.parametrize(("delimiter", "encoding"), [
        (",", "utf-8"), (",", "utf-8-sig"), ("\t", "utf-8")])
    def test_a_file_the_fast_lane_reads_whole_is_stored_the_same(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            delimiter: str, encoding: str) -> None:
        # Given an export (CSV, CSV with a BOM, TSV) with one line per order, in the
        # spellings the fast lane reads
        import_known_customers(manager, tmp_path)
        times = ["", " 12:34", " 23:59:58"]
        rows = [ORDER_HEADER.strip().split(",")] + [
            [f"F{i:03d}", f"C00{1 + i % 2}", f"2024-0{1 + i % 9}-{1 + i % 28:02d}{times[i % 3]}",
             f"¥{i},{i % 1000:03d}.{i % 100:02d}" if i % 4 else f"{i}.{i % 10}",
             str(i % 4 or ""), f"SKU-{i % 3}" if i % 2 else "", "已付款" if i % 7 else "paid",
             "tmall" if i % 2 else "", "usd" if i % 11 == 0 else ""]
            for i in range(40)]
        text = io.StringIO()
        csv.writer(text, delimiter=delimiter, lineterminator="\n").writerows(rows)
        path = tmp_path / "orders.txt"
        path.write_text(text.getvalue(), encoding=encoding)
        kinds = ChunkKinds(monkeypatch)

        def run() -> ImportResult:
            return import_orders(path=path, actor=manager, chunk_size=5)

        fast, by_rows = both_lanes(monkeypatch, run)
        # Then every chunk went the fast lane, and the result is the row path's
        assert kinds.kinds[:8] == ["fast"] * 8
        assert kinds.kinds[8:] == ["rows"] * 8
        assert_same(fast, by_rows)
        assert fast["counts"] == (40, 40, 0, 0, 0, 0)
        assert fast["orders"]["F001"][3] == Decimal("1001.01")

    def test_reimport_and_update_are_the_same(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given the messy export imported once
        import_known_customers(manager, tmp_path)
        path = write_text(tmp_path / "orders.csv", MESSY_ORDERS)
        changed = write_text(tmp_path / "orders2.csv", MESSY_ORDERS.replace(
            "A20,C002,2024-05-02,2,", "A20,C002,2024-05-02,3,").replace(
            "A02,C002,2024-01-05 13:45,-88,", "A02,C002,2024-01-05 13:45,-89,"))

        def first() -> None:
            import_orders(path=path, actor=manager, chunk_size=4)

        # When it is imported again, and then a corrected one with --update
        def again() -> ImportResult:
            return import_orders(path=path, actor=manager, chunk_size=4)

        fast, rows = both_lanes(monkeypatch, again, before=first)
        assert_same(fast, rows)
        assert fast["counts"][1] == 0  # nothing new

        def update() -> ImportResult:
            return import_orders(path=changed, actor=manager, chunk_size=4, update=True)

        wipe_orders()
        fast, rows = both_lanes(monkeypatch, update, before=first)
        assert_same(fast, rows)
        assert fast["orders"]["A20"][3] == Decimal("3.00")

    def test_the_error_report_lists_rows_in_the_same_order_either_lane(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a blank line, then an unknown customer and an impossible date
        import_known_customers(manager, tmp_path)
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join([
            "B1,C001,2024-01-05,1,,,,,\n",
            "\n",
            "B2,C404,2024-01-05,1,,,,,\n",
            "B3,C001,2024-02-30,1,,,,,\n",
            "B4,C001,2024-01-05,1,,,,,\n"]))

        def run() -> ImportResult:
            return import_orders(path=path, actor=manager, chunk_size=2)

        fast, rows = both_lanes(monkeypatch, run)
        assert report_rows(fast["report"]) == report_rows(rows["report"])
        # Then the report is the same, row for row, from top to bottom
        assert fast["report"] == rows["report"]
        lines = list(csv.reader(io.StringIO(fast["report"], newline="")))
        assert [int(row[-3]) for row in lines[1:]] == [4, 5]


# ---------------------------------------------------------------------------------------------
# 2. two writers at once (outside a transaction)


def many_orders(count: int, *, prefix: str = "P", customers: int = 5) -> list[str]:
    return [f"{prefix}{i:04d},C{1 + i % customers:03d},"
            f"2024-{1 + i % 12:02d}-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d},"
            f"{10 + i}.{i % 100:02d},1,SKU-{i % 7},,web,\n" for i in range(count)]


def pg_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return int(cursor.fetchone()[0])


def settled(probe: Callable[[], int], want: int) -> int:
    """``probe()`` once it equals ``want`` (a closed connection's server process may take a
    moment to go), or its last value after two seconds."""
    deadline = time.monotonic() + 2
    while (value := probe()) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


@on_postgres
@pytest.mark.django_db(transaction=True)
class TestParallelWriters:
    def test_a_few_hundred_orders_are_stored_once_and_again_changes_nothing(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given 5 customers and 300 orders of one line each
        import_known_customers(manager, tmp_path, count=5)
        lines = many_orders(300)
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join(lines))
        writers: list[str] = []
        original = services._OrderImport.write_in_worker

        def write_in_worker(importer: Any, item: Any) -> bool:
            if item[0] == "orders":
                writers.append(threading.current_thread().name)
            return original(importer, item)

        monkeypatch.setattr(services._OrderImport, "write_in_worker", write_in_worker)
        # When they are imported in chunks of 20, two chunks at a time
        result = import_orders(path=path, actor=manager, chunk_size=20)
        # (by the writer threads, a chunk each)
        assert len(writers) == 15
        assert set(writers) == {"guanxi-import-writer-0", "guanxi-import-writer-1"}
        # Then each order, line and event is stored exactly once
        assert (result.read, result.created, result.rejected) == (300, 300, 0)
        assert Order.objects.count() == 300
        assert sorted(Order.objects.values_list("external_id", flat=True)) == [
            f"P{i:04d}" for i in range(300)]
        assert OrderLine.objects.count() == 300
        assert CustomerEvent.objects.filter(type=EventType.ORDER_PLACED).count() == 300
        assert set(OrderLine.objects.values_list("order__external_id", flat=True)) == {
            f"P{i:04d}" for i in range(300)}
        # And each customer's last purchase is their latest order
        for customer in Customer.objects.all():
            latest = max(o.placed_at for o in customer.orders.all())
            assert customer.last_purchase_at == latest
        before = snapshot(result)
        # When the file is imported again
        again = import_orders(path=path, actor=manager, chunk_size=20)
        # Then every order is unchanged and nothing new is written
        assert (again.read, again.created, again.updated, again.unchanged, again.rejected) == (
            300, 0, 0, 300, 0)
        after = snapshot(again)
        for key in ("orders", "lines", "events", "last_purchase"):
            assert after[key] == before[key], key

    def test_an_order_number_repeated_chunks_later_is_handled_as_by_rows(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given 200 orders where P0005 and P0030 come back chunks later, with other values,
        # and P0010 comes back unchanged
        import_known_customers(manager, tmp_path, count=5)
        lines = many_orders(200)
        lines.insert(120, lines[5].replace(",1,SKU-", ",2,SKU-"))
        lines.insert(150, lines[30].replace("web", "shop"))
        lines.insert(170, lines[10])
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join(lines))

        def run(**options: Any) -> Callable[[], ImportResult]:
            return lambda: import_orders(path=path, actor=manager, chunk_size=20, **options)

        # When it is imported with the fast lane and (fresh) by rows only
        fast, rows = both_lanes(monkeypatch, run())
        # Then the results are the same, the changed repeats rejected in the report
        assert_same(fast, rows)
        assert fast["counts"][4] == 2
        # And with --update too
        wipe_orders()
        fast, rows = both_lanes(monkeypatch, run(update=True))
        assert_same(fast, rows)
        assert fast["counts"][2] == 2

    def test_a_reimport_with_the_first_chunk_stored_and_the_rest_new(
            self, manager: User, tmp_path: Path) -> None:
        # Given the first 20 orders of the file imported before
        import_known_customers(manager, tmp_path, count=5)
        lines = many_orders(200)
        first = write_text(tmp_path / "first.csv", ORDER_HEADER + "".join(lines[:20]))
        assert import_orders(path=first, actor=manager, chunk_size=20).created == 20
        # When the whole file is imported
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join(lines))
        result = import_orders(path=path, actor=manager, chunk_size=20)
        # Then the stored ones are unchanged and the rest new, each once
        assert (result.read, result.created, result.unchanged, result.rejected) == (
            200, 180, 20, 0)
        assert Order.objects.count() == OrderLine.objects.count() == 200
        assert CustomerEvent.objects.filter(type=EventType.ORDER_PLACED).count() == 200

    @pytest.mark.parametrize("update", [False, True])
    def test_a_held_chunk_with_a_changed_order_is_reported_as_by_rows(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            update: bool) -> None:
        # Given the first 20 orders stored, and a file where one of them (P0007) and one of the
        # second 20 (P0027, stored too) say other amounts
        import_known_customers(manager, tmp_path, count=5)
        lines = many_orders(100)
        stored = write_text(tmp_path / "stored.csv",
                            ORDER_HEADER + "".join(lines[:20] + lines[27:28]))
        for k in (7, 27):
            fields = lines[k].split(",")
            fields[3] = "999.99"
            lines[k] = ",".join(fields)
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join(lines))

        def before() -> None:
            import_orders(path=stored, actor=manager, chunk_size=20)

        def run() -> ImportResult:
            return import_orders(path=path, actor=manager, chunk_size=20, update=update)

        # When the file is imported with the fast lane and (fresh) by rows only
        fast, by_rows = both_lanes(monkeypatch, run, before=before)
        # Then the counts, the stored orders and the report are the same
        assert_same(fast, by_rows)
        assert fast["counts"] == ((100, 79, 2, 19, 0, 0) if update else (100, 79, 0, 19, 2, 0))
        if not update:
            assert [row[-3] for row in report_rows(fast["report"])[1:]] == ["9", "29"]

    def test_a_writer_thread_failing_fails_the_import_and_leaves_whole_chunks(
            self, manager: User, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        # Given a file of 200 orders, and the third chunk's writing failing
        import_known_customers(manager, tmp_path, count=5)
        path = write_text(tmp_path / "orders.csv", ORDER_HEADER + "".join(many_orders(200)))
        original = services._OrderImport.write_new_columns
        calls: list[int] = []
        lock = threading.Lock()

        def failing(importer: Any, chunk: Any, *args: Any, **kwargs: Any) -> Any:
            with lock:
                calls.append(len(chunk))
                third = len(calls) == 3
            if third:
                raise RuntimeError("the disk is full")
            return original(importer, chunk, *args, **kwargs)

        monkeypatch.setattr(services._OrderImport, "write_new_columns", failing)
        threads = threading.active_count()
        connections = pg_connections()
        # When it is imported, the error comes out of import_orders
        with pytest.raises(RuntimeError, match="the disk is full"):
            import_orders(path=path, actor=manager, chunk_size=20)
        # Then only whole chunks are stored, each order with its line and event
        stored = Order.objects.count()
        assert stored % 20 == 0
        assert stored < 200
        assert OrderLine.objects.count() == stored
        assert CustomerEvent.objects.filter(type=EventType.ORDER_PLACED).count() == stored
        numbers = sorted(Order.objects.values_list("external_id", flat=True))
        starts = {int(n[1:]) // 20 for n in numbers}
        assert len(starts) * 20 == stored  # whole chunks
        # And no writer thread nor connection is left behind
        assert settled(threading.active_count, threads) == threads
        assert settled(pg_connections, connections) == connections


# ---------------------------------------------------------------------------------------------
# 3. columnar units (no database)


class TestLineBlocks:
    def test_a_block_never_ends_inside_a_quoted_value(self) -> None:
        data = b'a,b\n1,"x\ny\nz"\n2,w\n3,v\n'
        blocks = columnar.LineBlocks(io.BytesIO(data), 4, first_line=2, read_size=3)
        block, at_end = blocks.take(1)
        assert block == b'1,"x\ny\nz"\n'
        assert not at_end
        assert blocks.line == 2  # take does not use up
        blocks.consume(len(block))
        assert (blocks.line, blocks.position) == (5, 4 + len(block))
        block, at_end = blocks.take(1)
        assert block == b"2,w\n"
        block, at_end = blocks.take(5)
        assert (block, at_end) == (b"2,w\n3,v\n", True)
        blocks.consume(4)
        assert blocks.line == 6
        assert blocks.take(2) == (b"3,v\n", True)

    def test_a_quote_left_open_takes_the_rest_of_the_file(self) -> None:
        data = b'1,"open\n2,b\n3,c'
        blocks = columnar.LineBlocks(io.BytesIO(data), 0, first_line=2, read_size=4)
        assert blocks.take(1) == (data, True)

    def test_doubled_quotes_do_not_open_a_value(self) -> None:
        data = b'1,"say ""hi"""\n2,b\n'
        blocks = columnar.LineBlocks(io.BytesIO(data), 0, first_line=2)
        assert blocks.take(1) == (b'1,"say ""hi"""\n', False)

    def test_the_last_line_without_a_break(self) -> None:
        blocks = columnar.LineBlocks(io.BytesIO(b"1,a\n2,b"), 0, first_line=2)
        assert blocks.take(1) == (b"1,a\n", False)
        assert blocks.take(2) == (b"1,a\n2,b", True)


@pytest.mark.parametrize(("exts", "size", "at_end", "end"), [
    (["a", "b", "c"], 2, True, 3),               # the file's end: all of it
    (["a", "b", "c", "d"], 2, False, 2),         # size rows, the next is another order
    (["a", "b", "b", "c"], 2, False, 3),         # the last order's lines come along
    (["a", "b", "b", "b"], 2, False, 0),         # it may go on beyond the block: more lines
    (["a", "a", "a"], 2, False, 0),
    (["a", "b", "b"], 3, False, 1),              # size rows or fewer: up to the last order
    (["a", "b", "c"], 5, False, 2),
    (["a"], 3, False, 0),
    ([], 3, False, 0),
    ([], 3, True, 0),
])
def test_chunk_end(exts: list[str], size: int, at_end: bool, end: int) -> None:
    assert columnar.chunk_end(exts, size, at_end) == end


PARSE_HEADERS = ["no", "cust", "at", "amount", "qty", "sku", "status", "channel", "currency"]


def rules(offset_hours: int = 8) -> columnar.Rules:
    def status(value: str) -> str:
        return services._choice(value, services._STATUSES, "status", "order status")

    return columnar.Rules(
        columns={"external_id": "no", "customer_external_id": "cust", "placed_at": "at",
                 "amount": "amount", "quantity": "qty", "product": "sku", "status": "status",
                 "channel": "channel", "currency": "currency"},
        default_currency="CNY",
        day_offset=lambda day: dt.timedelta(hours=offset_hours),
        quantity=lambda raw: services.parse_quantity(raw).quantize(services._QTY),
        status=status, rejected=services._Reject)


def parse(*rows: str) -> columnar.OrderColumns | None:
    block = "".join(row + "\n" for row in rows).encode()
    batch = columnar.read_batch(block, PARSE_HEADERS, ",")
    assert batch is not None
    assert batch.num_rows == len(rows)
    return columnar.parse_block(batch, rules(), first_line=2, position=len(block))


GOOD = "A1,C1,2024-01-05 13:45:30,¥12.50,2,SKU,已付款,tmall,usd"


@pytest.mark.parametrize("bad", [
    "A2,C1,2024-02-30,1,1,,,,",           # no such day
    "A2,C1,2024-01-05 13:45:60,1,1,,,,",  # no such second
    "A2,C1,2024-01-05 24:00,1,1,,,,",
    "A2,C1,0000-01-05,1,1,,,,",           # no year 0
    "A2,C1,2024-01-05,1.005,1,,,,",       # the row path rounds it
    "A2,C1,2024-01-05,1,1,,unknown,,",    # a status to reject
    "A2,C1,2024-01-05,1,1,,,,RMBX",       # not a currency
    "A2,C1,2024-01-05,1,abc,,,,",         # not a quantity
    "A2,C1,2024-01-05T10:00,1,1,,,,",     # another spelling: the row path reads it
    "A2,C1,2024/01/05,1,1,,,,",
    "A2,C1,2024-01-05,(1),1,,,,",
    "A2,C1,2024-01-05,,1,,,,",            # no amount: rejected by the row path
    ",C1,2024-01-05,1,1,,,,",             # no order number
    "A2,,2024-01-05,1,1,,,,",             # no customer
    "A1,C1,2024-01-06,1,1,,,,",           # the same order number twice: an order of lines
])
def test_parse_block_leaves_to_the_row_path(bad: str) -> None:
    assert parse(GOOD) is not None
    assert parse(GOOD, bad) is None


def test_parse_block_reads_times_amounts_and_quantities_exactly() -> None:
    cols = parse(GOOD,
                 "A2,C2,2024-01-05,-88,,,,,",
                 'A3,C1,2024-02-29 00:01,"1,234.5",1.5, SKU2 ,completed, jd ,',
                 "A4,C2,1970-01-01 08:00,0.01,0.001,,paid,,CNY",
                 "A5,C2,9999-12-31 23:59:59,99999999999.99,1,,,,")
    assert cols is not None
    epoch = dt.datetime(1970, 1, 1)

    def us(*at: int) -> int:
        return (dt.datetime(*at) - dt.timedelta(hours=8) - epoch) // dt.timedelta(
            microseconds=1)

    assert cols.utc_us.tolist() == [us(2024, 1, 5, 13, 45, 30), us(2024, 1, 5),
                                    us(2024, 2, 29, 0, 1), 0, us(9999, 12, 31, 23, 59, 59)]
    assert cols.amount_cents.tolist() == [1250, -8800, 123450, 1, 9999999999999]
    assert cols.quantity_milli.tolist() == [2000, 1000, 1500, 1, 1000]
    assert cols.final_status.to_pylist() == ["paid", "refunded", "completed", "paid",
                                             "completed"]
    assert cols.status.to_pylist() == ["paid", "", "completed", "paid", ""]
    assert cols.currency.to_pylist() == ["USD", "CNY", "CNY", "CNY", "CNY"]
    assert cols.channel.to_pylist() == ["tmall", "", "jd", "", ""]
    assert cols.product.to_pylist() == ["SKU", "", "SKU2", "", ""]
    assert (cols.first_line, len(cols)) == (2, 5)


def test_read_batch_refuses_what_is_not_one_row_per_line() -> None:
    headers = ["a", "b"]
    assert columnar.read_batch(b"", headers, ",") is None
    assert columnar.read_batch(b"1,2,3\n", headers, ",") is None
    short = columnar.read_batch(b"1\n", headers, ",")
    assert short is None or short.num_rows == 1
    batch = columnar.read_batch('1,"x ""y"""\n2,中文\n'.encode(), headers, ",")
    assert batch is not None
    assert batch.column(1).to_pylist() == ['x "y"', "中文"]
    assert isinstance(batch, pa.RecordBatch)
    assert np.array_equal(columnar.line_starts(b"1,2\n3,4"), [0, 4])
    assert np.array_equal(columnar.line_starts(b"1,2\n3,4\n"), [0, 4])
