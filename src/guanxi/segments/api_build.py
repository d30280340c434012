"""``/api/v1/segments/build``: start a statistical build in the background, read the latest.

``build_router`` is added to the segments router (``guanxi.segments.api``).
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from guanxi.api.customers import ERRORS, user_of
from guanxi.segments.statistical import (
    TRAIT_NAMES,
    SegmentationErrorCode,
    access_segmentation,
    check_can_build,
    latest_segmentation,
    segmentation_build_task,
    segmentation_summary,
    statistical_settings,
)

build_router = Router(tags=["segments"])


class BuildIn(Schema):
    k_min: int | None = Field(None, ge=2, le=30, description="Fewest segments tried "
                              "(default 6).")
    k_max: int | None = Field(None, ge=2, le=30, description="Most segments tried "
                              "(default 10).")
    criterion: str | None = Field(None, description="`bic` (default) or `silhouette`.")
    traits: list[str] = Field(default_factory=list, description="Profile traits clustered on "
                              f"besides value: {', '.join(TRAIT_NAMES)}.")
    seed: int | None = Field(None, description="Random seed, for a repeatable build.")


class BuildStartedOut(Schema):
    task_id: str
    status: str


class SegmentOut(Schema):
    id: int
    name: str
    display_name: str
    suggested_name: str
    renamed: bool
    size: int | None
    share: float | None
    equity_share: float | None
    mean_clv: float | None
    median_frequency: float | None
    median_recency_days: float | None
    mean_p_alive: float | None
    typical_rfm: str | None
    traits: list[dict[str, Any]] | None


class SegmentationOut(Schema):
    id: int
    status: str
    created_at: str
    finished_at: str | None
    run_id: int | None
    as_of: str | None
    criterion: str
    criterion_values: dict[str, float]
    n_segments: int | None
    n_customers: int
    features: list[str]
    timings: dict[str, float]
    error: str
    segments: list[SegmentOut]


@build_router.post("/segments/build", response={202: BuildStartedOut, **ERRORS})
def start_build(request: HttpRequest, payload: BuildIn) -> Status[dict[str, str]]:
    """Start a statistical segmentation of the latest scores (admins, managers, analysts).

    Runs in the background worker; read the result with `GET /segments/build`.
    """
    from guanxi.core.errors import ValidationFailed

    user = user_of(request)
    check_can_build(user)
    cfg = statistical_settings()
    low = payload.k_min or cfg.k_range[0]
    high = payload.k_max or max(cfg.k_range[1], low)
    if low > high:
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               "k_min must not exceed k_max.", field="k_min")
    criterion = payload.criterion or cfg.criterion
    if criterion not in ("bic", "silhouette"):
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               "The criterion must be bic or silhouette.", field="criterion")
    unknown = [t for t in payload.traits if t not in TRAIT_NAMES]
    if unknown:
        raise ValidationFailed(SegmentationErrorCode.INVALID_SETTINGS,
                               f"Unknown traits: {', '.join(unknown)}.", field="traits")
    result = segmentation_build_task.enqueue(k_range=[low, high], criterion=criterion,
                                             cluster_traits=payload.traits, user_id=user.pk,
                                             seed=payload.seed)
    return Status(202, {"task_id": str(result.id), "status": str(result.status)})


@build_router.get("/segments/build", response={200: SegmentationOut, **ERRORS})
def latest_build(request: HttpRequest) -> dict[str, Any]:
    """The latest complete statistical segmentation with its segments, most valuable first."""
    from guanxi.core.errors import NotFound

    user_of(request)
    segmentation = latest_segmentation()
    if segmentation is None:
        raise NotFound(SegmentationErrorCode.NOT_FOUND,
                       "No statistical segmentation has been built yet.")
    return segmentation_summary(segmentation)


@build_router.get("/segments/builds/{segmentation_id}",
                  response={200: SegmentationOut, **ERRORS})
def get_build(request: HttpRequest, segmentation_id: int) -> dict[str, Any]:
    """One build by id, whatever its status (building, complete or failed with its error)."""
    user_of(request)
    return segmentation_summary(access_segmentation(segmentation_id=segmentation_id))
