"""The segments pages: list, detail with members, builder preview, build, migration."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from segstat_story import NOW, plant

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.segments.models import Segment, Segmentation, SegmentKind, SegmentMembership
from guanxi.segments.services import segment_create
from guanxi.segments.statistical import segmentation_build

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """The list caches its counts per scoring run and build; ids repeat from test to test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture(autouse=True)
def _fast_hashing(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


def signed_in(user: User, **headers: str) -> Client:
    client = Client(headers=headers)
    client.force_login(user)
    return client


@pytest.fixture
def segmented(rep1: User, rep2: User) -> Segment:
    """The planted tea house, segmented; returns its VIP segment."""
    plant(owners=[rep1, rep2])
    segmentation_build(k_range=(2, 5), seed=1)
    return max(Segment.objects.filter(kind=SegmentKind.STATISTICAL),
               key=lambda s: s.profile["mean_clv"])


def test_the_list_shows_each_segment_with_its_size_and_value_share(
        segmented: Segment, admin: User) -> None:
    page = signed_in(admin).get(reverse("segments:list")).content.decode()
    assert segmented.name in page
    primary = SegmentMembership.objects.filter(segment=segmented, is_primary=True).count()
    assert f">{primary}<" in page
    assert "%" in page
    assert "Find segments" in page  # admins may start a build


def test_a_rep_sees_only_their_own_customers_inside_a_segment(
        segmented: Segment, rep1: User, rep2: User) -> None:
    # Given the VIP segment holds customers of both Li and Wang
    owners = set(Customer.objects.filter(memberships__segment=segmented)
                 .values_list("owner_id", flat=True))
    assert owners == {rep1.pk, rep2.pk}
    # When Li opens it
    page = signed_in(rep1).get(reverse("segments:detail", args=[segmented.pk])
                               ).content.decode()
    # Then Li's customers are listed and none of Wang's
    li = Customer.objects.filter(memberships__segment=segmented, owner=rep1).first()
    wang = Customer.objects.filter(memberships__segment=segmented, owner=rep2).first()
    assert li is not None
    assert wang is not None
    assert li.name in page
    assert wang.name not in page
    # and the counts are of Li's book only
    mine = Customer.objects.filter(owner=rep1, memberships__segment=segmented).distinct().count()
    assert f">{mine}<" in page
    # and Li cannot open Wang's customer from there either
    assert signed_in(rep1).get(reverse("customer_detail", args=[wang.pk])).status_code == 404


def test_an_analyst_sees_the_segment_but_no_customer_names_or_contacts(
        segmented: Segment, analyst: User) -> None:
    page = signed_in(analyst).get(reverse("segments:detail", args=[segmented.pk])
                                  ).content.decode()
    customer = Customer.objects.filter(memberships__segment=segmented).first()
    assert customer is not None
    assert customer.name not in page
    assert customer.phone not in page
    assert customer.email not in page
    assert f"#{customer.pk}" in page
    assert "Stands out by" in page  # the statistical description is there


def test_the_statistical_description_is_shown_in_words(segmented: Segment,
                                                       manager: User) -> None:
    page = signed_in(manager).get(reverse("segments:detail", args=[segmented.pk])
                                  ).content.decode()
    assert "top-value regulars" in page
    assert "Lift" in page
    assert "×" in page
    # and the ranked traits of the best customers are one click away
    assert f'href="{reverse("insights:traits")}"' in page


def test_the_pages_render_in_chinese(segmented: Segment, manager: User) -> None:
    client = signed_in(manager, **{"accept-language": "zh-hans"})
    page = client.get(reverse("segments:detail", args=[segmented.pk])).content.decode()
    assert "顶级价值常客" in page
    assert "客户" in page
    listing = client.get(reverse("segments:list")).content.decode()
    assert "细分" in listing


def test_a_statistical_segment_is_renamed_in_place_and_a_rep_may_not(
        segmented: Segment, manager: User, rep1: User) -> None:
    url = reverse("segments:rename", args=[segmented.pk])
    refused = signed_in(rep1).post(url, {"name": "mine"}, headers={"hx-request": "true"})
    assert refused.status_code == 403
    response = signed_in(manager).post(url, {"name": "茶友会核心"},
                                       headers={"hx-request": "true"})
    assert response.status_code == 200
    assert "茶友会核心" in response.content.decode()
    segmented.refresh_from_db()
    assert segmented.renamed


def test_the_builder_previews_size_and_value_share_as_conditions_are_edited(
        segmented: Segment, rep1: User) -> None:
    client = signed_in(rep1)
    assert client.get(reverse("segments:new")).status_code == 200
    # When Li asks for VIP-tier customers in 上海
    rule = {"name": "上海 VIPs", "combine": "all",
            "c0-field": "value_tier", "c0-op": "eq", "c0-value": "vip",
            "c0-negate": "", "c1-field": "city", "c1-op": "in", "c1-value": "上海, 北京"}
    preview = client.post(reverse("segments:preview"), rule,
                          headers={"hx-request": "true"}).content.decode()
    # Then the preview counts Li's matching customers and their share of Li's equity
    expected = Customer.objects.filter(owner=rep1, value__value_tier="vip",
                                       city__in=["上海", "北京"]).count()
    assert expected > 0
    assert f">{expected}<" in preview
    assert "of customer equity" in preview
    # and a bad value is explained, naming the condition
    bad = client.post(reverse("segments:preview"), {**rule, "c0-value": "platinum"},
                      headers={"hx-request": "true"}).content.decode()
    assert "platinum" in bad
    # When Li saves it, the segment exists with the rule and opens on its page
    saved = client.post(reverse("segments:new"), rule)
    assert saved.status_code == 302
    segment = Segment.objects.get(name="上海 VIPs")
    assert segment.definition == {"all": [
        {"field": "value_tier", "op": "eq", "value": "vip"},
        {"field": "city", "op": "in", "value": ["上海", "北京"]}]}
    assert signed_in(rep1).get(reverse("segments:edit", args=[segment.pk])).status_code == 200


def test_a_service_agent_may_not_create_segments_or_build(segmented: Segment,
                                                          agent: User) -> None:
    client = signed_in(agent)
    assert client.get(reverse("segments:new")).status_code == 403
    assert client.post(reverse("segments:build"), {"k_min": 2, "k_max": 3,
                                                   "criterion": "bic"}).status_code == 403


def test_a_manager_starts_a_build_from_the_list(segmented: Segment, manager: User,
                                                settings: object) -> None:
    settings.TASKS = {"default": {  # type: ignore[attr-defined]
        "BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]}}
    response = signed_in(manager).post(reverse("segments:build"),
                                       {"k_min": 2, "k_max": 4, "criterion": "bic"})
    assert response.status_code == 302
    assert "building=1" in response["Location"]
    # The new build's segments (2 to 4, as asked; BIC picks how many) replace the old ones
    built = Segmentation.objects.latest("pk")
    active = Segment.objects.filter(kind=SegmentKind.STATISTICAL, is_active=True)
    assert built.pk != segmented.segmentation_id
    assert 2 <= built.n_segments <= 4  # type: ignore[operator]
    assert {s.segmentation_id for s in active} == {built.pk}
    assert active.count() == built.n_segments


def test_the_migration_view_shows_the_matrix_sankey_and_a_cells_customers(
        rep1: User, rep2: User, manager: User) -> None:
    # Given two scoring runs a month apart, segmented each time
    first, _ = plant(owners=[rep1, rep2], as_of=dt.date(2026, 5, 31))
    segmentation_build(run=first, k_range=(2, 5), seed=1)
    second, _ = plant(owners=[rep1, rep2], seed=4,
                      customers=list(Customer.objects.order_by("pk")))
    segmentation_build(run=second, k_range=(2, 5), seed=1)
    segment_create(user=rep1, name="VIP tier", definition={
        "all": [{"field": "value_tier", "op": "eq", "value": "vip"}]})
    client = signed_in(manager)
    # When the manager compares the runs by statistical segment
    page = client.get(reverse("segments:migration"),
                      {"scheme": "statistical"}).content.decode()
    # Then the Sankey and the matrix are drawn, and a cell lists its customers
    assert "<svg" in page
    assert "Transition matrix" in page
    assert "top-value regulars" in page
    vip = max(Segment.objects.filter(kind=SegmentKind.STATISTICAL),
              key=lambda s: s.profile["mean_clv"])
    cell = client.get(reverse("segments:migration_cell"), {
        "scheme": "statistical", "source": str(vip.pk), "target": str(vip.pk)},
        headers={"hx-request": "true"}).content.decode()
    stayed = SegmentMembership.objects.filter(segment=vip, run=second, is_primary=True).first()
    assert stayed is not None
    assert stayed.customer.name in cell
    # and the table exports as CSV
    csv = client.get(reverse("segments:migration_export", args=["csv"]),
                     {"scheme": "stage"})
    assert csv.status_code == 200
    assert csv["Content-Type"].startswith("text/csv")


def test_migration_with_one_run_says_what_is_missing(segmented: Segment, rep1: User) -> None:
    page = signed_in(rep1).get(reverse("segments:migration")).content.decode()
    assert "Migration needs a scoring run before" in page


def test_long_segment_names_are_cut_for_the_sankey_but_stay_distinct() -> None:
    from guanxi.segments.views import _short_labels

    short = _short_labels({"high-value regulars, organizations",
                           "high-value regulars, from trade shows", "高价值常客，机构客户",
                           "Loyal"})
    assert short["Loyal"] == "Loyal"
    assert short["高价值常客，机构客户"] == "高价值常客，机构…"
    assert len(set(short.values())) == 4
    assert all(len(v) <= 18 for v in short.values())


def test_a_failed_build_is_reported_on_the_list(segmented: Segment, manager: User) -> None:
    from guanxi.segments.models import Segmentation, SegmentationStatus

    Segmentation.objects.create(created_at=NOW, status=SegmentationStatus.FAILED,
                                error="ValidationFailed: too few buyers")
    page = signed_in(manager).get(reverse("segments:list")).content.decode()
    assert "The last build" in page
    assert "too few buyers" in page


def test_a_reps_list_counts_only_their_own_customers(segmented: Segment, rep1: User) -> None:
    page = signed_in(rep1).get(reverse("segments:list")).content.decode()
    mine = SegmentMembership.objects.filter(segment=segmented, is_primary=True,
                                            customer__owner=rep1).count()
    everyone = SegmentMembership.objects.filter(segment=segmented, is_primary=True).count()
    assert mine < everyone
    assert f">{mine}<" in page
    assert f">{everyone}<" not in page


def test_a_builder_row_offers_only_the_conditions_its_field_supports(rep1: User) -> None:
    client = signed_in(rep1)
    assert 'hx-get="/segments/condition/?row=c0"' in client.get(reverse("segments:new")
                                                                 ).content.decode()
    row = client.get(reverse("segments:condition"), {"row": "c1", "c1-field": "clv"},
                     headers={"hx-request": "true"}).content.decode()
    assert 'value="between"' in row
    assert 'value="has"' not in row  # a tag condition, not a number's
    assert 'id="row-c1"' in row
    assert client.get(reverse("segments:condition"), {"row": "x<script>"}).status_code == 404
