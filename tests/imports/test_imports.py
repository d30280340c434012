"""Stories of people bringing their spreadsheets into guanxi (issue #2 §4, MISSION M4).

Mei (the manager) imports the shop's customer list and orders export, and the service team's
contact log. The files are written here the way Excel, WPS and shop back-ends write them.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
import time_machine
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.cli.main import app
from guanxi.core.errors import PermissionDenied
from guanxi.customers.models import Customer, CustomerEvent, EventType, ExternalId, Interaction
from guanxi.imports.errors import ImportFileError, ImportMappingError
from guanxi.imports.models import ImportRun, ImportStatus
from guanxi.imports.services import import_customers, import_interactions, import_orders
from guanxi.sales.models import Order, OrderLine, OrderStatus
from testdata import shared_data_file

SHANGHAI = ZoneInfo("Asia/Shanghai")


def write_csv(path: Path, rows: list[list[str]], *, encoding: str = "utf-8",
              delimiter: str = ",") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, delimiter=delimiter).writerows(rows)
    return path


def counts() -> dict[str, int]:
    return {"customers": Customer.objects.count(), "orders": Order.objects.count(),
            "lines": OrderLine.objects.count(), "events": CustomerEvent.objects.count(),
            "interactions": Interaction.objects.count(), "runs": ImportRun.objects.count()}


def read_report(path: str | Path) -> list[dict[str, str]]:
    with Path(path).open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


CUSTOMERS_ZH = [
    ["客户编号", "客户名称", "手机", "邮箱", "性别", "生日", "城市", "收入水平"],
    ["C001", "张伟", "138 0013 8000", "ZHANG.WEI@example.com", "男", "1985/3/7", "上海", "小康"],
    ["C002", "李娜", "13900139000", "", "女", "19900615", "杭州", ""],
    ["C003", "王芳", "123", "", "女", "", "北京", ""],
]


@pytest.fixture
def customers_file(tmp_path: Path) -> Path:
    # Excel on a Chinese Windows saves "CSV" in GBK.
    return write_csv(tmp_path / "客户.csv", CUSTOMERS_ZH, encoding="gbk")


def orders_rows() -> list[list[str]]:
    return [
        ["订单号", "客户编号", "下单时间", "实付金额", "数量", "商品"],
        ["A1", "C001", "2024/1/5", "¥1,234.50", "2", "大米 5kg"],
        ["A2", "C001", "20240210", "88", "1", "酱油"],
        ["A3", "C002", "2024-01-05 13:45", "$12.00", "1", ""],
        ["R1", "C001", "2024-02-11", "-88.00", "-1", "酱油"],
    ]


class TestCustomers:
    def test_gbk_file_with_chinese_headers_stores_valid_rows_and_reports_the_bad_phone(
            self, manager: User, customers_file: Path) -> None:
        # Given Mei's customer list, saved by Excel in GBK with Chinese headers
        # When she imports it
        result = import_customers(path=customers_file, actor=manager)
        # Then the two good customers are stored, normalized, each with its created event
        assert (result.read, result.created, result.rejected) == (3, 2, 1)
        zhang = Customer.objects.get(external_ids__value="C001")
        assert zhang.name == "张伟"
        assert zhang.phone == "+8613800138000"
        assert zhang.email == "zhang.wei@example.com"
        assert zhang.gender == "m"
        assert zhang.birthday == dt.date(1985, 3, 7)
        assert zhang.city == "上海"
        assert zhang.income_band == "comfortable"
        assert zhang.name_initials == "zw"
        assert Customer.objects.get(external_ids__value="C002").birthday == dt.date(1990, 6, 15)
        assert CustomerEvent.objects.filter(type=EventType.CREATED).count() == 2
        # And the row with the impossible phone number is in the report, naming the column
        [bad] = read_report(result.error_report or "")
        assert (bad["客户编号"], bad["_line"], bad["_field"]) == ("C003", "4", "手机")
        assert "123" in bad["_reason"]
        run = ImportRun.objects.get()
        assert (run.status, run.created, run.rejected) == (ImportStatus.PARTIAL, 2, 1)

    def test_changed_customer_is_rejected_unless_update(self, manager: User,
                                                        tmp_path: Path) -> None:
        first = write_csv(tmp_path / "a.csv", [["customer id", "name", "city"],
                                               ["K1", "Ann Lee", "Shanghai"]])
        import_customers(path=first, actor=manager)
        moved = write_csv(tmp_path / "b.csv", [["customer id", "name", "city"],
                                               ["K1", "Ann Lee", "Beijing"]])
        # When the list says Ann moved, without --update the stored record wins
        result = import_customers(path=moved, actor=manager)
        assert (result.rejected, result.updated) == (1, 0)
        assert "--update" in read_report(result.error_report or "")[0]["_reason"]
        # And with --update it is changed, with an updated event for the timeline
        result = import_customers(path=moved, actor=manager, update=True)
        assert (result.rejected, result.updated) == (0, 1)
        assert Customer.objects.get().city == "Beijing"
        assert CustomerEvent.objects.filter(type=EventType.UPDATED).count() == 1

    def test_a_rep_may_not_import(self, rep1: User, customers_file: Path) -> None:
        with pytest.raises(PermissionDenied):
            import_customers(path=customers_file, actor=rep1)
        assert counts()["customers"] == 0


class TestOrders:
    @pytest.fixture
    def known_customers(self, manager: User, customers_file: Path) -> None:
        import_customers(path=customers_file, actor=manager)

    @pytest.mark.usefixtures("known_customers")
    def test_bom_csv_with_messy_dates_and_amounts(self, manager: User, tmp_path: Path) -> None:
        # Given an export with a BOM, dates in four spellings, currency signs and a refund
        path = write_csv(tmp_path / "orders.csv", orders_rows(), encoding="utf-8-sig")
        # When Mei imports it
        result = import_orders(path=path, actor=manager)
        # Then every order is stored with its amount as a Decimal and an aware time
        assert (result.created, result.rejected) == (4, 0)
        a1 = Order.objects.get(external_id="A1")
        assert a1.total == Decimal("1234.50")
        assert a1.placed_at == dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)
        assert a1.status == OrderStatus.COMPLETED
        assert a1.lines.get().quantity == Decimal(2)
        assert a1.lines.get().product is not None
        assert Order.objects.get(external_id="A3").placed_at == dt.datetime(
            2024, 1, 5, 13, 45, tzinfo=SHANGHAI)
        # And the negative amount is a refund
        refund = Order.objects.get(external_id="R1")
        assert (refund.status, refund.total) == (OrderStatus.REFUNDED, Decimal("-88.00"))
        # And the timeline has one event per order, the refund as a refund
        assert CustomerEvent.objects.filter(type=EventType.ORDER_PLACED).count() == 3
        assert CustomerEvent.objects.filter(type=EventType.ORDER_REFUNDED).count() == 1
        # And the last purchase ignores the refund
        zhang = Customer.objects.get(external_ids__value="C001")
        assert zhang.last_purchase_at == dt.datetime(2024, 2, 10, tzinfo=SHANGHAI)

    @pytest.mark.usefixtures("known_customers")
    def test_importing_again_changes_nothing(self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "orders.csv", orders_rows())
        import_orders(path=path, actor=manager)
        before = counts()
        result = import_orders(path=path, actor=manager)
        assert (result.read, result.unchanged, result.created, result.rejected) == (4, 4, 0, 0)
        after = counts()
        assert after == {**before, "runs": before["runs"] + 1}

    @pytest.mark.usefixtures("known_customers")
    def test_conflicting_order_is_rejected_unless_update(self, manager: User,
                                                         tmp_path: Path) -> None:
        path = write_csv(tmp_path / "orders.csv", orders_rows())
        import_orders(path=path, actor=manager)
        rows = orders_rows()
        rows[1][3] = "1,300.00"  # A1 corrected in the shop system
        changed = write_csv(tmp_path / "orders2.csv", rows)
        result = import_orders(path=changed, actor=manager)
        assert (result.rejected, result.unchanged) == (1, 3)
        [row] = read_report(result.error_report or "")
        assert (row["订单号"], row["_field"]) == ("A1", "实付金额")
        assert Order.objects.get(external_id="A1").total == Decimal("1234.50")
        result = import_orders(path=changed, actor=manager, update=True)
        assert (result.updated, result.rejected) == (1, 0)
        assert Order.objects.get(external_id="A1").total == Decimal("1300.00")
        assert OrderLine.objects.filter(order__external_id="A1").get().amount == Decimal("1300")

    def test_unknown_customer_is_rejected_unless_create_customers(
            self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "orders.csv", [
            ["order no", "customer id", "customer name", "date", "amount"],
            ["B1", "NEW1", "Bob Chen", "2024-03-01", "10"],
        ])
        result = import_orders(path=path, actor=manager)
        assert (result.rejected, counts()["orders"]) == (1, 0)
        assert "--create-customers" in read_report(result.error_report or "")[0]["_reason"]
        result = import_orders(path=path, actor=manager, create_customers=True)
        assert (result.created, result.customers_created) == (1, 1)
        bob = ExternalId.objects.get(value="NEW1").customer
        assert bob.name == "Bob Chen"
        assert bob.orders.get().external_id == "B1"

    def test_rows_sharing_an_order_number_are_lines_of_one_order(
            self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "lines.csv", [
            ["订单编号", "会员号", "订单日期", "金额", "商品"],
            ["X1", "M1", "2024-05-01", "30", "茶叶"],
            ["X1", "M1", "2024-05-01", "12.5", "茶杯"],
        ])
        result = import_orders(path=path, actor=manager, create_customers=True)
        assert result.created == 2
        order = Order.objects.get()
        assert (order.total, order.lines.count()) == (Decimal("42.50"), 2)
        assert import_orders(path=path, actor=manager).unchanged == 2

    @pytest.mark.usefixtures("known_customers")
    @pytest.mark.usefixtures("known_customers")
    def test_progress_is_reported_and_recorded(self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "orders.csv", orders_rows())
        seen: list[tuple[int, int]] = []
        result = import_orders(path=path, actor=manager, chunk_size=2,
                               progress=lambda done, total: seen.append((done, total)))
        size = path.stat().st_size
        assert seen[-1] == (size, size)
        assert len(seen) >= 3  # after each chunk, and at the end
        run = ImportRun.objects.get(pk=result.run_id)
        assert (run.progress, run.status, run.created) == (1.0, ImportStatus.SUCCEEDED, 4)

    @pytest.mark.usefixtures("known_customers")
    def test_dry_run_validates_and_writes_nothing(self, manager: User, tmp_path: Path) -> None:
        rows = [*orders_rows(), ["A9", "C404", "2024-13-01", "abc", "1", ""]]
        path = write_csv(tmp_path / "orders.csv", rows)
        before = counts()
        result = import_orders(path=path, actor=manager, dry_run=True)
        assert (result.dry_run, result.created, result.rejected) == (True, 4, 1)
        assert counts() == before
        # The real run then does what the dry run said
        real = import_orders(path=path, actor=manager)
        assert (real.created, real.rejected) == (4, 1)

    def test_xlsx_with_date_cells_and_serials(self, manager: User, tmp_path: Path) -> None:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["订单号", "客户编号", "下单时间", "实付金额", "数量"])
        sheet.append(["W1", 1001, dt.datetime(2024, 1, 5, 9, 30), 99.9, 1])
        sheet.append(["W2", 1001, 45296, "¥1,000", 2])  # 45296 = 2024-01-05 as an Excel serial
        sheet.append(["W3", 1001, dt.date(2024, 2, 1), -5, 1])
        path = tmp_path / "orders.xlsx"
        book.save(path)
        result = import_orders(path=path, actor=manager, create_customers=True)
        assert (result.created, result.rejected) == (3, 0)
        assert ExternalId.objects.get().value == "1001"
        w1, w2, w3 = Order.objects.order_by("external_id")
        assert w1.placed_at == dt.datetime(2024, 1, 5, 9, 30, tzinfo=SHANGHAI)
        assert w1.total == Decimal("99.90")
        assert w2.placed_at == dt.datetime(2024, 1, 5, tzinfo=SHANGHAI)
        assert w3.status == OrderStatus.REFUNDED

    def test_error_report_fixed_and_imported_as_it_is(self, manager: User,
                                                      tmp_path: Path) -> None:
        # Given an export where two rows are wrong
        path = write_csv(tmp_path / "orders.csv", [
            ["订单号", "客户编号", "下单时间", "实付金额", "备注"],
            ["G1", "C9", "2024-01-02", "10", "ok"],
            ["G2", "C9", "2024-02-30", "10", "坏日期"],
            ["G3", "C9", "2024-01-03", "十元", "坏金额"],
        ])
        result = import_orders(path=path, actor=manager, create_customers=True)
        assert (result.created, result.rejected) == (1, 2)
        report = Path(result.error_report or "")
        rows = read_report(report)
        assert [(r["订单号"], r["_line"], r["_field"]) for r in rows] == [
            ("G2", "3", "下单时间"), ("G3", "4", "实付金额")]
        assert rows[0]["备注"] == "坏日期"
        # When Mei fixes the values in the report and imports it as it is
        rows[0]["下单时间"] = "2024-02-29"
        rows[1]["实付金额"] = "10.00"
        fixed = tmp_path / "fixed.csv"
        with fixed.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        again = import_orders(path=fixed, actor=manager, create_customers=True)
        # Then the two orders are stored and nothing is rejected
        assert (again.created, again.rejected, again.error_report) == (2, 0, None)
        assert Order.objects.count() == 3


class TestInteractions:
    @pytest.mark.usefixtures("admin")
    def test_tsv_contact_log_with_chinese_channels(self, manager: User,
                                                   customers_file: Path,
                                                   tmp_path: Path) -> None:
        import_customers(path=customers_file, actor=manager)
        path = write_csv(tmp_path / "contacts.tsv", [
            ["客户编号", "方式", "时间", "主题", "结果"],
            ["C001", "电话", "2024-03-01 10:00", "回访", "满意"],
            ["C002", "微信", "2024/3/2", "生日祝福", ""],
            ["C001", "飞鸽", "2024-03-03", "?", ""],
        ], delimiter="\t")
        result = import_interactions(path=path, actor=manager)
        assert (result.created, result.rejected) == (2, 1)
        call = Interaction.objects.get(channel="phone")
        assert call.occurred_at == dt.datetime(2024, 3, 1, 10, tzinfo=SHANGHAI)
        assert (call.subject, call.outcome) == ("回访", "满意")
        assert CustomerEvent.objects.filter(type=EventType.INTERACTION_LOGGED).count() == 2
        assert read_report(result.error_report or "")[0]["_field"] == "方式"
        # No ids in the file, yet importing it again adds nothing
        again = import_interactions(path=path, actor=manager)
        assert (again.unchanged, again.created) == (2, 0)
        assert Interaction.objects.count() == 2


class TestUnreadableFiles:
    def test_truncated_workbook(self, manager: User, tmp_path: Path) -> None:
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(["订单号", "客户编号", "下单时间", "实付金额"])
        for i in range(200):
            sheet.append([f"T{i}", "C1", "2024-01-01", 1])
        full = tmp_path / "full.xlsx"
        book.save(full)
        cut = tmp_path / "cut.xlsx"
        cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
        with pytest.raises(ImportFileError, match=r"cut\.xlsx.*truncated or damaged"):
            import_orders(path=cut, actor=manager, create_customers=True)
        assert counts() == {k: 0 for k in counts()}

    def test_binary_file(self, manager: User, tmp_path: Path) -> None:
        path = tmp_path / "photo.csv"
        path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
        with pytest.raises(ImportFileError, match="binary file"):
            import_customers(path=path, actor=manager)
        assert counts()["runs"] == 0

    def test_missing_column_names_what_is_missing_and_what_was_found(
            self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "o.csv", [["订单号", "日期", "金额"], ["1", "2024-01-01", "1"]])
        with pytest.raises(ImportMappingError) as caught:
            import_orders(path=path, actor=manager)
        assert "customer_external_id" in caught.value.message
        assert "订单号, 日期, 金额" in caught.value.message
        assert counts()["runs"] == 0

    def test_explicit_map_fills_the_gap(self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "o.csv", [["单据", "Kunde", "日期", "金额"],
                                              ["1", "K", "2024-01-01", "1"]])
        result = import_orders(path=path, actor=manager, create_customers=True,
                               mapping={"单据": "external_id", "Kunde": "customer_external_id"})
        assert result.created == 1


class TestCdnow:
    def test_sample_file(self, manager: User) -> None:
        path = shared_data_file("cdnow", "CDNOW_sample.txt")
        with time_machine.travel(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), tick=False):
            result = import_orders(path=path, actor=manager, fmt="cdnow-sample")
        assert (result.read, result.created, result.rejected) == (6919, 6919, 0)
        assert result.customers_created == 2357
        assert ExternalId.objects.filter(source="cdnow").count() == 2357
        first = Order.objects.get(external_id="cdnow-00004-19970101-1")
        assert (first.total, first.currency) == (Decimal("29.33"), "USD")
        created = CustomerEvent.objects.filter(type=EventType.CREATED).first()
        assert created is not None
        assert created.occurred_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        again = import_orders(path=path, actor=manager, fmt="cdnow-sample")
        assert (again.unchanged, again.created, again.customers_created) == (6919, 0, 0)

    @pytest.mark.slow
    def test_master_file(self, manager: User) -> None:
        path = shared_data_file("cdnow", "CDNOW_master.txt")
        result = import_orders(path=path, actor=manager, fmt="cdnow")
        assert (result.read, result.created, result.rejected) == (69659, 69659, 0)
        assert result.customers_created == 23570
        # Two lines of customer 00002 on 1997-01-12 are two orders with their own ids
        assert Order.objects.filter(external_id__startswith="cdnow-00002-19970112-").count() == 2


class TestCli:
    def test_exit_codes_and_json(self, manager: User, customers_file: Path,
                                 tmp_path: Path) -> None:
        runner = CliRunner()
        errors = tmp_path / "rejected.csv"
        # One bad phone: exit 1, the summary as JSON, the report where asked
        out = runner.invoke(app, ["import", "customers", str(customers_file), "--json",
                                  "--errors", str(errors)])
        assert out.exit_code == 1, out.output
        summary = json.loads(out.stdout)
        assert {k: summary[k] for k in ("read", "created", "updated", "unchanged",
                                        "rejected")} == {"read": 3, "created": 2, "updated": 0,
                                                         "unchanged": 0, "rejected": 1}
        assert summary["error_report"] == str(errors)
        assert errors.exists()
        # A clean file: exit 0
        good = write_csv(tmp_path / "good.csv", CUSTOMERS_ZH[:3])
        out = runner.invoke(app, ["import", "customers", str(good)])
        assert out.exit_code == 0, out.output
        assert "unchanged 2" in out.stdout
        # A file that cannot be read: exit 2, one sentence
        junk = tmp_path / "junk.xlsx"
        junk.write_bytes(b"not a workbook at all")
        out = runner.invoke(app, ["import", "orders", str(junk)])
        assert out.exit_code == 2
        assert "Cannot read junk.xlsx" in out.stderr

    def test_dry_run_and_map_options(self, manager: User, tmp_path: Path) -> None:
        path = write_csv(tmp_path / "o.csv", [["No", "Who", "When", "Paid"],
                                              ["1", "K", "2024-01-01", "1"]])
        out = CliRunner().invoke(app, [
            "import", "orders", str(path), "--map", "No=external_id", "--map",
            "Who=customer_external_id", "--map", "When=placed_at", "--map", "Paid=amount",
            "--create-customers", "--dry-run", "--json"])
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["created"] == 1
        assert counts()["orders"] == 0
