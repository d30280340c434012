"""The statistical build: segments found in the scores, memberships per run, names that stay."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.db.models import Count, Sum
from django.test import override_settings
from segstat_story import AS_OF, NOW, SHANGHAI, plant, score_run

from guanxi.accounts.models import User
from guanxi.core.errors import ValidationFailed
from guanxi.segments.models import (
    Segment,
    Segmentation,
    SegmentationStatus,
    SegmentKind,
    SegmentMembership,
)
from guanxi.segments.services import segment_update
from guanxi.segments.statistical import (
    SegmentationErrorCode,
    display_name,
    segmentation_build,
    segmentation_build_task,
    segmentation_data,
    segmentation_summary,
)
from guanxi.value.models import CustomerScore
from guanxi.value.signals import score_run_completed

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


def build(**kwargs: object) -> object:
    return segmentation_build(k_range=(2, 5), seed=1, **kwargs)  # type: ignore[arg-type]


def test_given_three_planted_kinds_when_built_then_each_is_a_segment_with_its_customers(
        rep1: User, rep2: User, analyst: User) -> None:
    # Given 400 scored customers of three planted kinds
    run, truth = plant(owners=[rep1, rep2])
    # When the analyst builds the statistical segments
    seg = segmentation_build(k_range=(2, 5), seed=1, user=analyst)
    # Then three segments are found, stored with the criterion of every k tried
    assert seg.status == SegmentationStatus.COMPLETE
    assert seg.n_segments == 3
    assert seg.n_customers == 400
    assert set(seg.criterion_values) == {"2", "3", "4", "5"}
    segments = list(Segment.objects.filter(kind=SegmentKind.STATISTICAL, is_active=True))
    assert len(segments) == 3
    # and every customer's primary segment holds exactly one planted kind
    primary = SegmentMembership.objects.filter(run=run, is_primary=True)
    assert primary.count() == 400
    kinds_per_segment: dict[int, Counter[str]] = {}
    for segment_id, customer_id in primary.values_list("segment_id", "customer_id"):
        kinds_per_segment.setdefault(segment_id, Counter())[truth[customer_id]] += 1
    assert all(len(kinds) == 1 for kinds in kinds_per_segment.values())
    # and the VIP segment is described as a marketer would
    vip = max(segments, key=lambda s: s.profile["mean_clv"])
    assert vip.name == vip.suggested_name
    assert vip.name.startswith("top-value regulars")
    assert vip.profile["equity_share"] > 0.8
    assert vip.profile["typical_rfm"] == "555"
    traits = {(t["trait"], t["value"]) for t in vip.profile["traits"]}
    assert ("city_tier", "tier1") in traits or ("source", "referral") in traits
    assert set(vip.centroid) >= {"log_clv", "p_alive"}


def test_membership_probabilities_are_stored_with_a_floor(rep1: User) -> None:
    run, _ = plant(owners=[rep1])
    build()
    rows = SegmentMembership.objects.filter(run=run)
    # each customer has one primary membership; others only at probability >= 0.1
    per_customer = rows.values("customer_id").annotate(n=Count("id"),
                                                       p=Sum("probability"))
    assert all(r["p"] <= 1.0001 for r in per_customer)
    assert rows.filter(is_primary=True).count() == 400
    assert not rows.filter(is_primary=False, probability__lt=0.1).exists()


def test_a_rebuild_keeps_the_names_a_person_gave_and_the_segments_that_stayed(
        rep1: User, manager: User) -> None:
    # Given last month's segments, one renamed by the manager
    first_run, _ = plant(owners=[rep1], as_of=dt.date(2026, 5, 31))
    build(run=first_run)
    vip = max(Segment.objects.filter(kind=SegmentKind.STATISTICAL),
              key=lambda s: s.profile["mean_clv"])
    segment_update(user=manager, segment=vip, name="茶友会核心")
    others = {s.pk: s.name for s in Segment.objects.filter(kind=SegmentKind.STATISTICAL)
              .exclude(pk=vip.pk)}
    # When this month's run (same customers, fresh noise) is segmented
    from guanxi.customers.models import Customer
    run, _ = plant(owners=[rep1], seed=4, customers=list(Customer.objects.order_by("pk")))
    build(run=run)
    # Then the same three segments continue: the renamed one keeps 茶友会核心, the others
    # their names, nobody is retired, and both runs have their own memberships
    active = Segment.objects.filter(kind=SegmentKind.STATISTICAL, is_active=True)
    assert active.count() == 3
    vip.refresh_from_db()
    assert vip.name == "茶友会核心"
    assert vip.renamed
    assert display_name(vip) == "茶友会核心"
    for pk, name in others.items():
        assert Segment.objects.get(pk=pk).name == name
    assert SegmentMembership.objects.filter(run=first_run, is_primary=True).count() == 400
    assert SegmentMembership.objects.filter(run=run, is_primary=True).count() == 400


def test_rebuilding_the_same_run_replaces_its_memberships(rep1: User) -> None:
    run, _ = plant(owners=[rep1])
    build()
    build()
    assert SegmentMembership.objects.filter(run=run, is_primary=True).count() == 400


def test_too_few_buyers_or_no_run_are_refused_clearly(rep1: User) -> None:
    with pytest.raises(ValidationFailed) as no_run:
        build()
    assert no_run.value.code == SegmentationErrorCode.NO_SCORES
    plant(owners=[rep1], n=50)
    with pytest.raises(ValidationFailed) as few:
        build()
    assert few.value.code == SegmentationErrorCode.NOT_ENOUGH_CUSTOMERS
    assert "50" in few.value.message
    with pytest.raises(ValidationFailed) as bad:
        segmentation_build(k_range=(8, 3))
    assert bad.value.field == "k_range"
    with pytest.raises(ValidationFailed):
        segmentation_build(cluster_traits=["zodiac"])


def test_traits_can_be_clustered_on(rep1: User) -> None:
    plant(owners=[rep1])
    seg = build(cluster_traits=["city_tier"])
    assert "city_tier=tier1" in seg.features  # type: ignore[attr-defined]


def test_the_summary_lists_the_segments_most_valuable_first(rep1: User) -> None:
    plant(owners=[rep1])
    summary = segmentation_summary(build())  # type: ignore[arg-type]
    assert summary["n_segments"] == 3
    clvs = [s["mean_clv"] for s in summary["segments"]]
    assert clvs == sorted(clvs, reverse=True)
    assert summary["as_of"] == AS_OF.isoformat()


def test_a_new_latest_run_is_segmented_after_scoring(rep1: User) -> None:
    # Given scored customers whose run has just completed
    run, _ = plant(owners=[rep1])
    # When the value engine announces it (segmenting in the scoring process)
    with override_settings(GUANXI_SEGMENTS_STATISTICAL={"k_range": (2, 4),
                                                        "after_scoring": "inline"}):
        score_run_completed.send(sender=type(run), run=run)
    # Then its snapshot has statistical memberships
    assert SegmentMembership.objects.filter(run=run, is_primary=True).count() == 400


def test_by_default_the_segmentation_after_scoring_is_a_background_task(
        rep1: User, settings: Any) -> None:
    # Given the worker runs tasks as they come (the immediate backend)
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default"]}}
    settings.GUANXI_SEGMENTS_STATISTICAL = {"k_range": (2, 4)}
    run, _ = plant(owners=[rep1])
    # When a scoring run completes
    score_run_completed.send(sender=type(run), run=run)
    # Then the task segmented that run
    seg = Segmentation.objects.get()
    assert seg.run == run
    assert seg.status == SegmentationStatus.COMPLETE
    assert SegmentMembership.objects.filter(run=run, is_primary=True).count() == 400


def test_a_queued_segmentation_of_a_run_replaced_meanwhile_is_skipped(rep1: User) -> None:
    result = segmentation_build_task.call(k_range=[2, 3], criterion="bic", cluster_traits=[],
                                          run_id=12345)
    assert result["segmentation_id"] is None


def test_segmenting_after_scoring_can_be_turned_off_and_skips_tiny_books(rep1: User) -> None:
    run, _ = plant(owners=[rep1])
    with override_settings(GUANXI_SEGMENTS_STATISTICAL={"after_scoring": "off"}):
        score_run_completed.send(sender=type(run), run=run)
    assert not SegmentMembership.objects.filter(segment__kind="statistical").exists()
    small = score_run(dt.date(2026, 7, 1))
    CustomerScore.objects.filter(run=run)[:1].get()  # the book is there, but the new run
    score_run_completed.send(sender=type(small), run=small)  # has no buyers: skipped quietly
    assert not SegmentMembership.objects.filter(run=small).exists()


def test_the_features_are_read_as_the_scores_say(rep1: User) -> None:
    # Given a scored customer whose first purchase was 10 days and 12 hours before the end of
    # the as-of day (company time)
    run, _ = plant(owners=[rep1], n=5)
    score = CustomerScore.objects.filter(run=run).order_by("customer_id").first()
    assert score is not None
    end_of_day = dt.datetime(2026, 7, 1, tzinfo=SHANGHAI)
    score.first_purchase_at = end_of_day - dt.timedelta(days=10, hours=12)
    score.interval_mean_days, score.interval_sd_days = 20.0, 5.0
    score.save()
    # When the segmentation reads the run
    ids, data = segmentation_data(run=run)
    # Then its tenure is 10.5 days, its regularity sd/mean, its traits those of its profile
    i = list(ids).index(score.customer_id)
    assert data.tenure_days[i] == pytest.approx(10.5)  # type: ignore[index]
    assert data.interval_cv[i] == pytest.approx(0.25)  # type: ignore[index]
    customer = score.customer
    assert data.traits["source"][i] == customer.source  # type: ignore[index]
    assert data.traits["city_tier"][i] in ("tier1", "other")  # type: ignore[index]
    # and the customers come in id order, each with their own stored figures
    assert ids.tolist() == sorted(ids.tolist())
    stored = dict(CustomerScore.objects.filter(run=run, frequency__gte=1)
                  .values_list("customer_id", "p_alive"))
    assert dict(zip(ids.tolist(), data.p_alive.tolist(), strict=True)) == pytest.approx(stored)
