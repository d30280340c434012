from enum import StrEnum


class SegmentErrorCode(StrEnum):
    NOT_FOUND = "segment_not_found"
    INVALID_RULE = "invalid_rule"
    INVALID_FIELD = "invalid_segment_field"
    NAME_TAKEN = "segment_name_taken"
    READ_ONLY = "segment_read_only"
    WRONG_KIND = "segment_wrong_kind"
    RUN_NOT_FOUND = "score_run_not_found"
    NOT_ENOUGH_RUNS = "not_enough_score_runs"
    INVALID_SCHEME = "invalid_migration_scheme"
    CUSTOMER_NOT_FOUND = "segment_customer_not_found"
