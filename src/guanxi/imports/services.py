"""The imports: customers, orders and interactions from a file, in chunks, idempotent.

How an import runs
------------------
The file is opened and its header mapped first, so a file that cannot be read or lacks a
needed column fails with one error before anything is written. Rows are then read as a stream
in chunks (``CHUNK_SIZE`` rows). For each chunk: every row is parsed and validated in Python;
the customers and the stored records it names are looked up with one query each; then new
records are inserted and changed ones updated — the whole chunk in one transaction, so a crash
leaves whole chunks behind, and running the import again is safe because every record is keyed
by its external id: a row identical to what is stored counts as *unchanged* and writes nothing.

Counts are in rows: ``read == created + updated + unchanged + rejected``.

Orders are written without building model objects (COPY on PostgreSQL, ``executemany`` on
SQLite) because a million-row export must import in well under a minute; the events they write
are still shaped by ``guanxi.customers.events``. An order import reads and parses its file in
a second process (forked: ``_parse_ahead``), one chunk ahead of the writing, so that the
parsing's Python runs on another core than the writing's. On PostgreSQL a UTF-8 text file
takes the fast lane where it can (``guanxi.imports.columnar``: blocks parsed and checked by
Arrow, new orders copied in binary by two writer connections at once, see
``_OrderImport.write_chunks``); what is stored and reported is the same either way.

A rejected row is not stored and goes to the error report: the original columns and values,
plus ``_line``, ``_field``, ``_reason``. After fixing the values the report imports as it is.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import hashlib
import importlib
import io
import itertools
import json
import logging
import multiprocessing
import operator
import pickle
import queue
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import asdict, dataclass
from dataclasses import fields as dataclass_fields
from decimal import ROUND_HALF_UP, Decimal
from operator import itemgetter
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, models, transaction
from django.db.models import Max, OuterRef, Subquery

from guanxi.accounts.models import User
from guanxi.core import clock
from guanxi.core.errors import GuanxiError
from guanxi.core.money import CENT
from guanxi.customers import events
from guanxi.customers.models import (
    Channel,
    Customer,
    CustomerEvent,
    Direction,
    ExternalId,
    Gender,
    IncomeBand,
    Interaction,
    Kind,
)
from guanxi.customers.normalize import name_pinyin
from guanxi.customers.services import clean_customer_fields, customer_update
from guanxi.imports.errors import ImportErrorCode, ImportFileError
from guanxi.imports.mapping import map_headers, require_fields
from guanxi.imports.models import ImportKind, ImportRun, ImportStatus
from guanxi.imports.parsing import (
    iso_naive,
    iso_naive_column,
    parse_amount,
    parse_date,
    parse_datetime,
    parse_quantity,
    plain_amount,
    plain_amount_column,
    text,
)
from guanxi.imports.readers import TableReader, open_table, text_layout
from guanxi.imports.selectors import check_can_import
from guanxi.sales.models import NOT_A_PURCHASE, Order, OrderLine, OrderStatus, Product

__all__ = ["CHUNK_SIZE", "ImportResult", "ProgressCallback", "import_customers",
           "import_interactions", "import_orders"]

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    import pyarrow as pa
    import pyarrow.compute as pc
    from typing_extensions import TypeIs

    from guanxi.core import pgcopy
    from guanxi.imports import columnar
else:
    # Arrow and numpy (some 40 and 20 MB a process) are loaded by the fast lane only: a SQLite
    # import (two processes, issue #2's 500 MB), the web and task workers do without.
    class _Lazy:
        def __init__(self, name: str) -> None:
            self._name = name

        def __getattr__(self, attr: str) -> Any:
            return getattr(importlib.import_module(self._name), attr)

    pa, pc, np = _Lazy("pyarrow"), _Lazy("pyarrow.compute"), _Lazy("numpy")
    columnar, pgcopy = _Lazy("guanxi.imports.columnar"), _Lazy("guanxi.core.pgcopy")


def _is_columns(chunk: object) -> TypeIs[columnar.OrderColumns]:
    """Is ``chunk`` a fast-lane chunk? (Without loading Arrow when it is not.)"""
    module = sys.modules.get("guanxi.imports.columnar")
    return module is not None and isinstance(chunk, module.OrderColumns)

CHUNK_SIZE = 20000
REPORT_COLUMNS = ("_line", "_field", "_reason")
_MAX_TOTAL = Decimal("1e12")  # Order.total has 14 digits, 2 after the point
_QTY = Decimal("0.001")
_MAX_CACHED = 2_000_000  # customers remembered by an order import (about 200 MB at most)
# A customer import creating at least this many customers analyses the tables it filled.
_ANALYZE_AFTER = 1_000

Row = dict[str, Any]
# progress(done, total): units are bytes for text files and rows for workbooks.
ProgressCallback = Callable[[int, int], None]


@dataclass
class ImportResult:
    """What an import did; ``as_dict()`` is what ``--json`` prints."""

    kind: str
    file: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    customers_created: int = 0
    dry_run: bool = False
    error_report: str | None = None
    seconds: float = 0.0
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.rejected == 0

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["rows_per_second"] = round(self.rows_per_second, 1)
        data["seconds"] = round(self.seconds, 3)
        return data


class _Reject(Exception):
    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class _ErrorReport:
    """The rejected rows (a CSV Excel opens with Chinese intact), written a chunk at a time in
    the order of their lines: a chunk's rows are checked in several passes (values, then
    customers, then stored records), and however the file was cut into chunks, the report
    reads from top to bottom."""

    def __init__(self, path: Path, headers: list[str]) -> None:
        self.path = path
        self.columns = [h for h in headers if h not in REPORT_COLUMNS]
        self._fh: IO[str] | None = None
        self._writer: Any = None
        self._waiting: list[tuple[int, list[Any]]] = []
        self.count = 0

    def add(self, line: int, row: Row, field: str, reason: str) -> None:
        values = [text(row.get(c)) for c in self.columns]
        self._waiting.append((line, [*values, line, field, reason]))
        self.count += 1

    def flush(self) -> None:
        """Write the rows added since the last flush, by line."""
        if not self._waiting:
            return
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # utf-8-sig: the BOM is how Excel knows the file is UTF-8 and shows 张伟, not mojibake.
            self._fh = self.path.open("w", encoding="utf-8-sig", newline="")
            self._writer = csv.writer(self._fh)
            self._writer.writerow([*self.columns, *REPORT_COLUMNS])
        self._waiting.sort(key=itemgetter(0))  # (stable: a row's reasons keep their order)
        self._writer.writerows(row for _line, row in self._waiting)
        self._waiting = []

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()


def _default_report_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.errors.csv")


# --- writing many rows fast ------------------------------------------------------------------

def _columns(model: type[models.Model], names: Iterable[str]) -> list[str]:
    # Every name passed here is a concrete field, which always has a column.
    return [str(model._meta.get_field(n).column) for n in names]  # type: ignore[union-attr]


def _insert(model: type[models.Model], names: list[str], rows: list[tuple[Any, ...]]) -> None:
    """Insert plain tuples (datetimes already through ``_DbTime``, JSON as text)."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in _columns(model, names))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                # ``write_row`` is psycopg's C code: joining the rows into one block of COPY
                # text in Python measured slower (1.0 against 0.5-0.9 µs a row).
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(names))
            cursor.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)


def _copy_lines(model: type[models.Model], names: list[str], lines: Iterable[str]) -> None:
    """COPY rows already written as COPY text lines (PostgreSQL), in blocks of 5,000."""
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in _columns(model, names))
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {table} ({cols}) FROM STDIN") as copy:
        lines = iter(lines)
        while block := "".join(itertools.islice(lines, 5000)):
            copy.write(block)


_MICROSECOND = dt.timedelta(microseconds=1)
_WRITERS = 2  # connections writing the fast lane's chunks at once
_ID_BLOCK = 2_000_000  # most order ids reserved at once (``_OrderImport.reserve_ids``)


class _KeyGuard:
    """One transaction, on a connection of its own, that keeps the rows an import's new orders
    refer to (customers, products, the actor) for the whole import.

    The parallel writing skips the foreign-key triggers (see ``_can_check_keys_per_chunk``);
    what they would do, check that each referenced row exists and lock it ``FOR KEY SHARE``
    so nobody deletes it before the referring rows commit, is done here once per row and
    import instead of once per row and chunk (measured: 850,000 row locks for 1,000,000
    orders of 50,000 customers, about 2 s of the server's time). Whoever deletes such a row
    meanwhile waits until the import ends, then finds its orders. ``keep`` raises
    ``IntegrityError`` when a row does not exist.
    """

    def __init__(self) -> None:
        from django.db import DEFAULT_DB_ALIAS, connections

        self._connection = connections.create_connection(DEFAULT_DB_ALIAS)
        self._connection.set_autocommit(False)
        self._kept: dict[type[models.Model], npt.NDArray[np.int64]] = {}

    def keep(self, model: type[models.Model], ids: npt.NDArray[np.int64]) -> None:
        kept = self._kept.get(model, np.zeros(0, dtype=np.int64))
        fresh = np.unique(ids)
        if len(kept):
            fresh = fresh[~np.isin(fresh, kept, assume_unique=True, kind="table")]
        if not len(fresh):
            return
        table = self._connection.ops.quote_name(model._meta.db_table)
        with self._connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE id = ANY("
                           f"(SELECT %s::bigint[])::bigint[]) FOR KEY SHARE) AS r",
                           ["{" + ",".join(map(str, fresh.tolist())) + "}"])
            found = cursor.fetchone()[0]
        if found != len(fresh):
            raise IntegrityError(f"{len(fresh) - found} of the "
                                 f"{model._meta.verbose_name_plural} this import refers to no "
                                 "longer exist (deleted meanwhile?)")
        self._kept[model] = np.concatenate((kept, fresh))

    def close(self) -> None:
        try:
            self._connection.rollback()  # it changed nothing: ending it lets go of the rows
        finally:
            self._connection.close()


class _ParallelWrites:
    """Threads, each with its own database connection, doing ``work`` on items one at a time
    (``work`` returns False to hand an item back: it is then ``held``).

    ``submit`` hands an item over (waiting while every thread is busy and one item already
    waits); ``wait_for`` waits until no item in flight shares a key with the given ones;
    ``drain`` waits until all are done. The first error of a thread is raised by the next
    ``submit``, ``wait_for`` or ``drain``, and no further item is worked on. Leaving the
    ``with`` block stops the threads and closes their connections.
    """

    def __init__(self, work: Callable[[Any], bool], count: int) -> None:
        self._work = work
        # Items ``work`` declined (returned False), by key: (their keys, the item's second
        # value), until the caller ``release``s them.
        self.held: dict[int, tuple[pa.Array, Any]] = {}
        self._tasks: queue.Queue[tuple[int, Any] | None] = queue.Queue(maxsize=1)
        self._changed = threading.Condition()
        self._in_flight: dict[int, pa.Array] = {}
        self._error: BaseException | None = None
        self._keys = itertools.count()
        self._threads = [threading.Thread(target=self._loop, name=f"guanxi-import-writer-{i}",
                                          daemon=True) for i in range(count)]
        for thread in self._threads:
            thread.start()

    def __enter__(self) -> _ParallelWrites:
        return self

    def __exit__(self, *exc: object) -> None:
        for _thread in self._threads:
            self._tasks.put(None)
        for thread in self._threads:
            thread.join()
        if exc[0] is None:
            self._raise()

    def _loop(self) -> None:
        from django.db import connections

        try:
            while (task := self._tasks.get()) is not None:
                key, item = task
                done = True
                try:
                    if self._error is None:
                        done = self._work(item)
                except BaseException as exc:
                    with self._changed:
                        self._error = self._error or exc
                finally:
                    with self._changed:
                        keys = self._in_flight.pop(key)
                        if not done:
                            self.held[key] = (keys, item[1])
                        self._changed.notify_all()
        finally:
            connections.close_all()  # this thread's own

    def release(self, key: int) -> None:
        """A held item is done with."""
        with self._changed:
            del self.held[key]
            self._changed.notify_all()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def wait_for(self, keys: pa.Array) -> bool:
        """Wait until no item in flight shares a key with ``keys``; False if a held item
        does (the caller writes the held ones first, see ``_OrderImport.write_held``)."""
        def shared(items: Iterable[pa.Array]) -> bool:
            return any(pc.any(pc.is_in(keys, value_set=other)).as_py() for other in items)

        with self._changed:
            while shared(self._in_flight.values()):
                self._changed.wait()
            self._raise()
            return not shared(keys for keys, _item in self.held.values())

    def submit(self, keys: pa.Array, item: Any) -> None:
        key = next(self._keys)
        with self._changed:
            self._raise()
            self._in_flight[key] = keys
        self._tasks.put((key, item))

    def drain(self) -> None:
        with self._changed:
            while self._in_flight:
                self._changed.wait()
            self._raise()


