from enum import StrEnum


class ValueErrorCode(StrEnum):
    NO_PURCHASES = "no_purchases"
    TOO_FEW_CUSTOMERS = "too_few_customers"
    FIT_FAILED = "fit_failed"
    INVALID_SETTING = "invalid_setting"
    INVALID_FILE = "invalid_file"
    ENGINE_UNAVAILABLE = "engine_unavailable"
    FUTURE_DATE = "future_date"
