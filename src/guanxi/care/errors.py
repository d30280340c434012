from enum import StrEnum


class CareErrorCode(StrEnum):
    TASK_NOT_FOUND = "task_not_found"
    INVALID_FIELD = "invalid_field"
    INVALID_SETTINGS = "invalid_care_settings"
    READ_ONLY = "care_read_only"
    USER_NOT_FOUND = "user_not_found"