def _copy_binary(model: type[models.Model], names: list[str],
                 columns: Sequence[pgcopy.Column]) -> None:
    """COPY columns of arrays in the binary format (PostgreSQL; ``core.pgcopy``)."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        pgcopy.copy(cursor.cursor, quote(model._meta.db_table),
                    [quote(c) for c in _columns(model, names)], columns)


def _labels(values: pa.Array) -> pgcopy.Column:
    """A string array of few distinct values as a ``pgcopy.text`` column."""
    encoded = pc.dictionary_encode(values)
    return pgcopy.text(encoded.indices.to_numpy(zero_copy_only=False),
                       encoded.dictionary.to_pylist())


def _allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Reserve ``count`` primary keys, so orders, their lines and events insert in one go."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One ``setval`` reserves the whole block (a ``nextval`` per row cost more than the
            # rows' COPY). The lock keeps other writers of this table from drawing ids in
            # between: an INSERT takes its lock before it evaluates its id default, so none can
            # run until the chunk commits. Readers are not blocked.
            cursor.execute(f"LOCK TABLE {connection.ops.quote_name(table)} "
                           "IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute("SELECT setval(s.seq, nextval(s.seq) + %s - 1) FROM "
                           "(SELECT pg_get_serial_sequence(%s, 'id')::regclass AS seq) AS s",
                           [count, table])
            last = cursor.fetchone()[0]
            return list(range(last - count + 1, last + 1))
        # SQLite: the chunk's transaction is BEGIN IMMEDIATE (see settings), so no other writer
        # can take these ids; AUTOINCREMENT's sqlite_sequence keeps ids of deleted rows unused.
        cursor.execute(f"SELECT max(id) FROM {connection.ops.quote_name(table)}")
        top = cursor.fetchone()[0] or 0
        cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
        seq = cursor.fetchone()
        start = max(top, seq[0] if seq else 0) + 1
        return list(range(start, start + count))


# The tables a new order writes: their foreign keys are checked once per chunk (see below).
_ORDER_TABLES = (Order, OrderLine, CustomerEvent)


def _can_check_keys_per_chunk() -> bool:
    """May the order import check its foreign keys per chunk instead of per row (PostgreSQL)?

    PostgreSQL checks a foreign key with a trigger per inserted row: for an order, its line
    and its event that is four lookups and row locks, which cost the server more than the
    rows themselves (1.6 of 3.6 CPU seconds per 100,000 orders). With
    ``session_replication_role = replica`` the COPYs skip those triggers, and
    ``_check_keys`` does their work for the whole chunk at once: every referenced row must
    exist, and is locked ``FOR KEY SHARE`` (as each trigger would) until the chunk commits,
    so nobody can delete it meanwhile. Lines refer to the orders the same statement batch
    has just written.

    Setting that role needs a superuser, or (PostgreSQL 15+) ``GRANT SET ON PARAMETER
    session_replication_role`` to guanxi's database user. It also skips every other trigger,
    so the fast way is only taken when the tables have none (guanxi defines none); otherwise
    the rows are checked one by one as usual. The result is the same either way.
    """
    if connection.vendor != "postgresql":
        return False
    tables = [m._meta.db_table for m in _ORDER_TABLES]
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('is_superuser') = 'on'")
        allowed = bool(cursor.fetchone()[0])
        # has_parameter_privilege came with PostgreSQL 15 (pg_version: the PostgreSQL wrapper's).
        if not allowed and connection.pg_version >= 150000:  # type: ignore[attr-defined]
            cursor.execute("SELECT has_parameter_privilege('session_replication_role', 'SET')")
            allowed = bool(cursor.fetchone()[0])
        if not allowed:
            return False
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal "
                       "AND tgrelid = ANY(%s::regclass[])", [tables])
        return bool(cursor.fetchone()[0] == 0)


def _check_keys(model: type[models.Model], ids: set[int]) -> None:
    """The foreign-key check for a set of rows at once: each must exist; each stays locked
    ``FOR KEY SHARE`` until the transaction ends (see ``_can_check_keys_per_chunk``)."""
    if not ids:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    with connection.cursor() as cursor:
        match, params = _pg_array(sorted(ids))
        cursor.execute(f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {pk} {match} "
                       "FOR KEY SHARE) AS r", params)
        found = cursor.fetchone()[0]
    if found != len(ids):
        raise IntegrityError(f"{len(ids) - found} of the {model._meta.verbose_name_plural} "
                             "this chunk refers to no longer exist (deleted meanwhile?)")


# --- shared row helpers ----------------------------------------------------------------------

def _choice(value: str, table: Mapping[str, str], field: str, what: str) -> str:
    key = value.strip().casefold()
    if key in table:
        return table[key]
    raise _Reject(field, f"{value!r} is not a known {what}; use one of "
                         f"{', '.join(sorted(set(table.values()) - {''}))}")


_GENDERS = {"男": Gender.MALE, "男性": Gender.MALE, "先生": Gender.MALE, "m": Gender.MALE,
            "male": Gender.MALE, "man": Gender.MALE, "女": Gender.FEMALE, "女性": Gender.FEMALE,
            "女士": Gender.FEMALE, "f": Gender.FEMALE, "female": Gender.FEMALE,
            "woman": Gender.FEMALE, "其他": Gender.OTHER, "o": Gender.OTHER,
            "other": Gender.OTHER, "未知": Gender.UNKNOWN, "unknown": Gender.UNKNOWN}
_INCOME = {"富裕": IncomeBand.AFFLUENT, "affluent": IncomeBand.AFFLUENT,
           "小康": IncomeBand.COMFORTABLE, "comfortable": IncomeBand.COMFORTABLE,
           "温饱": IncomeBand.BASIC, "basic": IncomeBand.BASIC}
_KINDS = {"个人": Kind.PERSON, "person": Kind.PERSON, "individual": Kind.PERSON,
          "企业": Kind.ORGANIZATION, "公司": Kind.ORGANIZATION, "组织": Kind.ORGANIZATION,
          "单位": Kind.ORGANIZATION, "organization": Kind.ORGANIZATION,
          "organisation": Kind.ORGANIZATION, "company": Kind.ORGANIZATION}
_COUNTRIES = {"中国": "CN", "中国大陆": "CN", "china": "CN", "香港": "HK", "中国香港": "HK",
              "台湾": "TW", "中国台湾": "TW", "澳门": "MO", "美国": "US", "usa": "US",
              "日本": "JP", "新加坡": "SG", "英国": "GB", "uk": "GB"}
_CHANNELS = {"电话": Channel.PHONE, "来电": Channel.PHONE, "去电": Channel.PHONE,
             "phone": Channel.PHONE, "call": Channel.PHONE, "tel": Channel.PHONE,
             "拜访": Channel.VISIT, "上门": Channel.VISIT, "走访": Channel.VISIT,
             "visit": Channel.VISIT, "邮件": Channel.EMAIL, "电子邮件": Channel.EMAIL,
             "email": Channel.EMAIL, "e-mail": Channel.EMAIL, "mail": Channel.EMAIL,
             "短信": Channel.SMS, "sms": Channel.SMS, "text": Channel.SMS,
             "微信": Channel.WECHAT, "wechat": Channel.WECHAT, "weixin": Channel.WECHAT,
             "会议": Channel.MEETING, "会面": Channel.MEETING, "meeting": Channel.MEETING,
             "其他": Channel.OTHER, "other": Channel.OTHER}
_DIRECTIONS = {"呼入": Direction.INBOUND, "来电": Direction.INBOUND, "客户来访": Direction.INBOUND,
               "in": Direction.INBOUND, "inbound": Direction.INBOUND,
               "incoming": Direction.INBOUND, "呼出": Direction.OUTBOUND,
               "去电": Direction.OUTBOUND, "out": Direction.OUTBOUND,
               "outbound": Direction.OUTBOUND, "outgoing": Direction.OUTBOUND}
_STATUSES = {"已下单": OrderStatus.PLACED, "待付款": OrderStatus.PLACED,
             "placed": OrderStatus.PLACED,
             "已付款": OrderStatus.PAID, "已支付": OrderStatus.PAID, "paid": OrderStatus.PAID,
             "已发货": OrderStatus.SHIPPED, "shipped": OrderStatus.SHIPPED,
             "已完成": OrderStatus.COMPLETED, "完成": OrderStatus.COMPLETED,
             "交易成功": OrderStatus.COMPLETED, "已签收": OrderStatus.COMPLETED,
             "completed": OrderStatus.COMPLETED, "complete": OrderStatus.COMPLETED,
             "已退款": OrderStatus.REFUNDED, "退款": OrderStatus.REFUNDED,
             "refunded": OrderStatus.REFUNDED, "refund": OrderStatus.REFUNDED,
             "已取消": OrderStatus.CANCELLED, "取消": OrderStatus.CANCELLED,
             "交易关闭": OrderStatus.CANCELLED, "cancelled": OrderStatus.CANCELLED,
             "canceled": OrderStatus.CANCELLED}


def _shown(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


# --- reading ahead ---------------------------------------------------------------------------

_END = object()


def _read_ahead(items: Iterator[Any], depth: int = 1) -> Generator[Any, None, None]:
    """Produce ``items`` in a thread, at most ``depth`` ahead of the consumer.

    The import reads and parses the next chunk while the database writes the current one:
    the database's work (SQLite's C code, PostgreSQL's round trips) runs without the GIL, so
    the two overlap. Nothing here touches the database. An exception in the thread is raised
    to the consumer in its place in the sequence; closing the generator stops the thread.
    """
    ready: queue.Queue[tuple[object, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: object, value: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put((kind, value), timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for item in items:
                if not put(None, item):
                    return
            put(_END, None)
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc, None)

    thread = threading.Thread(target=work, name="guanxi-import-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = ready.get()
            if kind is None:
                yield value
            elif kind is _END:
                return
            else:
                assert isinstance(kind, BaseException)
                raise kind
    finally:
        stop.set()
        thread.join()


# Forking keeps the import's state (the mapping, the open file, a test's patches) in the
# parsing process without pickling it; where there is no fork, parsing reads ahead in a thread.
_CAN_FORK = "fork" in multiprocessing.get_all_start_methods()


def _parse_ahead(items: Iterator[Any], pack: Callable[[Any], Any],
                 unpack: Callable[[Any], Any]) -> Iterator[Any]:
    """Produce ``items`` in a forked process, one ahead of the consumer.

    The order import's reading and parsing is Python, which a thread could only run while
    the writing thread waits for the database, and which took the GIL from it when the
    answer came (measured: the writing thread's wall clock was half again its CPU). A
    process runs it on the other core: it reads and parses chunk N+1 while this process
    writes chunk N, then waits in ``send`` until it is taken; a thread here reads the pipe
    one message ahead, so at most three chunks are in flight whatever the file's size.
    ``pack`` / ``unpack`` turn an item into plain data that pickles fast and back.
    Nothing in the child touches the database (it ends with ``os._exit``, closing nothing
    of the parent's). An exception there is raised here in its place in the sequence;
    closing the generator stops the child.
    """
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()  # or the child's exit would write the buffered text a second time
    child = context.Process(target=_send_all, args=(items, pack, sender), daemon=True,
                            name="guanxi-import-parser")
    child.start()
    sender.close()

    def messages() -> Iterator[bytes]:
        while True:
            try:
                yield receiver.recv_bytes()
            except EOFError:
                raise RuntimeError("the import's parsing process ended unexpectedly") from None

    # The bytes are read by a thread (the read releases the GIL) while the database writes.
    received = _read_ahead(messages())
    try:
        for message in received:
            kind, value = pickle.loads(message)
            if kind == "item":
                yield unpack(value)
            elif kind == "end":
                return
            else:
                raise value
    finally:
        if child.is_alive():
            child.terminate()
        child.join()  # its end of the pipe closed: the reading thread sees the end and stops
        received.close()
        receiver.close()


def _send_all(items: Iterator[Any], pack: Callable[[Any], Any], sender: Any) -> None:
    """The parsing process: every item packed down the pipe, then the end or the error."""
    try:
        for item in items:
            sender.send(("item", pack(item)))
        sender.send(("end", None))
    except BaseException as exc:  # handed to the parent, raised there
        error: BaseException = exc
        try:
            pickle.loads(pickle.dumps(exc))
        except Exception:  # one that does not travel: its text
            error = RuntimeError(f"{type(exc).__name__}: {exc}")
        sender.send(("error", error))
    finally:
        sender.close()


# --- the import driver ---------------------------------------------------------------------

@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Python's cycle collector off while an import runs (on again after, if it was on).

    An import allocates a few containers per row (the row's dict, its tuples, an order) while
    the chunks in flight keep some hundred thousand of them alive, so the collector ran every
    few hundred allocations and each run walked the live ones again: measured, it was over
    half of the parsing's CPU time (the transposition of a chunk's columns 0.53 s -> 0.08 s
    per 200,000 rows without it). The rows make no reference cycles, so reference counting
    frees them as before and memory stays flat. The switch is process-wide: other threads'
    cycles wait for the import's end (two imports at once: the first to end turns it on).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


ChunkT = TypeVar("ChunkT", bound=Sized)


class _Import(Generic[ChunkT]):
    kind: ImportKind
    group_field: str | None = None  # rows with the same value here stay in one chunk

    def __init__(self, *, path: Path | str, actor: User | None, mapping: dict[str, str] | None,
                 fmt: str, dry_run: bool, update: bool, source_system: str,
                 report_path: Path | str | None, progress: ProgressCallback | None,
                 chunk_size: int) -> None:
        self.path = Path(path)
        self.actor = actor
        self.overrides = mapping
        self.fmt = fmt
        self.dry_run = dry_run
        self.update = update
        self.source_system = source_system
        self.report_path = Path(report_path) if report_path else _default_report_path(self.path)
        self.progress = progress
        self.chunk_size = chunk_size
        self.result = ImportResult(kind=str(self.kind), file=str(self.path), dry_run=dry_run)
        self.columns: dict[str, str] = {}  # field -> column
        self.report: _ErrorReport | None = None

    # The subclasses' part.
    def process(self, chunk: ChunkT) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def chunks(self, table: TableReader) -> Iterator[ChunkT]:  # pragma: no cover - abstract
        """The chunks ``run`` hands to ``process``, in the order of the file."""
        raise NotImplementedError

    def position(self, chunk: ChunkT, table: TableReader) -> int:
        """How far into the file ``chunk`` ends (what the progress bar shows)."""
        return table.position()

    def options(self) -> dict[str, Any]:
        return {"update": self.update}

    def after_chunks(self) -> None:
        """Work left for after the last chunk (a real import only; see the order import)."""

    def after_failure(self) -> None:
        """Keep what the chunks done before a failure need (see the order import)."""

    def value(self, row: Row, field: str) -> Any:
        column = self.columns.get(field)
        return row.get(column, "") if column is not None else ""

    def text(self, row: Row, field: str) -> str:
        return text(self.value(row, field))

    def column(self, field: str) -> str:
        return self.columns.get(field, field)

    def reject(self, line: int, row: Row, field: str, reason: str) -> None:
        assert self.report is not None
        self.report.add(line, row, self.column(field), reason)
        self.result.rejected += 1

    def _chunks(self, table: TableReader) -> Iterator[list[tuple[int, Row]]]:
        group_column = self.columns.get(self.group_field) if self.group_field else None
        chunk: list[tuple[int, Row]] = []
        for line, row in table:
            # Rows of one order (same order number, one after the other) stay in one chunk.
            if len(chunk) >= self.chunk_size and (
                    group_column is None
                    or row.get(group_column) != chunk[-1][1].get(group_column)):
                yield chunk
                chunk = []
            chunk.append((line, row))
        if chunk:
            yield chunk

    def run(self) -> ImportResult:
        with _cyclic_gc_paused():
            return self._run()

    def _run(self) -> ImportResult:
        check_can_import(user=self.actor)
        started = time.perf_counter()
        with open_table(self.path, self.fmt) as table:
            mapping = map_headers(table.headers, str(self.kind), self.overrides)
            require_fields(mapping, str(self.kind), table.headers)
            self.columns = {f: c for c, f in mapping.items()}
            if self.report_path.resolve() == self.path.resolve():
                self.report_path = _default_report_path(self.path)
            self.report_path.unlink(missing_ok=True)
            self.report = _ErrorReport(self.report_path, table.headers)
            run = None if self.dry_run else ImportRun.objects.create(
                kind=self.kind, file_name=self.path.name[:255], file_format=self.fmt,
                source_system=self.source_system, actor=self.actor, options=self.options(),
                started_at=clock.now())
            self.result.run_id = run.pk if run else None
            chunks = self.chunks(table)
            try:
                self.write_chunks(chunks, table, run)
                self.after_chunks()
            except BaseException as exc:
                if not self.dry_run:
                    self.after_failure()
                if run is not None:
                    self._finish(run, ImportStatus.FAILED,
                                 exc.message if isinstance(exc, GuanxiError) else repr(exc))
                raise
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # stops a parsing process or thread before the file closes
                self.report.close()
        if self.report.count:
            self.result.error_report = str(self.report_path)
        self.result.seconds = time.perf_counter() - started
        if self.progress is not None:
            self.progress(table.size, table.size)
        if run is not None:
            self._finish(run, ImportStatus.SUCCEEDED if self.result.ok else ImportStatus.PARTIAL,
                         "")
        return self.result

    def write_chunks(self, chunks: Iterator[ChunkT], table: TableReader,
                     run: ImportRun | None) -> None:
        """Each chunk in its own transaction, one after the other."""
        for chunk in chunks:
            self.result.read += len(chunk)
            self.write_chunk(chunk)
            self._progress(table, run, self.position(chunk, table))

    def write_chunk(self, chunk: ChunkT) -> None:
        with transaction.atomic():
            self.process(chunk)
            if self.dry_run:
                # The same code path as a real import, rolled back: the counts and the error
                # report are exactly what the real run will give.
                transaction.set_rollback(True)
        assert self.report is not None
        self.report.flush()

    def _progress(self, table: TableReader, run: ImportRun | None, done: int) -> None:
        total = table.size
        if self.progress is not None:
            self.progress(done, total)
        if run is not None:
            r = self.result
            ImportRun.objects.filter(pk=run.pk).update(
                progress=min(done / total, 1.0) if total else 0.0, rows_read=r.read,
                created=r.created, updated=r.updated, unchanged=r.unchanged,
                rejected=r.rejected, customers_created=r.customers_created)

    def _finish(self, run: ImportRun, status: ImportStatus, message: str) -> None:
        r = self.result
        ImportRun.objects.filter(pk=run.pk).update(
            status=status, finished_at=clock.now(), progress=1.0, rows_read=r.read,
            created=r.created, updated=r.updated, unchanged=r.unchanged, rejected=r.rejected,
            customers_created=r.customers_created,
            error_report=str(self.report_path) if self.report and self.report.count else "",
            message=message)

    # Customers by external id, shared by the three imports.
    def customer_ids(self, values: Iterable[str]) -> dict[str, int]:
        return dict(ExternalId.objects.filter(source=self.source_system, value__in=set(values))
                    .values_list("value", "customer_id"))

    def create_customers(self, new: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
        """Create customers with their external ids and created events; return their ids."""
        objs = []
        for _ext, fields in new:
            customer = Customer(**fields)
            customer.name_pinyin, customer.name_initials = name_pinyin(customer.name)
            objs.append(customer)
        Customer.objects.bulk_create(objs, batch_size=1000)
        ExternalId.objects.bulk_create(
            [ExternalId(customer_id=c.pk, source=self.source_system, value=ext)
             for (ext, _f), c in zip(new, objs, strict=True)], batch_size=1000)
        events.customers_created_events_bulk(customer_ids=[c.pk for c in objs], actor=self.actor,
                                             source=f"import:{self.source_system}")
        return {ext: c.pk for (ext, _f), c in zip(new, objs, strict=True)}


# --- customers -------------------------------------------------------------------------------

_CUSTOMER_TEXT = ("name", "phone", "email", "city", "region", "industry", "company_size",
                  "occupation", "source")


class _RowImport(_Import[list[tuple[int, Row]]]):
    """An import whose chunks are the file's rows as they are (customers, interactions)."""

    def chunks(self, table: TableReader) -> Iterator[list[tuple[int, Row]]]:
        return self._chunks(table)


class _CustomerImport(_RowImport):
    kind = ImportKind.CUSTOMERS

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._owners: dict[str, int] = {}

    def after_chunks(self) -> None:
        """PostgreSQL: fresh planner statistics after a large load.

        An order import usually follows at once, and plans its lookups of a chunk's customer
        numbers from them: a table just filled still looks empty, so each lookup read every
        number of the source and compared it with the chunk's 20,000 (0.25 s a chunk at
        15,000 customers, 12 ms by the index once analysed). Autovacuum would get there, a
        minute or more later.
        """
        if (connection.vendor == "postgresql" and not self.dry_run
                and self.result.created >= _ANALYZE_AFTER):
            quote = connection.ops.quote_name
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {quote(Customer._meta.db_table)}, "
                               f"{quote(ExternalId._meta.db_table)}")

    def parse(self, row: Row) -> tuple[str, dict[str, Any]]:
        ext = self.text(row, "external_id")
        if not ext:
            raise _Reject("external_id", "the customer number is empty")
        if len(ext) > 128:
            raise _Reject("external_id", "the customer number is longer than 128 characters")
        fields: dict[str, Any] = {}
        for name in _CUSTOMER_TEXT:
            value = self.text(row, name)
            if value:
                limit = Customer._meta.get_field(name).max_length or 0  # type: ignore[union-attr]
                if limit and len(value) > limit:
                    raise _Reject(name, f"longer than {limit} characters")
                fields[name] = value
        if "name" not in fields:
            raise _Reject("name", "the customer has no name")
        if value := self.text(row, "gender"):
            fields["gender"] = _choice(value, _GENDERS, "gender", "gender")
        if value := self.text(row, "income_band"):
            fields["income_band"] = _choice(value, _INCOME, "income_band", "income band")
        if value := self.text(row, "kind"):
            fields["kind"] = _choice(value, _KINDS, "kind", "kind")
        if value := self.text(row, "country"):
            code = _COUNTRIES.get(value.casefold(), value.upper())
            if len(code) != 2 or not code.isalpha():
                raise _Reject("country", f"{value!r} is not a two-letter country code (CN, US…)")
            fields["country"] = code
        for name in ("birthday", "acquired_on"):
            raw = self.value(row, name)
            if text(raw):
                try:
                    fields[name] = parse_date(raw)
                except ValueError as exc:
                    raise _Reject(name, str(exc)) from None
        if value := self.text(row, "owner"):
            if value not in self._owners:
                owner = User.objects.filter(username=value).values_list("pk", flat=True).first()
                if owner is None:
                    raise _Reject("owner", f"there is no user named {value!r}")
                self._owners[value] = owner
            fields["owner_id"] = self._owners[value]
        try:
            return ext, clean_customer_fields(fields)
        except GuanxiError as exc:
            raise _Reject(exc.field or "name", exc.message) from None

    def process(self, chunk: list[tuple[int, Row]]) -> None:
        parsed: list[tuple[int, Row, str, dict[str, Any]]] = []
        for line, row in chunk:
            try:
                ext, fields = self.parse(row)
            except _Reject as rej:
                self.reject(line, row, rej.field, rej.reason)
                continue
            parsed.append((line, row, ext, fields))
        known = self.customer_ids(p[2] for p in parsed)
        stored = Customer.objects.in_bulk(set(known.values()))
        new: dict[str, tuple[int, dict[str, Any]]] = {}
        for line, row, ext, fields in parsed:
            if ext in new:
                first_line, first = new[ext]
                if first == fields:
                    self.result.unchanged += 1
                else:
                    self.reject(line, row, "external_id",
                                f"customer {ext} appears already on line {first_line} with "
                                "other values")
                continue
            if ext not in known:
                new[ext] = (line, fields)
                continue
            customer = stored[known[ext]]
            # A blank cell means "not in this file", never "erase what we know".
            changes = {k: v for k, v in fields.items() if getattr(customer, k) != v}
            if not changes:
                self.result.unchanged += 1
            elif self.update:
                customer_update(actor=self.actor, customer=customer, **changes)
                self.result.updated += 1
            else:
                name, value = next(iter(changes.items()))
                self.reject(line, row, name.removesuffix("_id"),
                            f"customer {ext} is stored with {name} "
                            f"{_shown(getattr(customer, name))!r}, the file says "
                            f"{_shown(value)!r}; use --update to overwrite")
        if new:
            self.create_customers([(ext, fields) for ext, (_l, fields) in new.items()])
            self.result.created += len(new)


# --- orders ----------------------------------------------------------------------------------

@dataclass(slots=True)  # millions are made: no per-object dict
class _Order:
    external_id: str
    customer: str
    customer_name: str
    utc: dt.datetime  # when it was placed, as naive UTC (``placed_at`` gives it aware)
    status: str  # "" when the file does not say
    channel: str
    currency: str
    first_line: int
    lines: list[tuple[str, Decimal, Decimal]]
    rows: Sequence[tuple[int, Row]]  # a list; in the writing process a ``_LazyRows``
    total: Decimal  # the sum of the lines' amounts, kept as they are added
    # Set by ``_finish_orders`` once the chunk's lines are all in (where the file is parsed, so
    # the writing process finds them ready):
    final_status: str = ""  # the status stored: a negative total is a refund, whatever it says
    db_at: str = ""  # ``placed_at`` as the database column takes it (and gives it back as text)
    # PostgreSQL: the order's COPY text after its id and customer id (``_copy_tail``)
    copy_tail: str = ""

    @property
    def placed_at(self) -> dt.datetime:
        """The time it was placed, aware (in UTC: only the parsing needs the company's zone,
        and an aware time of a day and its zone's local copy were one more object per row)."""
        return self.utc.replace(tzinfo=dt.UTC)


def _cell(row: Row, column: str | None) -> str:
    if column is None:
        return ""
    value = row.get(column, "")
    return value.strip() if type(value) is str else text(value)


def _add_row(orders: dict[str, _Order], rejects: list[tuple[int, Row, str, str]], line: int,
             row: Row, ext: str, customer: str, name: str, utc: dt.datetime, status: str,
             channel: str, currency: str, item: tuple[str, Decimal, Decimal]) -> None:
    """A parsed row becomes a new order, or a line of the order its number names already."""
    order = orders.get(ext)
    if order is None:
        orders[ext] = _Order(ext, customer, name, utc, status, channel, currency, line, [item],
                             [(line, row)], item[2])
        return
    # (The same time in UTC is the same time, whichever way the rows write it.)
    if (customer, utc, currency) != (order.customer, order.utc, order.currency):
        rejects.append((line, row, "external_id",
                        f"order {ext} appears on line {order.first_line} with another "
                        "customer, time or currency"))
        return
    order.lines.append(item)
    assert isinstance(order.rows, list)  # (parsing: not yet sent to the writing process)
    order.rows.append((line, row))
    order.total += item[2]
    order.status = order.status or status
    order.channel = order.channel or channel


def _finish_orders(orders: Iterable[_Order], db_time: _DbTime) -> None:
    """Once all of a chunk's lines are in: each order's stored status and time, and on
    PostgreSQL the text COPY takes for it."""
    refunded, completed = OrderStatus.REFUNDED.value, OrderStatus.COMPLETED.value
    as_text = db_time.text
    copy = db_time.vendor == "postgresql"
    for order in orders:
        # A negative total is money paid back: the order is a refund whatever it says.
        order.final_status = refunded if order.total < 0 else (order.status or completed)
        order.db_at = as_text(order.utc)
        if copy:
            order.copy_tail = _copy_tail(order)


_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str) -> str:
    """A text value as COPY's text format writes it (what psycopg's ``write_row`` does)."""
    return value.translate(_COPY_SPECIAL) if not value.isalnum() else value


