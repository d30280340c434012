from enum import StrEnum


class SalesErrorCode(StrEnum):
    ORDER_NOT_FOUND = "order_not_found"
    ORDER_EXISTS = "order_exists"
    INVALID_AMOUNT = "invalid_amount"
    INVALID_CURRENCY = "invalid_currency"
    INVALID_STATUS = "invalid_status"
    NAIVE_TIME = "naive_time"
    CUSTOMER_MERGED = "customer_merged"
