from enum import StrEnum


class CustomerErrorCode(StrEnum):
    NOT_FOUND = "customer_not_found"
    INVALID_PHONE = "invalid_phone"
    INVALID_EMAIL = "invalid_email"
    INVALID_FIELD = "invalid_field"
    MERGE_INTO_ITSELF = "merge_into_itself"
    ALREADY_MERGED = "already_merged"
    READ_ONLY = "read_only"
    MERGE_KIND_MISMATCH = "merge_kind_mismatch"
    MERGE_CONFLICT = "merge_conflict"