def _copy_tail(order: _Order) -> str:
    """The order's row of COPY text after its id and customer id (``_ORDER_COPY_COLUMNS``).

    Made where the file is parsed (the parsing process), so the writing process only puts the
    two ids in front: ``write_row`` took it 1.8 µs of Python a row, most of the writing's.
    """
    return (f"{_copy_text(order.external_id)}\t{order.db_at}\t{_copy_text(order.channel)}\t"
            f"{order.final_status}\t{order.total}\t{_copy_text(order.currency)}\n")


_DAY = itemgetter(slice(0, 10))  # "YYYY-MM-DD" of an ISO time's text
_NO_OFFSET = dt.timedelta.max  # "not looked up yet" (None means: the day changes its offset)
_DAY_PROBES = [dt.time(h, fold=f) for h in range(24) for f in (0, 1)] + [
    dt.time(23, 59, 59, 999999, fold=f) for f in (0, 1)]


def _day_offset(zone: dt.tzinfo | None, day: dt.date) -> dt.timedelta | None:
    """The UTC offset of ``zone`` all through ``day``, or None if it changes that day (DST).

    A change moves the offset between two probes an hour apart (or the last hour's and the
    day's last microsecond), and ``fold`` catches the repeated hour when clocks go back.
    """
    if zone is None:
        return None
    offsets = {zone.utcoffset(dt.datetime.combine(day, t)) for t in _DAY_PROBES}
    return offsets.pop() if len(offsets) == 1 else None


