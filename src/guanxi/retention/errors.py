from enum import StrEnum


class RetentionErrorCode(StrEnum):
    ALERT_NOT_FOUND = "alert_not_found"
    REPLENISHMENT_NOT_FOUND = "replenishment_not_found"
    READ_ONLY = "read_only"
    ALREADY_CLOSED = "already_closed"
    INVALID_OUTCOME = "invalid_outcome"
    INVALID_SETTING = "invalid_setting"
    NO_DATA = "no_data"
