"""Error codes of the insights domain (a program branches on these; a person reads the message)."""

from enum import StrEnum


class InsightsErrorCode(StrEnum):
    AGGREGATES_ONLY = "insights_aggregates_only"
    NO_OUTREACH = "insights_no_outreach"
    NOT_ENOUGH_DATA = "insights_not_enough_data"
    NOT_SCORED = "insights_not_scored"
    NOT_AN_ORGANIZATION = "insights_not_an_organization"
    PLAN_EXISTS = "key_account_plan_exists"
    PLAN_NOT_FOUND = "key_account_plan_not_found"
    INVALID_STAGE = "key_account_invalid_stage"
    INVALID_OWNER = "key_account_invalid_owner"
    LAST_STAGE = "key_account_last_stage"
    INVALID_TIER = "insights_invalid_tier"
    INVALID_FIELD = "key_account_invalid_field"