class _DbTime:
    """Aware datetimes as the database column wants them, each day's UTC offset looked up once.

    SQLite gets what Django stores there (naive UTC text), PostgreSQL UTC text for COPY. A
    day on which the zone changes its offset takes the general (zoneinfo) way.
    """

    def __init__(self, vendor: str) -> None:
        self.sqlite = vendor == "sqlite"
        self.vendor = vendor
        self._offsets: dict[tuple[dt.tzinfo | None, dt.date], dt.timedelta | None] = {}

    def day_offset(self, zone: dt.tzinfo | None, day: dt.date) -> dt.timedelta | None:
        """``_day_offset``, remembered."""
        key = (zone, day)
        try:
            return self._offsets[key]
        except KeyError:
            if len(self._offsets) > 100_000:
                self._offsets.clear()
            offset = self._offsets[key] = _day_offset(zone, day)
            return offset

    def naive_utc(self, value: dt.datetime) -> dt.datetime:
        offset = self.day_offset(value.tzinfo, value.date())
        if offset is None:
            return value.astimezone(dt.UTC).replace(tzinfo=None)
        return value.replace(tzinfo=None) - offset

    def text(self, utc: dt.datetime) -> str:
        """A naive UTC time as the column takes it, and as it gives it back as text: SQLite
        what Django stores, PostgreSQL what ``placed_at::text`` says in Django's UTC session
        (so the re-import recognizes a stored time by comparing text)."""
        return str(utc) if self.sqlite else f"{utc}+00"

    def __call__(self, value: dt.datetime) -> str:
        return self.text(self.naive_utc(value))


def _decimal(value: Any) -> Decimal:
    """A number as the database returned it (SQLite gives int or float for NUMERIC)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def _stored_datetime(value: Any) -> dt.datetime:
    """A datetime read with raw SQL: SQLite gives naive UTC (or its text), PostgreSQL aware."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    assert isinstance(value, dt.datetime)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _select(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    # Raw reads for the hot path: Django's ``__in`` prepares each of thousands of values one
    # by one, which cost more than the query itself.
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _in(values: list[Any]) -> tuple[str, list[Any]]:
    """``IN (...)`` for thousands of values with one parameter and one fixed SQL text.

    A fixed text matters: SQLite's driver caches prepared statements by text, and a
    differently long ``IN (%s, %s, ...)`` per chunk filled that cache with huge statements,
    so memory grew with the file instead of staying flat.
    """
    if connection.vendor == "postgresql":
        return _pg_array(values)
    return "IN (SELECT value FROM json_each(%s))", [json.dumps(values)]


def _pg_array(values: list[Any]) -> tuple[str, list[Any]]:
    """``= ANY`` of one array parameter written as an array literal: psycopg's client-side
    binding (Django's) quoted thousands of values one by one, which cost more than the query.
    Integers are written as they are, text quoted (backslashes and quotes escaped).

    The array is behind a scalar subquery, so the planner plans for a few values instead of
    estimating each of the thousands it sees: seeing them, it read all of ``sales_order``
    (80 ms a chunk at 1,000,000 orders) to find a chunk's 20,000 order numbers, which the
    index finds in 5 ms; and the estimates alone took it 4 ms a query.
    """
    if values and all(type(v) is int for v in values):
        return "= ANY((SELECT %s::bigint[])::bigint[])", ["{" + ",".join(map(str, values)) + "}"]
    if values and all(type(v) is str for v in values):
        joined = '","'.join(values)
        # Two quotes per separator and none more: no value holds a quote.
        if "\\" in joined or joined.count('"') != 2 * (len(values) - 1):
            joined = '","'.join(v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "= ANY((SELECT %s::text[])::text[])", ['{"' + joined + '"}']
    return "= ANY(%s)", [values]


@dataclass(slots=True)
class _Parsed:
    """A chunk parsed ahead of the writing: its orders and rejected rows, how many rows it
    had, and how far into the file it ends (the reader's position, for the progress bar)."""

    size: int
    orders: dict[str, _Order]
    rejects: list[tuple[int, Row, str, str]]
    position: int

    def __len__(self) -> int:
        return self.size


_ORDER_FIELDS = tuple(f.name for f in dataclass_fields(_Order))
_ROWS, _CUSTOMER, _COPY_TAIL = (operator.attrgetter(n) for n in ("rows", "customer", "copy_tail"))
_LINES_AT, _ROWS_AT = _ORDER_FIELDS.index("lines"), _ORDER_FIELDS.index("rows")
# The order of ``_copy_tail``'s text, after the two ids the writing process knows.
_ORDER_COPY_COLUMNS = ["id", "customer", "external_id", "placed_at", "channel", "status", "total",
                       "currency"]


def _pack(parsed: _Parsed) -> tuple[Any, ...]:
    """A parsed chunk as the parsing process sends it: the orders as columns of plain values.

    Pickling a column of strings, Decimals or datetimes runs in C; the ``_Order`` objects
    themselves pickled field by field in Python (``dataclass`` slots), which cost the parent
    more than it saved. The orders' lines, when each has one, go as three flat columns (a
    list of one tuple per order cost more to pickle than its values), and the rows of the
    file as one pickle of their own that the parent opens only to report a rejected order.
    """
    orders = list(parsed.orders.values())
    columns: list[Any] = [list(map(operator.attrgetter(name), orders)) for name in _ORDER_FIELDS]
    lines, rows = columns[_LINES_AT], columns[_ROWS_AT]
    flat = all(len(order_lines) == 1 for order_lines in lines)
    if flat:
        columns[_LINES_AT] = list(zip(*(order_lines[0] for order_lines in lines), strict=True))
    columns[_ROWS_AT] = list(map(len, rows))
    return (parsed.size, parsed.position, columns, flat, pickle.dumps(rows, protocol=5),
            parsed.rejects)


def _pack_any(item: _Parsed | columnar.OrderColumns) -> Any:
    """``_pack`` for the row path's chunks; the fast lane's arrays pickle as they are."""
    return item if _is_columns(item) else _pack(item)


def _unpack_any(packed: Any) -> _Parsed | columnar.OrderColumns:
    return packed if _is_columns(packed) else _unpack(packed)


def _unpack(packed: tuple[Any, ...]) -> _Parsed:
    size, position, columns, flat, rows, rejects = packed
    if flat:
        columns[_LINES_AT] = [[line] for line in zip(*columns[_LINES_AT], strict=True)]
    file_rows = _FileRows(rows)
    columns[_ROWS_AT] = list(map(_LazyRows, itertools.repeat(file_rows), itertools.count(),
                                 columns[_ROWS_AT]))
    orders = dict(zip(columns[0], map(_Order, *columns), strict=True))
    return _Parsed(size, orders, rejects, position)


class _FileRows:
    """A chunk's rows of the file per order, unpickled the first time one is asked for."""

    def __init__(self, pickled: bytes) -> None:
        self._pickled: bytes | None = pickled
        self._rows: list[list[tuple[int, Row]]] = []

    def of(self, index: int) -> list[tuple[int, Row]]:
        if self._pickled is not None:
            self._rows, self._pickled = pickle.loads(self._pickled), None
        return self._rows[index]


class _LazyRows(Sequence[tuple[int, Row]]):
    """An order's rows of the file: their number at hand, the rows when a report needs them."""

    __slots__ = ("_count", "_file", "_index")

    def __init__(self, file_rows: _FileRows, index: int, count: int) -> None:
        self._file, self._index, self._count = file_rows, index, count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, i: Any) -> Any:
        return self._file.of(self._index)[i]


