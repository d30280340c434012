"""Which column holds which field: header synonyms in English and Chinese, plus ``--map``.

``map_headers(headers, target)`` returns ``{header: field}`` for the headers it recognizes;
``require_fields`` then says, in one sentence, what is missing and what the file has. Headers
are compared loosely: case, spaces, ``_``/``-`` and a unit in brackets (``金额(元)``) are ignored.
Columns starting with ``_`` (``_line``, ``_field``, ``_reason`` of an error report) are never
mapped, so a corrected error report imports as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from guanxi.imports.errors import ImportErrorCode, ImportMappingError

__all__ = ["REQUIRED", "SYNONYMS", "TARGETS", "map_headers", "parse_map_options",
           "require_fields"]

TARGETS = ("customers", "orders", "interactions")

_CUSTOMER_ID = ("客户编号", "客户id", "客户代码", "客户号", "会员编号", "会员号", "会员id",
                "会员卡号",
                "customerid", "customerno", "customernumber", "customercode", "clientid",
                "memberid", "custid")

# Field → header synonyms, per target. The first target-specific match wins.
SYNONYMS: dict[str, dict[str, tuple[str, ...]]] = {
    "customers": {
        "external_id": (*_CUSTOMER_ID, "编号", "id"),
        "name": ("客户名称", "客户姓名", "姓名", "名称", "客户", "公司名称", "name", "customername",
                 "fullname", "customer", "company", "companyname"),
        "phone": ("手机", "手机号", "手机号码", "电话", "联系电话", "电话号码", "移动电话", "phone",
                  "mobile", "mobilephone", "tel", "telephone", "phonenumber", "cellphone"),
        "email": ("邮箱", "电子邮箱", "电子邮件", "邮件", "email", "e-mail", "mail",
                  "emailaddress"),
        "gender": ("性别", "gender", "sex"),
        "birthday": ("生日", "出生日期", "出生年月日", "birthday", "dateofbirth", "dob",
                     "birthdate"),
        "city": ("城市", "所在城市", "city", "town"),
        "region": ("省份", "省", "地区", "区域", "region", "province", "state"),
        "country": ("国家", "国家代码", "country", "countrycode"),
        "industry": ("行业", "所属行业", "industry", "sector"),
        "company_size": ("公司规模", "企业规模", "规模", "companysize", "size", "employees"),
        "occupation": ("职业", "职位", "occupation", "job", "jobtitle"),
        "income_band": ("收入", "收入水平", "收入层次", "income", "incomeband", "incomelevel"),
        "source": ("来源", "客户来源", "获客来源", "source", "acquisitionsource", "leadsource"),
        "acquired_on": ("注册日期", "注册时间", "入会日期", "开户日期", "获客日期", "acquiredon",
                        "signupdate", "registeredon", "registrationdate", "since",
                        "customersince"),
        "kind": ("类型", "客户类型", "kind", "type", "customertype"),
        "owner": ("负责人", "销售", "销售代表", "客户经理", "归属销售", "owner", "rep",
                  "salesrep", "accountmanager"),
    },
    "orders": {
        "external_id": ("订单号", "订单编号", "订单id", "单号", "交易号", "orderid", "orderno",
                        "ordernumber", "order", "transactionid", "invoiceno", "invoice"),
        "customer_external_id": (*_CUSTOMER_ID, "customer"),
        "customer_name": ("客户名称", "客户姓名", "姓名", "买家", "customername", "name"),
        "placed_at": ("下单时间", "下单日期", "订单日期", "订单时间", "交易时间", "交易日期",
                      "购买日期",
                      "购买时间", "日期", "时间", "date", "orderdate", "placedat", "ordertime",
                      "time", "datetime", "purchasedate", "invoicedate"),
        "amount": ("实付金额", "金额", "订单金额", "支付金额", "实收金额", "总金额", "总价", "总额",
                   "合计",
                   "amount", "total", "ordertotal", "value", "dollarvalue", "sales", "revenue",
                   "price", "paid"),
        "quantity": ("数量", "件数", "购买数量", "quantity", "qty", "numberofcds", "units",
                     "count"),
        "product": ("商品", "商品名称", "商品编号", "产品", "产品名称", "货号", "sku", "product",
                    "productname", "item", "itemname", "stockcode"),
        "status": ("状态", "订单状态", "status", "orderstatus"),
        "channel": ("渠道", "销售渠道", "下单渠道", "channel", "saleschannel"),
        "currency": ("币种", "货币", "currency"),
    },
    "interactions": {
        "external_id": ("记录编号", "联系编号", "互动编号", "记录id", "interactionid", "activityid",
                        "recordid", "id"),
        "customer_external_id": (*_CUSTOMER_ID, "customer"),
        "channel": ("渠道", "方式", "联系方式", "沟通方式", "类型", "channel", "type", "medium"),
        "occurred_at": ("时间", "日期", "联系时间", "联系日期", "沟通时间", "发生时间", "date",
                        "time",
                        "datetime", "occurredat", "when"),
        "subject": ("主题", "标题", "事项", "subject", "title", "topic"),
        "outcome": ("结果", "内容", "沟通内容", "备注", "记录", "outcome", "result", "notes",
                    "note", "details", "summary"),
        "direction": ("方向", "呼入呼出", "direction"),
    },
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "customers": ("external_id", "name"),
    "orders": ("external_id", "customer_external_id", "placed_at", "amount"),
    "interactions": ("customer_external_id", "channel", "occurred_at"),
}

_UNIT = re.compile(r"[(（\[【].*?[)）\]】]")
_NOISE = re.compile(r"[\s_\-.:：/]+")


def _key(header: str) -> str:
    return _NOISE.sub("", _UNIT.sub("", header)).casefold()


def _lookup(target: str) -> dict[str, str]:
    table: dict[str, str] = {}
    for field, names in SYNONYMS[target].items():
        table.setdefault(_key(field), field)
        for name in names:
            table.setdefault(_key(name), field)
    return table


def _check_target(target: str) -> None:
    if target not in SYNONYMS:
        raise ImportMappingError(ImportErrorCode.UNKNOWN_FIELD,
                                 f"Unknown import target {target!r}; use one of "
                                 f"{', '.join(TARGETS)}.", field="target")


def map_headers(headers: Iterable[str], target: str = "orders",
                overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return ``{header: field}`` for the headers that map to a field of ``target``.

    ``overrides`` (``{column: field}``, from ``--map``) win over the synonyms; a column mapped
    to ``""`` or ``"-"`` is ignored. Each field is taken from one column only: the override, or
    else the first column whose header matches.
    """
    _check_target(target)
    headers = list(headers)
    fields = SYNONYMS[target]
    table = _lookup(target)
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for column, field in (overrides or {}).items():
        if column not in headers:
            raise ImportMappingError(
                ImportErrorCode.UNKNOWN_COLUMN,
                f"--map names the column {column!r}, which the file does not have; its columns "
                f"are: {', '.join(headers)}.", field=column)
        if field in ("", "-"):
            taken.add(f"\0{column}")
            continue
        if field not in fields:
            raise ImportMappingError(
                ImportErrorCode.UNKNOWN_FIELD,
                f"--map {column}={field}: {field!r} is not a field of {target}; use one of "
                f"{', '.join(fields)}.", field=column)
        mapping[column] = field
        taken.add(field)
    for header in headers:
        if header in mapping or header.startswith("_") or f"\0{header}" in taken:
            continue
        found = table.get(_key(header))
        if found is not None and found not in taken:
            mapping[header] = found
            taken.add(found)
    return mapping


def require_fields(mapping: Mapping[str, str], target: str, headers: Iterable[str]) -> None:
    """Raise one clear error if a field the import needs has no column."""
    _check_target(target)
    present = set(mapping.values())
    missing = [f for f in REQUIRED[target] if f not in present]
    if missing:
        examples = "; ".join(f"{f} (e.g. {', '.join(SYNONYMS[target][f][:2])})"
                             for f in missing)
        raise ImportMappingError(
            ImportErrorCode.MISSING_COLUMNS,
            f"The file has no column for {examples}. Its columns are: "
            f"{', '.join(headers)}. Rename a column or use --map COLUMN=FIELD.",
            field=missing[0])


def parse_map_options(options: Iterable[str]) -> dict[str, str]:
    """Turn ``["金额=amount", "Kunde=customer_external_id"]`` into a dict."""
    result: dict[str, str] = {}
    for option in options:
        column, sep, field = option.partition("=")
        if not sep or not column.strip():
            raise ImportMappingError(ImportErrorCode.BAD_MAP,
                                     f"--map {option!r} should look like COLUMN=FIELD.",
                                     field="map")
        result[column.strip()] = field.strip()
    return result