class _OrderImport(_Import["_Parsed | columnar.OrderColumns"]):
    kind = ImportKind.ORDERS
    group_field = "external_id"

    def __init__(self, *, create_customers: bool, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.create_missing = create_customers
        self.default_currency = settings.GUANXI_DEFAULT_CURRENCY
        self._dry_created: set[str] = set()
        self._quantities: dict[str, Decimal] = {}  # raw text -> parsed, checked quantity
        self._statuses: dict[str, str] = {}
        self._db_time: _DbTime | None = None
        self._customers: dict[str, int] = {}  # customer number -> id, as looked up
        # customer id -> their newest purchase seen by this import (naive UTC), not yet stored
        self._pending_last: dict[int, dt.datetime] = {}
        # The same from fast-lane chunks: (customer ids, naive UTC microseconds) per chunk.
        self._pending_columns: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
        self._pending_count = 0
        self._lock = threading.Lock()  # the counts and purchases, written by two threads
        self._next_id, self._ids_left = 0, 0  # order ids reserved (``reserve_ids``)
        self._rows_ahead = 0  # rows the file still holds, about (``reserve_ids``)
        self._keys_per_chunk: bool | None = None  # see ``_can_check_keys_per_chunk``

    @property
    def db_time(self) -> _DbTime:
        if self._db_time is None or self._db_time.vendor != connection.vendor:
            self._db_time = _DbTime(connection.vendor)
        return self._db_time

    def options(self) -> dict[str, Any]:
        return {"update": self.update, "create_customers": self.create_missing}

    def customer_ids(self, values: Iterable[str]) -> dict[str, int]:
        """Customer ids by number; numbers found once are not asked for again in this import
        (a real import only: a dry run's customers vanish with its rollback)."""
        known = self._customers
        found: dict[str, int] = {}
        wanted: list[str] = []
        for value in set(values):
            cid = known.get(value)
            if cid is None:
                wanted.append(value)
            else:
                found[value] = cid
        if not wanted:
            return found
        table = connection.ops.quote_name(ExternalId._meta.db_table)
        match, params = _in(wanted)
        fresh = dict(_select(f"SELECT value, customer_id FROM {table} WHERE source = %s "
                             f"AND value {match}", [self.source_system, *params]))
        if not self.dry_run and len(known) < _MAX_CACHED:
            known.update(fresh)
        found.update(fresh)
        return found

    def chunks(self, table: TableReader) -> Iterator[_Parsed | columnar.OrderColumns]:
        self._db_time = None
        _ = self.db_time  # made here: the parsing process or thread must not touch the connection
        items: Iterator[_Parsed | columnar.OrderColumns] = self.parsed(table)
        layout = text_layout(table)
        if layout is not None and connection.vendor == "postgresql":
            items = self.fast_lane(*layout)
        # (A daemonic process, a multiprocessing pool's worker, may not have children.)
        if _CAN_FORK and not multiprocessing.current_process().daemon:
            return _parse_ahead(items, _pack_any, _unpack_any)
        return _read_ahead(items)

    def write_chunks(self, chunks: Iterator[_Parsed | columnar.OrderColumns],
                     table: TableReader, run: ImportRun | None) -> None:
        """The fast lane's new orders written two chunks at a time on PostgreSQL.

        Writing a chunk is mostly the server's work (inserting the rows into their tables and
        indexes), one process per connection: two connections, each writing whole chunks in
        their own transactions, use both cores. Everything else (a chunk with a stored order or
        an unknown customer, the row path's chunks, a dry run, an import inside a caller's
        transaction) is written here, one chunk at a time, once the chunks in flight are
        done; and a chunk with an order number of a chunk still in flight waits for it, so
        every order is looked up after any earlier row of it was stored.
        """
        if (self.dry_run or connection.vendor != "postgresql" or connection.in_atomic_block
                or _WRITERS < 2):
            super().write_chunks(chunks, table, run)
            return
        self._keys_per_chunk = _can_check_keys_per_chunk()
        guard = _KeyGuard() if self._keys_per_chunk else None
        try:
            self._write_in_parallel(chunks, table, run, guard)
        finally:
            if guard is not None:
                guard.close()

    def _write_in_parallel(self, chunks: Iterator[_Parsed | columnar.OrderColumns],
                           table: TableReader, run: ImportRun | None,
                           guard: _KeyGuard | None) -> None:
        # A chunk's orders are looked for before it is written only once one of them was
        # found stored (a re-import): until then a stored order number would make the COPY
        # fail on the unique index, and the chunk goes the row path (``held``).
        self._look_for_stored = False
        with _ParallelWrites(self.write_in_worker, _WRITERS) as writers:
            for chunk in chunks:
                self.result.read += len(chunk)
                self.write_held(writers)
                cids: npt.NDArray[np.int64] | bool = False
                if _is_columns(chunk):
                    while not writers.wait_for(chunk.external_id):
                        self.write_held(writers)
                    cids = self.sort_chunk(chunk, look_for_stored=self._look_for_stored)
                if cids is False:
                    writers.drain()
                    self.write_chunk(chunk)
                elif cids is not True:
                    assert isinstance(chunk, columnar.OrderColumns)
                    products = self.chunk_products(chunk)
                    # (The file's rows so far took this many bytes each.)
                    self._rows_ahead = int(1.05 * (table.size - chunk.position)
                                           * self.result.read / max(chunk.position, 1))
                    if guard is not None:
                        guard.keep(Customer, cids)
                        guard.keep(Product, products[0][~products[1]])
                        if self.actor is not None:
                            guard.keep(User, np.array([self.actor.pk], dtype=np.int64))
                    writers.submit(chunk.external_id, ("orders", chunk, cids, products,
                                                       self.reserve_ids(len(chunk))))
                with self._lock:
                    self._progress(table, run, self.position(chunk, table))
                    self.bound_pending()
            self.write_held(writers)
            writers.drain()
            # The customers' last purchases: two halves at once, one per connection (they
            # lock different customers; each half is one UPDATE of its own).
            self._fold_pending_columns()
            items = sorted(self._pending_last.items())
            self._pending_last = {}
            half = (len(items) + 1) // 2
            for part in (items[:half], items[half:]):
                if part:
                    writers.submit(pa.array([], type=pa.string()), ("last purchases", part))
            writers.drain()

    def write_held(self, writers: _ParallelWrites) -> None:
        """The chunks a writer found an order of stored, through the row path, in order."""
        if not writers.held:
            return
        writers.drain()
        self._look_for_stored = True
        for key in sorted(writers.held):
            self.write_chunk(self.as_parsed(writers.held[key][1]))
            writers.release(key)

    def write_in_worker(self, item: tuple[Any, ...]) -> bool:
        """A writer thread's work; False when a chunk's order is stored already (the chunk is
        then held for the row path)."""
        if item[0] == "last purchases":
            self.advance_last_purchase(dict(item[1]))
            return True
        _kind, chunk, cids, products, first_id = item
        try:
            with transaction.atomic():
                self.write_new_columns(chunk, cids, products, first_id,
                                       guarded=self._keys_per_chunk is True)
        except Exception as exc:
            # (COPY runs on psycopg's own cursor: its error comes unwrapped by Django.)
            cause = exc if hasattr(exc, "diag") else exc.__cause__
            if getattr(getattr(cause, "diag", None), "constraint_name",
                       None) == "order_external_id_unique":
                return False
            raise
        return True

    def rules(self) -> columnar.Rules:
        tz = ZoneInfo(settings.TIME_ZONE)
        db_time = self.db_time
        statuses = self._statuses

        def status(value: str) -> str:
            name = statuses.get(value)
            if name is None:
                name = _choice(value, _STATUSES, "status", "order status")
                if len(statuses) < 10_000:
                    statuses[value] = name
            return name

        return columnar.Rules(
            columns=self.columns, default_currency=self.default_currency,
            day_offset=lambda day: db_time.day_offset(tz, day),
            quantity=lambda raw: parse_quantity(raw).quantize(_QTY), status=status,
            rejected=_Reject)

    def fast_lane(self, path: Path, start: int, delimiter: str,
                  headers: list[str]) -> Iterator[
                      _Parsed | columnar.OrderColumns]:
        """The file's chunks, each parsed by Arrow (``columnar``) where it can be, else by
        ``group`` from the csv module's rows: ``chunk_size`` lines each, and the lines of the
        last order after them (as ``_chunks`` cuts the rows)."""
        rules = self.rules()
        c_ext = self.columns["external_id"]
        ext_at = headers.index(c_ext)
        size = self.chunk_size
        with path.open("rb") as raw:
            blocks = columnar.LineBlocks(raw, start, first_line=2)
            want = size + 1  # a line more, to see whether the chunk's last order goes on
            while True:
                block, at_end = blocks.take(want)
                if not block:
                    return
                first_line = blocks.line
                starts = columnar.line_starts(block)
                batch = columnar.read_batch(block, headers, delimiter)
                if batch is not None and batch.num_rows == len(starts):
                    # One row per line.
                    end = columnar.chunk_end(
                        columnar.strip(batch.column(ext_at)).to_pylist(), size, at_end)
                    if end == 0:
                        want *= 2  # one order goes on beyond the block: take more lines
                        continue
                    used = len(block) if end == len(starts) else int(starts[end])
                    blocks.consume(used)
                    want = size + 1
                    fast = columnar.parse_block(batch.slice(0, end), rules,
                                                first_line=first_line, position=blocks.position)
                    if fast is not None:
                        yield fast
                    else:
                        yield self.parsed_rows(self.block_rows(
                            block[:used], first_line, delimiter, headers), blocks.position)
                    continue
                rows = self.block_rows(block, first_line, delimiter, headers)
                end = columnar.chunk_end([_cell(row, c_ext) for _line, row in rows], size,
                                         at_end)
                if end == 0 and rows:
                    want *= 2
                    continue
                used = len(block) if end >= len(rows) else int(starts[rows[end][0] - first_line])
                blocks.consume(used)
                want = size + 1
                yield self.parsed_rows(rows[:end], blocks.position)

    def block_rows(self, block: bytes, first_line: int, delimiter: str,
                   headers: list[str]) -> list[tuple[int, Row]]:
        """A block's rows as the file reader gives them (``readers._TextReader``): blank rows
        skipped, short rows filled, each with its line number."""
        try:
            decoded = block.decode("utf-8")  # the fast lane reads UTF-8 files only
        except UnicodeDecodeError as exc:
            last = first_line + block.count(b"\n", 0, exc.start) - 1
            raise ImportFileError(ImportErrorCode.UNREADABLE_FILE,
                                  f"Cannot read {self.path.name}: it is not valid utf-8 "
                                  f"text after line {last}. Nothing was imported.") from None
        reader = csv.reader(io.StringIO(decoded, newline=""), delimiter=delimiter)
        width = len(headers)
        rows: list[tuple[int, Row]] = []
        last = 0
        try:
            for record in reader:
                line, last = first_line + last, reader.line_num
                if not (record and record[0].strip()) and not any(c.strip() for c in record):
                    continue
                if len(record) < width:
                    record = record + [""] * (width - len(record))
                rows.append((line, dict(zip(headers, record, strict=False))))
        except csv.Error as exc:
            raise ImportFileError(ImportErrorCode.UNREADABLE_FILE,
                                  f"Cannot read {self.path.name}: line {first_line + last} is "
                                  f"broken ({exc}). Nothing was imported.") from None
        return rows

    def parsed_rows(self, rows: list[tuple[int, Row]], position: int) -> _Parsed:
        rejects: list[tuple[int, Row, str, str]] = []
        return _Parsed(len(rows), self.group(rows, rejects), rejects, position)

    def parsed(self, table: TableReader) -> Iterator[_Parsed]:
        for chunk in self._chunks(table):
            rejects: list[tuple[int, Row, str, str]] = []
            yield _Parsed(len(chunk), self.group(chunk, rejects), rejects, table.position())

    def position(self, chunk: _Parsed | columnar.OrderColumns, table: TableReader) -> int:
        return chunk.position  # the file is read by the parsing process, not here

    def group(self, chunk: list[tuple[int, Row]],
              rejects: list[tuple[int, Row, str, str]]) -> dict[str, _Order]:
        """Parse the rows into orders: one per order number; rows sharing it are its lines.

        Rejected rows are added to ``rejects`` as ``(line, row, field, reason)``: this runs in
        the parsing process (or thread), and the error report is written by the writing one.
        """
        by_columns = self.group_columns(chunk, rejects)
        if by_columns is not None:
            return by_columns
        c = self.columns.get
        c_ext, c_cust, c_at, c_amount = (c("external_id"), c("customer_external_id"),
                                         c("placed_at"), c("amount"))
        c_qty, c_product, c_status, c_channel, c_currency, c_name = (
            c("quantity"), c("product"), c("status"), c("channel"), c("currency"),
            c("customer_name"))
        default_currency = self.default_currency
        zone = settings.TIME_ZONE
        tz = ZoneInfo(zone)
        quantities, statuses = self._quantities, self._statuses
        one = Decimal(1)
        db_time = self._db_time or self.db_time
        naive_utc, day_offset = db_time.naive_utc, db_time.day_offset
        day_offsets: dict[str, dt.timedelta | None] = {}  # "YYYY-MM-DD" -> UTC offset
        orders: dict[str, _Order] = {}
        for line, row in chunk:
            try:
                ext = _cell(row, c_ext)
                if not ext:
                    raise _Reject("external_id", "the order number is empty")
                if len(ext) > 128:
                    raise _Reject("external_id", "the order number is longer than 128 characters")
                customer = _cell(row, c_cust)
                if not customer:
                    raise _Reject("customer_external_id", "the customer number is empty")
                # Each value: the fast path for the common form, else the full parser.
                raw = row.get(c_at, "") if c_at else ""
                naive = iso_naive(raw)
                if naive is not None:
                    # In UTC with the day's offset, looked up once per day's text.
                    offset = day_offsets.get(raw[:10], _NO_OFFSET)
                    if offset is _NO_OFFSET:
                        offset = day_offsets[raw[:10]] = day_offset(tz, naive.date())
                    utc = (naive - offset if offset is not None
                           else naive_utc(naive.replace(tzinfo=tz)))
                else:
                    try:
                        placed_at = parse_datetime(raw, zone)
                    except ValueError as exc:
                        raise _Reject("placed_at", str(exc)) from None
                    utc = naive_utc(placed_at)
                raw = row.get(c_amount, "") if c_amount else ""
                number = plain_amount(raw)
                if number is None:
                    try:
                        number = parse_amount(raw)
                    except ValueError as exc:
                        raise _Reject("amount", str(exc)) from None
                amount = number.quantize(CENT, ROUND_HALF_UP)  # ``quantize``, inlined
                if abs(amount) >= _MAX_TOTAL:
                    raise _Reject("amount", f"{amount} is too large an amount")
                quantity = one
                if c_qty is not None:
                    raw = row.get(c_qty, "")
                    cached = quantities.get(raw) if type(raw) is str else None
                    if cached is not None:
                        quantity = cached
                    else:
                        try:
                            quantity = parse_quantity(raw).quantize(_QTY)
                        except ValueError as exc:
                            raise _Reject("quantity", str(exc)) from None
                        if abs(quantity) >= Decimal("1e9"):
                            raise _Reject("quantity", f"{quantity} is too large a quantity")
                        if type(raw) is str and len(quantities) < 10_000:
                            quantities[raw] = quantity
                product = _cell(row, c_product)
                if len(product) > 64:
                    raise _Reject("product", "the product is longer than 64 characters")
                status = _cell(row, c_status) if c_status else ""
                if status:
                    known = statuses.get(status)
                    if known is None:
                        known = _choice(status, _STATUSES, "status", "order status")
                        if len(statuses) < 10_000:
                            statuses[status] = known
                    status = known
                # (An absent column costs no call: these run once per row of a large file.)
                channel = _cell(row, c_channel)[:32] if c_channel else ""
                currency = ((_cell(row, c_currency).upper() if c_currency else "")
                            or default_currency)
                if len(currency) != 3 or not currency.isalpha():
                    raise _Reject("currency", f"{currency!r} is not a currency code (CNY, USD…)")
            except _Reject as rej:
                rejects.append((line, row, rej.field, rej.reason))
                continue
            _add_row(orders, rejects, line, row, ext, customer,
                     _cell(row, c_name)[:200] if c_name else "", utc, status, channel, currency,
                     (product, quantity, amount))
        _finish_orders(orders.values(), db_time)
        return orders

    def group_columns(self, chunk: list[tuple[int, Row]],
                      rejects: list[tuple[int, Row, str, str]]) -> dict[str, _Order] | None:
        """``group`` for a chunk of text in the common spellings, column by column.

        Each column goes through ``map`` over C functions (``strip``, the fast paths'
        patterns, ``fromisoformat``, ``Decimal``, ``quantize``) instead of a Python loop per
        row and value, which was most of the import's Python time. Returns None if any value
        needs the full parsers or would be rejected (another spelling, an impossible date, an
        empty order number, a day on which the zone changes its clocks, a workbook's typed
        cells...): ``group`` then reads the chunk row by row, with the rows' reasons. The only
        rows rejected here are lines of one order that disagree (``_add_row``).
        """
        c = self.columns.get
        c_ext, c_cust, c_at, c_amount = (c("external_id"), c("customer_external_id"),
                                         c("placed_at"), c("amount"))
        if c_ext is None or c_cust is None or c_at is None or c_amount is None or not chunk:
            return None
        c_qty, c_product, c_status, c_channel, c_currency, c_name = (
            c("quantity"), c("product"), c("status"), c("channel"), c("currency"),
            c("customer_name"))
        used = list(dict.fromkeys(n for n in (c_ext, c_cust, c_at, c_amount, c_qty, c_product,
                                              c_status, c_channel, c_currency, c_name)
                                  if n is not None))
        try:
            values = map(itemgetter(*used), [row for _line, row in chunk])
            columns: dict[str, tuple[Any, ...]] = dict(
                zip(used, zip(*values, strict=True) if len(used) > 1 else [tuple(values)],
                    strict=True))
        except KeyError:
            return None
        if any(set(map(type, column)) != {str} for column in columns.values()):
            return None
        strip = str.strip
        exts = list(map(strip, columns[c_ext]))
        customers = list(map(strip, columns[c_cust]))
        lengths = list(map(len, exts))
        if not min(lengths) or max(lengths) > 128 or not min(map(len, customers)):
            return None
        raw_at = columns[c_at]
        naive = iso_naive_column(raw_at)
        numbers = plain_amount_column(columns[c_amount])
        if naive is None or numbers is None:
            return None
        # In UTC with each day's offset (looked up once per day); a day on which the zone
        # changes its clocks goes row by row.
        db_time = self._db_time or self.db_time
        tz = ZoneInfo(settings.TIME_ZONE)
        offsets: dict[str, dt.timedelta] = {}
        for day in set(map(_DAY, raw_at)):
            offset = db_time.day_offset(tz, dt.date.fromisoformat(day))
            if offset is None:
                return None
            offsets[day] = offset
        if len(set(offsets.values())) == 1:
            utcs = list(map(operator.sub, naive, itertools.repeat(offsets.popitem()[1])))
        else:
            utcs = list(map(operator.sub, naive, map(offsets.__getitem__, map(_DAY, raw_at))))
        amounts = list(map(Decimal.quantize, numbers, itertools.repeat(CENT),
                           itertools.repeat(ROUND_HALF_UP)))
        if max(map(abs, amounts)) >= _MAX_TOTAL:
            return None
        n = len(chunk)
        quantities: Sequence[Decimal] = [Decimal(1)] * n
        if c_qty is not None:
            raw_qty = columns[c_qty]
            known = self._quantities
            fresh = {}
            for raw in set(raw_qty) - known.keys():
                try:
                    quantity = parse_quantity(raw).quantize(_QTY)
                except ValueError:
                    return None
                if abs(quantity) >= Decimal("1e9"):
                    return None
                fresh[raw] = quantity
            if fresh and len(known) + len(fresh) <= 10_000:
                known.update(fresh)
            quantities = list(map({**known, **fresh}.__getitem__ if fresh else known.__getitem__,
                                  raw_qty))
        products: Sequence[str] = [""] * n
        if c_product is not None:
            products = list(map(strip, columns[c_product]))
            if max(map(len, products)) > 64:
                return None
        statuses: Sequence[str] = [""] * n
        if c_status is not None:
            statuses = list(map(strip, columns[c_status]))
            names = {"": ""}
            known_statuses = self._statuses
            try:
                for status in set(statuses) - {""}:
                    name = known_statuses.get(status)
                    if name is None:
                        name = _choice(status, _STATUSES, "status", "order status")
                        if len(known_statuses) < 10_000:
                            known_statuses[status] = name
                    names[status] = name
            except _Reject:
                return None
            statuses = list(map(names.__getitem__, statuses))
        channels: Sequence[str] = [""] * n
        if c_channel is not None:
            channels = [value.strip()[:32] for value in columns[c_channel]]
        currencies: Sequence[str] = [self.default_currency] * n
        if c_currency is not None:
            currencies = [value.strip().upper() or self.default_currency
                          for value in columns[c_currency]]
            if any(len(cur) != 3 or not cur.isalpha() for cur in set(currencies)):
                return None
        names_: Sequence[str] = [""] * n
        if c_name is not None:
            names_ = [value.strip()[:200] for value in columns[c_name]]
        items = list(zip(products, quantities, amounts, strict=True))
        orders: dict[str, _Order] = {}
        if len(set(exts)) == n:
            # One row per order, the common export: each row is an order of one line.
            orders = dict(zip(exts, map(
                _Order, exts, customers, names_, utcs, statuses, channels, currencies,
                [line for line, _row in chunk], [[item] for item in items],
                [[line_row] for line_row in chunk], amounts), strict=True))
        else:
            for (line, row), ext, customer, name, utc, status, channel, currency, item in zip(
                    chunk, exts, customers, names_, utcs, statuses, channels, currencies, items,
                    strict=True):
                _add_row(orders, rejects, line, row, ext, customer, name, utc, status, channel,
                         currency, item)
        _finish_orders(orders.values(), db_time)
        return orders

    def reject_order(self, order: _Order, field: str, reason: str) -> None:
        for line, row in order.rows:
            self.reject(line, row, field, reason)

    def products(self, orders: Iterable[_Order]) -> dict[str, int]:
        """Products by SKU; one seen for the first time is created with the SKU as its name."""
        return self.products_by_sku(list({p for o in orders for p, _q, _a in o.lines if p}))

    def products_by_sku(self, skus: list[str]) -> dict[str, int]:
        if not skus:
            return {}
        table = connection.ops.quote_name(Product._meta.db_table)
        match, params = _in(skus)
        sql = f"SELECT sku, id FROM {table} WHERE sku {match}"
        products: dict[str, int] = dict(_select(sql, params))
        if len(products) < len(skus):
            Product.objects.bulk_create(
                [Product(sku=s, name=s, currency=self.default_currency)
                 for s in sorted(set(skus) - products.keys())], ignore_conflicts=True)
            products = dict(_select(sql, params))
        return products

    def stored(self, orders: dict[str, _Order]) -> tuple[dict[str, tuple[Any, ...]],
                                                          dict[int, list[tuple[Any, ...]]]]:
        exts = list(orders)
        table = connection.ops.quote_name(Order._meta.db_table)
        match, params = _in(exts)
        # The time as text, compared with the file's as text (``_DbTime``): converting a
        # million stored times to datetimes cost more than the query. SQLite's numbers as text
        # too, which ``Decimal`` reads exactly (its REAL values would need ``repr`` first).
        sqlite = connection.vendor == "sqlite"
        text_time = "CAST(placed_at AS TEXT)" if sqlite else "placed_at::text"
        total = "CAST(total AS TEXT)" if sqlite else "total"
        stored = {r[1]: r for r in _select(
            f"SELECT id, external_id, customer_id, {text_time}, status, {total}, currency, "
            f"channel FROM {table} WHERE external_id {match}", params)}
        lines: dict[int, list[tuple[Any, ...]]] = {}
        if stored:
            ids = [r[0] for r in stored.values()]
            line_table = connection.ops.quote_name(OrderLine._meta.db_table)
            match, params = _in(ids)
            numbers = ("CAST(quantity AS TEXT), CAST(amount AS TEXT)" if sqlite
                       else "quantity, amount")
            rows = _select(f"SELECT order_id, product_id, {numbers} FROM {line_table} "
                           f"WHERE order_id {match}", params)
            if sqlite:
                for oid, pid, qty, amount in rows:
                    lines.setdefault(oid, []).append((pid, Decimal(qty), Decimal(amount)))
            else:
                for oid, pid, qty, amount in rows:  # psycopg gives Decimal for numeric
                    lines.setdefault(oid, []).append((pid, qty, amount))
        return stored, lines

    @staticmethod
    def _same(order: _Order, cid: int, s: tuple[Any, ...], s_lines: list[tuple[Any, ...]],
              products: dict[str, int]) -> bool:
        """True when the stored order is what the file says (the common re-import case).

        A quick yes only: a False goes through the field-by-field comparison, which also says
        what differs.
        """
        _pk, _ext, s_cid, s_placed, s_status, s_total, s_currency, s_channel = s
        final = order.final_status
        # A status counts when the file gives one or the total makes the order a refund;
        # otherwise the stored one stands.
        if (s_cid != cid or s_currency != order.currency
                or (order.channel or s_channel) != s_channel
                or (final != s_status and (order.status or final == OrderStatus.REFUNDED))):
            return False
        # The same text is the same time. Otherwise compared as naive UTC (the stored text may
        # write fractions of a second otherwise): Python never finds an ambiguous wall-clock
        # time (the hour repeated when clocks go back) equal to a time in another zone.
        if s_placed != order.db_at and (
                _stored_datetime(s_placed).astimezone(dt.UTC).replace(tzinfo=None) != order.utc):
            return False
        if Decimal(s_total) != order.total:  # SQLite's as text, PostgreSQL's a Decimal
            return False
        if len(order.lines) == 1 == len(s_lines):
            product, quantity, amount = order.lines[0]
            return (products.get(product) if product else None, quantity, amount) == s_lines[0]
        return sorted(s_lines, key=_line_key) == sorted(
            ((products.get(p) if p else None, q, a) for p, q, a in order.lines), key=_line_key)

    def process(self, chunk: _Parsed | columnar.OrderColumns) -> None:
        if _is_columns(chunk):
            self.process_columns(chunk)
            return
        if connection.vendor == "postgresql":
            # No wait for the WAL flush at each chunk's commit: a crash can lose the last
            # chunks, never half of one, and importing the file again redoes exactly those.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit = off")
        orders = chunk.orders
        for line, row, field_name, reason in chunk.rejects:
            self.reject(line, row, field_name, reason)
        if not orders:
            return
        customer_ids = self.customer_ids(o.customer for o in orders.values())
        missing = {o.customer: o.customer_name for o in orders.values()
                   if o.customer not in customer_ids}
        if missing and self.create_missing:
            fresh = [(ext, {"name": name or ext}) for ext, name in missing.items()]
            customer_ids.update(self.create_customers(fresh))
            if self.dry_run:
                self.result.customers_created += len(missing.keys() - self._dry_created)
                self._dry_created.update(missing)
            else:
                self.result.customers_created += len(missing)
        elif missing:
            for ext in list(orders):
                order = orders[ext]
                if order.customer not in customer_ids:
                    self.reject_order(order, "customer_external_id",
                                      f"there is no customer {order.customer!r} (source system "
                                      f"{self.source_system!r}); import the customers first or "
                                      "use --create-customers")
                    del orders[ext]
        if not orders:
            return
        products = self.products(orders.values())
        stored, stored_lines = self.stored(orders)
        # A chunk of which nothing is stored (a first import's) needs no look at each order.
        new: list[_Order] = [] if stored else list(orders.values())
        changed: list[tuple[int, _Order, bool]] = []
        unchanged: list[tuple[int, _Order, str]] = []  # (customer id, order, stored status)
        recompute: set[int] = set()
        for order in orders.values() if stored else ():
            cid = customer_ids[order.customer]
            s = stored.get(order.external_id)
            if s is None:
                new.append(order)
                continue
            pk, _ext, s_cid, s_placed, s_status, s_total, s_currency, s_channel = s
            if self._same(order, cid, s, stored_lines.get(pk, []), products):
                self.result.unchanged += len(order.rows)
                unchanged.append((cid, order, s_status))
                continue
            mine = {"customer_external_id": cid,
                    "placed_at": order.placed_at.astimezone(dt.UTC),
                    "status": order.final_status if order.status or order.total < 0
                    else s_status,
                    "amount": order.total,
                    "currency": order.currency, "channel": order.channel or s_channel}
            theirs = {"customer_external_id": s_cid,
                      "placed_at": _stored_datetime(s_placed).astimezone(dt.UTC),
                      "status": s_status,
                      "amount": _decimal(s_total), "currency": s_currency,
                      "channel": s_channel}
            diff = [k for k in mine if mine[k] != theirs[k]]
            if not diff:
                lines = sorted(((products.get(p) if p else None, q, a)
                                for p, q, a in order.lines), key=_line_key)
                if sorted(stored_lines.get(pk, []), key=_line_key) == lines:
                    self.result.unchanged += len(order.rows)
                    unchanged.append((cid, order, s_status))
                    continue
            if self.update:
                changed.append((pk, order, s_status != OrderStatus.REFUNDED))
                recompute.update((cid, s_cid))
            else:
                what = diff[0] if diff else "product"
                detail = (f"{what} {_shown(theirs[what])!r}, the file says {_shown(mine[what])!r}"
                          if diff else "other lines (products, quantities or amounts)")
                self.reject_order(order, what, f"order {order.external_id} is stored with "
                                  f"{detail}; use --update to replace it")
        self.note_purchases(new, unchanged, customer_ids)
        self.write_new(new, customer_ids, products)
        self.write_changed(changed, customer_ids, products)
        if recompute:
            self._fold_pending_columns()
            for cid in recompute:
                # Recomputed from the orders below, this chunk's included: the last purchase
                # may move back, and a time noted earlier in the import may no longer hold.
                self._pending_last.pop(cid, None)
            last = (Order.objects.filter(customer=OuterRef("pk"))
                    .exclude(status__in=NOT_A_PURCHASE).values("customer")
                    .annotate(last=Max("placed_at")).values("last"))
            Customer.objects.filter(pk__in=recompute).update(last_purchase_at=Subquery(last))
        if len(self._pending_last) >= _MAX_CACHED:
            self.advance_last_purchase()  # in this chunk's transaction, so memory stays bounded

    def process_columns(self, chunk: columnar.OrderColumns) -> None:
        """A fast-lane chunk (PostgreSQL): new orders written from the arrays.

        A chunk with an order already stored or a customer not found goes the row path
        (``process``), which compares, reports and creates exactly as for any other chunk.
        """
        cids = self.sort_chunk(chunk)
        if cids is False:
            self.process(self.as_parsed(chunk))
        if isinstance(cids, bool):
            return
        self.write_new_columns(chunk, cids, self.chunk_products(chunk),
                               self.reserve_ids(len(chunk)))

    def sort_chunk(self, chunk: columnar.OrderColumns, *, look_for_stored: bool = True
                   ) -> npt.NDArray[np.int64] | bool:
        """What a fast-lane chunk needs: the customer id of each of its orders when it is a
        first import's (every customer known and, when ``look_for_stored``, no order stored
        yet); True when all its orders are stored as the file says (a re-import's: counted
        unchanged here, nothing left to write); False when it goes the row path."""
        customers = pc.unique(chunk.customer)
        ids = self.customer_id_array(customers)
        if ids is None:
            return False
        each: npt.NDArray[np.int64] = ids[
            pc.index_in(chunk.customer, value_set=customers).to_numpy(zero_copy_only=False)]
        if look_for_stored:
            stored = self.stored_columns(chunk)
            if stored is not None:
                return self.same_as_stored(chunk, each, stored)
        return each

    def stored_columns(self, chunk: columnar.OrderColumns
                       ) -> dict[str, npt.NDArray[Any]] | None:
        """What is stored of the chunk's orders, as arrays in the chunk's order; None if none
        is stored. Absent orders have ``found`` False.

        One query sends the rows packed as fixed-width binary records (see
        ``core.arrays.read_columns``); texts travel as their position in the lists given
        (0: none of them); each order's line count and, for an order of one line, its line.
        """
        statuses = [str(s) for s in OrderStatus.values]
        currencies = pc.unique(chunk.currency).to_pylist()
        channels = pc.unique(chunk.channel).to_pylist()
        orders = connection.ops.quote_name(Order._meta.db_table)
        lines = connection.ops.quote_name(OrderLine._meta.db_table)
        match, params = _pg_array(chunk.external_id.to_pylist())
        array = match.removeprefix("= ANY(").removesuffix(")")
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT string_agg(int4send(u.i::int4) || int8send(o.customer_id) "
                "|| int8send((extract(epoch FROM o.placed_at) * 1000000)::int8) "
                "|| int8send((o.total * 100)::int8) "
                "|| int4send(coalesce(array_position(%s::text[], o.status::text), 0)) "
                "|| int4send(coalesce(array_position(%s::text[], o.currency::text), 0)) "
                "|| int4send(coalesce(array_position(%s::text[], o.channel::text), 0)) "
                "|| int4send(l.n::int4) || int8send(coalesce(l.product, -1)) "
                "|| int8send(coalesce((l.quantity * 1000)::int8, 0)) "
                "|| int8send(coalesce((l.amount * 100)::int8, 0)), ''::bytea) "
                f"FROM unnest({array}) WITH ORDINALITY AS u(ext, i) "
                f"JOIN {orders} o ON o.external_id = u.ext "
                "CROSS JOIN LATERAL (SELECT count(*) AS n, min(product_id) AS product, "
                "min(quantity) AS quantity, min(amount) AS amount "
                f"FROM {lines} WHERE order_id = o.id) AS l",
                [statuses, currencies, channels, *params])
            packed = cursor.fetchone()[0]
        if packed is None:
            return None
        record = np.dtype([("i", ">i4"), ("customer", ">i8"), ("us", ">i8"), ("cents", ">i8"),
                           ("status", ">i4"), ("currency", ">i4"), ("channel", ">i4"),
                           ("lines", ">i4"), ("product", ">i8"), ("milli", ">i8"),
                           ("amount", ">i8")])
        rows = np.frombuffer(bytes(packed), dtype=record)
        n = len(chunk)
        at = rows["i"].astype(np.int64) - 1
        found = np.zeros(n, dtype=bool)
        found[at] = True
        out: dict[str, npt.NDArray[Any]] = {"found": found}
        for name in (record.names or ())[1:]:
            column = np.zeros(n, dtype=np.int64)
            column[at] = rows[name]
            out[name] = column
        out["status_label"] = np.asarray(["", *statuses], dtype=object)[out["status"]]
        out["currency_label"] = np.asarray(["", *currencies], dtype=object)[out["currency"]]
        out["channel_label"] = np.asarray(["", *channels], dtype=object)[out["channel"]]
        return out

    def same_as_stored(self, chunk: columnar.OrderColumns, cids: npt.NDArray[np.int64],
                       stored: dict[str, npt.NDArray[Any]]) -> bool:
        """True, with the chunk counted unchanged, when every order of it is stored as the
        file says (``_same``'s rules); else False and nothing counted."""
        if not stored["found"].all():
            return False
        product_ids, no_product = self.chunk_products(chunk)
        status = np.asarray(chunk.status.to_pylist(), dtype=object)
        final = np.asarray(chunk.final_status.to_pylist(), dtype=object)
        channel = np.asarray(chunk.channel.to_pylist(), dtype=object)
        currency = np.asarray(chunk.currency.to_pylist(), dtype=object)
        s_status = stored["status_label"]
        # A status counts when the file gives one or the total makes the order a refund.
        counts = (status != "") | (final == OrderStatus.REFUNDED.value)
        same = ((stored["customer"] == cids) & (stored["currency_label"] == currency)
                & ((channel == "") | (stored["channel_label"] == channel))
                & ~((final != s_status) & counts)
                & (stored["us"] == chunk.utc_us) & (stored["cents"] == chunk.amount_cents)
                & (stored["lines"] == 1)
                & (stored["product"] == np.where(no_product, -1, product_ids))
                & (stored["milli"] == chunk.quantity_milli)
                & (stored["amount"] == chunk.amount_cents))
        if not same.all():
            return False
        with self._lock:
            self.result.unchanged += len(chunk)
            self.note_purchase_columns(cids, chunk.utc_us,
                                       pa.array(list(s_status), type=pa.string()))
        return True

    def customer_id_array(self, numbers: pa.Array) -> npt.NDArray[np.int64] | None:
        """``customer_ids`` for distinct numbers: their ids in order, or None if one is not
        found."""
        values = numbers.to_pylist()
        ids = list(map(self._customers.get, values))  # (the numbers looked up before)
        if None in ids:
            found = self.customer_ids(values)
            if len(found) < len(values):
                return None
            ids = list(map(found.__getitem__, values))
        return np.asarray(ids, dtype=np.int64)

    def reserve_ids(self, count: int) -> int:
        """The first of ``count`` order ids of one block, reserved for this import.

        Ids are reserved from the sequence for the rest of the file as its size tells
        (``_allocate_ids`` locks the table while it draws them, so it waits for the chunks
        being written): the chunks written at the same time (``_ParallelWrites``) take their
        ids from the block. Ids left over when the import ends stay unused, like those of a
        rolled-back insert.
        """
        if self._ids_left < count:
            want = count
            if not connection.in_atomic_block:
                # Enough for the rest of the file, as far as its size tells.
                want = count + min(_ID_BLOCK, self._rows_ahead)
            with transaction.atomic():
                ids = _allocate_ids(Order, want)
            self._next_id, self._ids_left = ids[0], len(ids)
        first = self._next_id
        self._next_id += count
        self._ids_left -= count
        return first

    def chunk_products(self, chunk: columnar.OrderColumns
                       ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Each order line's product id, and where it has none (products new to guanxi are
        created, see ``products_by_sku``)."""
        skus = [sku for sku in pc.unique(chunk.product).to_pylist() if sku]
        products = self.products_by_sku(skus)
        product_ids = np.zeros(len(chunk), dtype=np.int64)
        no_product = np.ones(len(chunk), dtype=bool)
        if skus:
            index = pc.index_in(chunk.product, value_set=pa.array(skus, type=pa.string()))
            no_product = index.is_null().to_numpy(zero_copy_only=False)
            known = np.asarray([products[sku] for sku in skus], dtype=np.int64)
            product_ids[~no_product] = known[index.drop_null().to_numpy(zero_copy_only=False)]
        return product_ids, no_product

    def write_new_columns(self, chunk: columnar.OrderColumns, cids: npt.NDArray[np.int64],
                          products: tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]],
                          first_id: int, *, guarded: bool = False) -> None:
        """The chunk's orders, lines and events. ``guarded``: the rows they refer to are kept
        by a ``_KeyGuard`` already, so they are not checked and locked here again."""
        product_ids, no_product = products
        with connection.cursor() as cursor:
            # (See ``process``: a crash loses whole chunks, which the next run imports.)
            cursor.execute("SET LOCAL synchronous_commit = off")
        n = len(chunk)
        order_ids = np.arange(first_id, first_id + n, dtype=np.int64)
        if self._keys_per_chunk is None:
            self._keys_per_chunk = _can_check_keys_per_chunk()
        if self._keys_per_chunk:
            if not guarded:
                _check_keys(Customer, set(np.unique(cids).tolist()))
                _check_keys(Product, set(np.unique(product_ids[~no_product]).tolist()))
                if self.actor is not None:
                    _check_keys(User, {self.actor.pk})
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        _copy_binary(Order, ["id", "customer", "placed_at", "total", "external_id", "channel",
                             "status", "currency"], [
            pgcopy.int8(order_ids), pgcopy.int8(cids),
            pgcopy.timestamptz_micros(chunk.utc_us),
            pgcopy.numeric(chunk.amount_cents, max_digits=14),
            pgcopy.arrow_strings(chunk.external_id), _labels(chunk.channel),
            _labels(chunk.final_status),
            _labels(chunk.currency)])
        _copy_binary(OrderLine, ["order", "product", "quantity", "amount"], [
            pgcopy.int8(order_ids), pgcopy.int8(product_ids, null=no_product),
            pgcopy.numeric(chunk.quantity_milli, max_digits=12, scale=3),
            pgcopy.numeric(chunk.amount_cents, max_digits=14)])
        actor_id = self.actor.pk if self.actor else None
        if not events.order_events_copy(
                customer_ids=cids, order_ids=order_ids, external_ids=chunk.external_id,
                cents=chunk.amount_cents, currencies=chunk.currency,
                refunded=pc.equal(chunk.final_status, OrderStatus.REFUNDED.value).to_numpy(
                    zero_copy_only=False),
                occurred_us=chunk.utc_us, actor_id=actor_id):
            events.order_events_from_orders(first_order_id=first_id,
                                            last_order_id=first_id + n - 1, actor_id=actor_id)
        if self._keys_per_chunk:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")
        with self._lock:
            self.result.created += n
            self.note_purchase_columns(cids, chunk.utc_us, chunk.final_status)

    def as_parsed(self, chunk: columnar.OrderColumns) -> _Parsed:
        """A fast-lane chunk as the row path's orders (one line each), the same values."""
        rows = chunk.rows.to_pylist()
        lines = range(chunk.first_line, chunk.first_line + len(rows))
        c_name = self.columns.get("customer_name")
        names = [_cell(row, c_name)[:200] for row in rows] if c_name else [""] * len(rows)
        epoch = dt.datetime(1970, 1, 1)
        utcs = [epoch + dt.timedelta(microseconds=us) for us in chunk.utc_us.tolist()]
        amounts = [Decimal(c).scaleb(-2) for c in chunk.amount_cents.tolist()]
        quantities = [Decimal(q).scaleb(-3) for q in chunk.quantity_milli.tolist()]
        orders: dict[str, _Order] = {}
        for (ext, customer, name, utc, status, channel, currency, line, row, product,
             quantity, amount) in zip(
                chunk.external_id.to_pylist(), chunk.customer.to_pylist(), names, utcs,
                chunk.status.to_pylist(), chunk.channel.to_pylist(),
                chunk.currency.to_pylist(), lines, rows, chunk.product.to_pylist(),
                quantities, amounts, strict=True):
            orders[ext] = _Order(ext, customer, name, utc, status, channel, currency, line,
                                 [(product, quantity, amount)], [(line, row)], amount)
        _finish_orders(orders.values(), self.db_time)
        return _Parsed(len(rows), orders, [], chunk.position)

    def note_purchase_columns(self, cids: npt.NDArray[np.int64], utc_us: npt.NDArray[np.int64],
                              statuses: pa.Array) -> None:
        """``note_purchases`` for arrays: each customer's newest purchase in them."""
        if self.dry_run:
            return
        purchase = pc.invert(pc.is_in(statuses, value_set=pa.array(
            [str(s) for s in NOT_A_PURCHASE], type=pa.string()))).to_numpy(
                zero_copy_only=False)
        self._pending_columns.append((cids[purchase], utc_us[purchase]))
        self._pending_count += int(purchase.sum())

    def bound_pending(self) -> None:
        """Keep the purchases noted for the end within ``_MAX_CACHED`` customers."""
        if self._pending_count >= _MAX_CACHED:
            self._fold_pending_columns()
        if len(self._pending_last) >= _MAX_CACHED:
            self.advance_last_purchase()

    def _fold_pending_columns(self) -> None:
        """The arrays of ``note_purchase_columns`` into ``_pending_last``."""
        if not self._pending_columns:
            return
        cids = np.concatenate([c for c, _u in self._pending_columns])
        micros = np.concatenate([u for _c, u in self._pending_columns])
        self._pending_columns, self._pending_count = [], 0
        if not len(cids):
            return
        order = np.lexsort((micros, cids))
        cids, micros = cids[order], micros[order]
        last = np.r_[cids[1:] != cids[:-1], True]  # each customer's newest
        pending = self._pending_last
        epoch = dt.datetime(1970, 1, 1)
        for cid, us in zip(cids[last].tolist(), micros[last].tolist(), strict=True):
            at = epoch + dt.timedelta(microseconds=us)
            before = pending.get(cid)
            if before is None or before < at:
                pending[cid] = at

    def note_purchases(self, new: list[_Order], unchanged: list[tuple[int, _Order, str]],
                       customer_ids: dict[str, int]) -> None:
        """Remember each customer's newest purchase among the chunk's new and unchanged orders.

        ``Customer.last_purchase_at`` is moved once, when the import ends
        (``advance_last_purchase``), not once per chunk: each chunk moved most customers of a
        large file again, and an UPDATE of a customer row costs as much as all its indexes.
        Unchanged orders count too, so that running an interrupted import again repairs the
        customers whose orders were stored by the chunks done before the interruption.
        """
        if self.dry_run:
            return
        pending = self._pending_last
        items = [(customer_ids[o.customer], o, o.final_status) for o in new]
        not_a_purchase = {str(s) for s in NOT_A_PURCHASE}
        for cid, order, status in itertools.chain(items, unchanged):
            if status in not_a_purchase:
                continue
            at = order.utc
            before = pending.get(cid)
            if before is None or before < at:
                pending[cid] = at

    def after_chunks(self) -> None:
        self.advance_last_purchase()

    def after_failure(self) -> None:
        # The chunks committed before the failure keep their orders; bring their customers'
        # last purchases along. Should this fail too, the import's own error is the one to
        # report, and running the import again repairs it (see ``note_purchases``).
        try:
            self.advance_last_purchase()
        except DatabaseError:
            logger.warning("could not update last purchases after a failed import",
                           exc_info=True)

    def advance_last_purchase(self, pending: dict[int, dt.datetime] | None = None) -> None:
        """Move each noted customer's last purchase forward to their newest order, set-based.

        New orders can only make ``last_purchase_at`` later, so one UPDATE ... FROM per batch
        of customers keeps it right without re-reading anyone's order history; customers
        already there are only looked at, not written.

        ``pending`` (customer id -> newest purchase) instead of what this import noted: the
        parallel writing moves two halves at once.
        """
        if pending is None:
            self._fold_pending_columns()
            pending, self._pending_last = self._pending_last, {}
        if not pending:
            return
        table = connection.ops.quote_name(Customer._meta.db_table)
        vendor = connection.vendor
        # In id order: neighbouring rows share pages, and two imports lock rows in one order.
        items = sorted(pending.items())
        for begin in range(0, len(items), 50_000):
            batch = items[begin:begin + 50_000]
            ids = [cid for cid, _at in batch]
            # One parameter per column and a fixed SQL text (see ``_in``).
            if vendor == "postgresql":
                # Array literals, the times as microseconds since 1970 (UTC): psycopg wrote
                # each datetime of a list parameter one by one (1.9 s for 50,000).
                epoch = dt.datetime(1970, 1, 1)
                micros = [(at - epoch) // _MICROSECOND for _cid, at in batch]
                source = ("(SELECT cid, 'epoch'::timestamptz + us * interval '1 microsecond' "
                          "AS at FROM unnest(%s::bigint[], %s::bigint[]) AS u(cid, us)) AS v")
                params: list[Any] = ["{" + ",".join(map(str, ids)) + "}",
                                     "{" + ",".join(map(str, micros)) + "}"]
            else:
                # What Django stores in SQLite: naive UTC text.
                source = ("(SELECT json_extract(value, '$[0]') AS cid, "
                          "json_extract(value, '$[1]') AS at FROM json_each(%s)) AS v")
                params = [json.dumps([(cid, str(at)) for cid, at in batch])]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET last_purchase_at = v.at FROM {source} "
                    f"WHERE {table}.id = v.cid AND ({table}.last_purchase_at IS NULL "
                    f"OR {table}.last_purchase_at < v.at)", params)

    def _line_rows(self, oid: int, order: _Order,
                   products: dict[str, int]) -> Iterator[tuple[Any, ...]]:
        for product, quantity, amount in order.lines:
            yield oid, products.get(product) if product else None, quantity, amount

    def _event_rows(self, items: list[tuple[int, int, str, str, Decimal, str, bool]]
                    ) -> list[tuple[int, str, str, int | None, str]]:
        """The events' rows, the items' times already as the database column takes them."""
        return list(events.order_event_rows(orders=items,
                                            actor_id=self.actor.pk if self.actor else None))

    def write_new(self, new: list[_Order], customer_ids: dict[str, int],
                  products: dict[str, int]) -> None:
        if not new:
            return
        ids = _allocate_ids(Order, len(new))
        assert ids[-1] - ids[0] + 1 == len(ids)  # one block: the events are written by range
        self.result.created += sum(map(len, map(_ROWS, new)))
        cids = list(map(customer_ids.__getitem__, map(_CUSTOMER, new)))
        if self._keys_per_chunk is None:
            self._keys_per_chunk = _can_check_keys_per_chunk()
        if self._keys_per_chunk:
            _check_keys(Customer, set(cids))
            _check_keys(Product, {products[p] for o in new for p, _q, _a in o.lines if p})
            if self.actor is not None:
                _check_keys(User, {self.actor.pk})
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL session_replication_role = replica")
        if connection.vendor == "postgresql":
            _copy_lines(Order, _ORDER_COPY_COLUMNS,
                        map("{}\t{}\t{}".format, ids, cids, map(_COPY_TAIL, new)))
            _copy_lines(OrderLine, ["order", "product", "quantity", "amount"],
                        self._line_copy_text(ids, new, products))
        else:
            _insert(Order, ["id", "external_id", "customer", "placed_at", "channel", "status",
                            "total", "currency"],
                    [(oid, o.external_id, cid, o.db_at, o.channel, o.final_status, o.total,
                      o.currency) for oid, cid, o in zip(ids, cids, new, strict=True)])
            _insert(OrderLine, ["order", "product", "quantity", "amount"],
                    [row for oid, o in zip(ids, new, strict=True)
                     for row in self._line_rows(oid, o, products)])
        # The ids are one block (``_allocate_ids``): the database writes the orders' events
        # from the rows just stored, so they are not built, sent and parsed again.
        events.order_events_from_orders(first_order_id=ids[0], last_order_id=ids[-1],
                                        actor_id=self.actor.pk if self.actor else None)
        if self._keys_per_chunk:
            with connection.cursor() as cursor:
                # Back to checking row by row for everything else in the chunk's transaction.
                cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    @staticmethod
    def _line_copy_text(ids: list[int], new: list[_Order],
                        products: dict[str, int]) -> Iterator[str]:
        """The order lines' COPY text; for orders of one line each, column by column."""
        product_text = {sku: str(pid) for sku, pid in products.items()}
        product_text[""] = "\\N"  # no product: NULL
        if all(len(o.lines) == 1 for o in new):
            skus, quantities, amounts = zip(*(o.lines[0] for o in new), strict=True)
            # (``str`` first: formatting a Decimal took str.format half again as long.)
            return map("{}\t{}\t{}\t{}\n".format, ids, map(product_text.__getitem__, skus),
                       map(str, quantities), map(str, amounts))
        return (f"{oid}\t{product_text[p]}\t{q}\t{a}\n"
                for oid, o in zip(ids, new, strict=True) for p, q, a in o.lines)

    def write_changed(self, changed: list[tuple[int, _Order, bool]],
                      customer_ids: dict[str, int], products: dict[str, int]) -> None:
        if not changed:
            return
        objs: list[Order] = []
        line_rows: list[tuple[Any, ...]] = []
        refunds: list[tuple[int, int, str, str, Decimal, str, bool]] = []
        for pk, order, was_not_refund in changed:
            cid = customer_ids[order.customer]
            objs.append(Order(pk=pk, external_id=order.external_id, customer_id=cid,
                              placed_at=order.placed_at, status=order.final_status,
                              total=order.total, currency=order.currency,
                              channel=order.channel))
            line_rows.extend(self._line_rows(pk, order, products))
            if was_not_refund and order.final_status == OrderStatus.REFUNDED:
                # The timeline learns of the refund; other corrections change the order only.
                refunds.append((cid, pk, order.external_id, order.db_at, order.total,
                                order.currency, True))
            self.result.updated += len(order.rows)
        Order.objects.bulk_update(objs, ["customer", "placed_at", "status", "total", "currency",
                                         "channel"], batch_size=1000)
        OrderLine.objects.filter(order_id__in=[pk for pk, _o, _r in changed]).delete()
        _insert(OrderLine, ["order", "product", "quantity", "amount"], line_rows)
        if refunds:
            _insert(CustomerEvent, ["customer", "type", "occurred_at", "actor", "data"],
                    self._event_rows(refunds))


def _line_key(line: tuple[Any, ...]) -> tuple[int, Decimal, Decimal]:
    return (line[0] or 0, line[1], line[2])


# --- interactions ----------------------------------------------------------------------------

@dataclass
class _Interaction:
    external_id: str
    customer: str
    channel: str
    direction: str
    occurred_at: dt.datetime
    subject: str
    outcome: str


class _InteractionImport(_RowImport):
    kind = ImportKind.INTERACTIONS

    def parse(self, row: Row) -> _Interaction:
        customer = self.text(row, "customer_external_id")
        if not customer:
            raise _Reject("customer_external_id", "the customer number is empty")
        raw_channel = self.text(row, "channel")
        if not raw_channel:
            raise _Reject("channel", "the channel is empty")
        channel = _choice(raw_channel, _CHANNELS, "channel", "channel")
        direction = Direction.OUTBOUND.value
        if value := self.text(row, "direction"):
            direction = _choice(value, _DIRECTIONS, "direction", "direction")
        try:
            occurred_at = parse_datetime(self.value(row, "occurred_at"))
        except ValueError as exc:
            raise _Reject("occurred_at", str(exc)) from None
        subject = self.text(row, "subject")
        if len(subject) > 200:
            raise _Reject("subject", "the subject is longer than 200 characters")
        outcome = self.text(row, "outcome")
        ext = self.text(row, "external_id")
        if len(ext) > 128:
            raise _Reject("external_id", "the id is longer than 128 characters")
        if not ext:
            # No id in the file: the same contact (customer, time, channel, subject) gets the
            # same id every time, so importing the file again adds nothing.
            key = "\x1f".join((self.source_system, customer, occurred_at.isoformat(), channel,
                               subject))
            ext = f"{self.source_system}-{hashlib.sha1(key.encode()).hexdigest()[:24]}"
        return _Interaction(ext, customer, channel, direction, occurred_at, subject, outcome)

    def process(self, chunk: list[tuple[int, Row]]) -> None:
        parsed: dict[str, tuple[int, Row, _Interaction]] = {}
        for line, row in chunk:
            try:
                item = self.parse(row)
            except _Reject as rej:
                self.reject(line, row, rej.field, rej.reason)
                continue
            if item.external_id in parsed:
                first_line, _r, first = parsed[item.external_id]
                if first == item:
                    self.result.unchanged += 1
                else:
                    self.reject(line, row, "external_id", f"{item.external_id} appears already "
                                f"on line {first_line} with other values")
                continue
            parsed[item.external_id] = (line, row, item)
        customer_ids = self.customer_ids(p[2].customer for p in parsed.values())
        stored = {ext: (pk, cid, channel, direction, subject, outcome, at)
                  for pk, ext, cid, channel, direction, subject, outcome, at in
                  Interaction.objects.filter(external_id__in=list(parsed)).values_list(
                      "pk", "external_id", "customer_id", "channel", "direction", "subject",
                      "outcome", "occurred_at")}
        new: list[Interaction] = []
        changed: list[Interaction] = []
        for line, row, item in parsed.values():
            cid = customer_ids.get(item.customer)
            if cid is None:
                self.reject(line, row, "customer_external_id",
                            f"there is no customer {item.customer!r} (source system "
                            f"{self.source_system!r}); import the customers first")
                continue
            obj = Interaction(customer_id=cid, external_id=item.external_id,
                              channel=item.channel, direction=item.direction,
                              subject=item.subject, outcome=item.outcome,
                              occurred_at=item.occurred_at, author=self.actor)
            if item.external_id not in stored:
                new.append(obj)
                continue
            pk, *values = stored[item.external_id]
            mine = [cid, item.channel, item.direction, item.subject, item.outcome,
                    item.occurred_at]
            names = ["customer_external_id", "channel", "direction", "subject", "outcome",
                     "occurred_at"]
            diff = [n for n, a, b in zip(names, mine, values, strict=True) if a != b]
            if not diff:
                self.result.unchanged += 1
            elif self.update:
                obj.pk = pk
                changed.append(obj)
            else:
                i = names.index(diff[0])
                self.reject(line, row, diff[0],
                            f"interaction {item.external_id} is stored with {diff[0]} "
                            f"{_shown(values[i])!r}, the file says {_shown(mine[i])!r}; "
                            "use --update to replace it")
        if new:
            Interaction.objects.bulk_create(new, batch_size=1000)
            events.interactions_logged_events_bulk(
                interactions=[(i.customer_id, i.pk, i.channel, i.subject, i.occurred_at)
                              for i in new], actor=self.actor)
            self.result.created += len(new)
        if changed:
            Interaction.objects.bulk_update(changed, ["customer", "channel", "direction",
                                                      "subject", "outcome", "occurred_at"])
            self.result.updated += len(changed)


# --- the public services ---------------------------------------------------------------------

def import_customers(*, path: Path | str, actor: User | None, mapping: dict[str, str] | None = None,
                     dry_run: bool = False, update: bool = False, source_system: str = "default",
                     report_path: Path | str | None = None,
                     progress: ProgressCallback | None = None, fmt: str = "auto",
                     chunk_size: int = CHUNK_SIZE) -> ImportResult:
    """Import a customer list; customers are keyed by (``source_system``, customer number).

    A stored customer whose values differ from the file's is rejected unless ``update``; a
    blank cell never erases a stored value.
    """
    return _CustomerImport(path=path, actor=actor, mapping=mapping, fmt=fmt, dry_run=dry_run,
                           update=update, source_system=source_system, report_path=report_path,
                           progress=progress, chunk_size=chunk_size).run()


def import_orders(*, path: Path | str, actor: User | None, mapping: dict[str, str] | None = None,
                  dry_run: bool = False, update: bool = False, source_system: str = "default",
                  report_path: Path | str | None = None, progress: ProgressCallback | None = None,
                  create_customers: bool = False, fmt: str = "auto",
                  chunk_size: int = CHUNK_SIZE) -> ImportResult:
    """Import orders, one row per order (or per order line, rows sharing the order number).

    ``fmt="cdnow"`` / ``"cdnow-sample"`` read the CDNOW files: their customers are created
    (source system ``cdnow``) and each line becomes an order ``cdnow-<customer>-<date>-<n>``
    in USD.
    """
    if fmt in ("cdnow", "cdnow-sample"):
        create_customers = True
        if source_system == "default":
            source_system = "cdnow"
    importer = _OrderImport(path=path, actor=actor, mapping=mapping, fmt=fmt, dry_run=dry_run,
                            update=update, source_system=source_system, report_path=report_path,
                            progress=progress, chunk_size=chunk_size,
                            create_customers=create_customers)
    if fmt in ("cdnow", "cdnow-sample"):
        importer.default_currency = "USD"
    return importer.run()


def import_interactions(*, path: Path | str, actor: User | None,
                        mapping: dict[str, str] | None = None, dry_run: bool = False,
                        update: bool = False, source_system: str = "default",
                        report_path: Path | str | None = None,
                        progress: ProgressCallback | None = None, fmt: str = "auto",
                        chunk_size: int = CHUNK_SIZE) -> ImportResult:
    """Import contacts (calls, visits, e-mails, WeChat...) of known customers."""
    return _InteractionImport(path=path, actor=actor, mapping=mapping, fmt=fmt, dry_run=dry_run,
                              update=update, source_system=source_system,
                              report_path=report_path, progress=progress,
                              chunk_size=chunk_size).run()
