"""Stories of the insights: the traits of the best customers, look-alike prospects, key
accounts and the strategy report, each with the people who may (and may not) see them."""

from __future__ import annotations

import pytest
from insights_story import Accounts, Shop

from guanxi.accounts.models import User
from guanxi.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from guanxi.customers.models import CustomerEvent, EventType
from guanxi.insights import reports, selectors, services
from guanxi.insights.models import KeyAccountPlan, KeyAccountStage

pytestmark = pytest.mark.django_db


def test_the_analyst_learns_that_referrals_become_vip(shop: Shop, analyst: User) -> None:
    # Given 200 scored buyers where referrals became VIP at 60% and the others at 5%
    # When Chen (analyst) asks what distinguishes the VIP customers
    report = reports.traits_report(user=analyst, top_tiers=["vip"])

    # Then referral is the strongest trait, 3.75× as likely, said in plain words
    first = report.traits[0]
    assert (first["feature"], first["level"]) == ("source", "referral")
    assert first["lift"] == pytest.approx((24 / 40) / (32 / 200))
    assert first["support"] == pytest.approx(0.2)
    assert "Customers acquired through referral are 3.8× as likely to become VIP" in \
        first["sentence"]
    assert report.n_customers == 200
    assert report.n_top == 32
    assert report.holdout_auc > 0.6  # 0.83 in theory; 60 held-out customers are noisy


def test_a_rep_sees_no_aggregate_report(shop: Shop, rep1: User, agent: User) -> None:
    for user in (rep1, agent):
        with pytest.raises(PermissionDenied):
            reports.traits_report(user=user)
        with pytest.raises(PermissionDenied):
            reports.strategy(user=user)


def test_an_unknown_top_tier_is_refused(shop: Shop, manager: User) -> None:
    with pytest.raises(ValidationFailed):
        reports.traits_report(user=manager, top_tiers=["platinum"])


def test_li_ranks_only_his_prospects_that_may_be_contacted(shop: Shop, rep1: User) -> None:
    # Given Li's prospects: a referral and an ads prospect with marketing consent, a referral
    # without any consent, one who withdrew it, one who objected to profiling
    p = shop.prospects

    # When Li ranks his prospects
    ranking = reports.prospects_rank(user=rep1, top_tiers=["vip"])

    # Then only the two with consent are ranked, the referral first, and referral drives it
    assert list(ranking.ids) == [p["granted"].pk, p["ads"].pk]
    assert ranking.probability[0] > ranking.probability[1]
    rows = ranking.rows()
    assert rows[0]["name"] == "有同意"
    assert rows[0]["drivers"][0]["feature"] == "source"
    assert rows[0]["drivers"][0]["label"] == "customers acquired through referral"
    # And the others are reported with the reason; Wang's prospect is not Li's business
    excluded = dict(zip(ranking.excluded_ids.tolist(), ranking.excluded_reason.tolist(),
                        strict=True))
    assert excluded == {p["none"].pk: "no_marketing_consent",
                        p["withdrawn"].pk: "marketing_withdrawn",
                        p["profiling"].pk: "profiling_refused"}
    assert p["wangs"].pk not in ranking.ids


def test_a_service_agent_gets_no_outreach_list(shop: Shop, agent: User) -> None:
    with pytest.raises(PermissionDenied):
        reports.prospects_rank(user=agent)


def test_the_manager_ranks_the_team_and_the_analyst_sees_no_names(
        shop: Shop, manager: User, analyst: User) -> None:
    team = reports.prospects_rank(user=manager)
    assert shop.prospects["wangs"].pk in team.ids
    anonymous = reports.prospects_rank(user=analyst)
    header, table = reports.ranking_table(anonymous)
    assert "Name" not in header
    assert all(row["name"] is None for row in anonymous.rows())
    assert len(table) == 3


def test_the_steady_central_organization_is_a_key_account_candidate(
        accounts: Accounts, rep1: User, manager: User) -> None:
    # When Li looks at his organizations
    rows = reports.key_account_candidates(user=rep1)

    # Then he sees only his own, a candidate, with the three measures explained
    assert [r["id"] for r in rows] == [accounts.steady.pk]
    steady = rows[0]
    assert steady["candidate"] is True
    assert steady["product_fit"] == pytest.approx(3 / 4)
    assert steady["central_share"] == 1.0
    assert steady["active_share"] == 1.0
    assert "3 of the catalogue's 4 categories" in steady["explanation"][0]
    # And the manager sees both; the one-off, scattered buyer is not a candidate
    team = {r["id"]: r for r in reports.key_account_candidates(user=manager)}
    once = team[accounts.once.pk]
    assert once["candidate"] is False
    assert once["n_buyers"] == 4
    assert "scattered" in once["explanation"][1]


def test_a_key_account_plan_moves_through_its_stages_on_the_timeline(
        accounts: Accounts, rep1: User) -> None:
    # Given Li starts a plan for his organization
    account = selectors.access_organization(user=rep1, customer_id=accounts.steady.pk,
                                            write=True)
    plan = services.key_account_plan_create(actor=rep1, account=account, owner=rep1,
                                            goals="统一采购服务器")
    assert plan.stage == KeyAccountStage.BUILD

    # When he advances it twice
    plan = services.key_account_plan_advance(actor=rep1, plan=plan)
    plan = services.key_account_plan_advance(actor=rep1, plan=plan)

    # Then it is in the last stage, cannot go further, and the timeline tells the story
    assert plan.stage == KeyAccountStage.STRENGTHEN
    with pytest.raises(Conflict):
        services.key_account_plan_advance(actor=rep1, plan=plan)
    events = CustomerEvent.objects.filter(customer=accounts.steady,
                                          type=EventType.KEY_ACCOUNT_PLAN_CHANGED)
    assert events.count() == 3
    assert events.first().data["changes"]["stage"] == ["stabilize", "strengthen"]  # type: ignore[union-attr]
    # And a second plan for the same account is refused
    with pytest.raises(Conflict):
        services.key_account_plan_create(actor=rep1, account=account)


def test_nobody_plans_an_account_they_may_not_change(
        accounts: Accounts, rep1: User, analyst: User) -> None:
    with pytest.raises(NotFound):
        selectors.access_organization(user=rep1, customer_id=accounts.once.pk, write=True)
    with pytest.raises(PermissionDenied):
        selectors.access_organization(user=analyst, customer_id=accounts.steady.pk, write=True)
    with pytest.raises(NotFound):
        selectors.access_organization(user=rep1, customer_id=accounts.buyer.pk)
    assert not KeyAccountPlan.objects.exists()


def test_the_strategy_report_sees_a_small_segment_holding_most_equity(
        shop: Shop, analyst: User) -> None:
    # Given 32 champions worth 5,000 each and 168 hibernating customers worth 100
    report = reports.strategy(user=analyst)

    # Then equity is concentrated and a focused strategy on the champions is recommended
    conc = report["concentration"]
    assert conc["n_customers"] == 200
    assert conc["top_shares"]["5%"] == pytest.approx(10 * 5000 / (32 * 5000 + 168 * 100))
    assert report["basis"] == "rfm"
    assert report["recommendation"] == "focused"
    assert report["segmentations"]["rfm"]["focus_segment"] == "champions"
    assert any("champions" in e["sentence"] for e in report["evidence"])


def test_the_strategy_follows_the_statistical_segments_when_they_are_built(
        shop: Shop, analyst: User) -> None:
    # Given a statistical build that split the customers into two halves alike in value
    from guanxi.core import clock
    from guanxi.segments.models import Segment, SegmentKind, SegmentMembership
    from guanxi.value.selectors import latest_run

    run = latest_run()
    assert run is not None
    halves = [Segment.objects.create(name=name, kind=SegmentKind.STATISTICAL,
                                     created_at=clock.now(), updated_at=clock.now())
              for name in ("甲", "乙")]
    SegmentMembership.objects.bulk_create([
        SegmentMembership(run=run, segment=halves[i % 2], customer=c, probability=0.9,
                          is_primary=True)
        for i, c in enumerate(shop.buyers)])

    # When Chen asks for the strategy
    report = reports.strategy(user=analyst)

    # Then it reads the statistical segments: alike, so no reason to differentiate
    assert report["basis"] == "statistical"
    stat = report["segmentations"]["statistical"]
    assert {s["name"] for s in stat["segments"]} == {"甲", "乙"}
    # Each half bought 100 books at 120 (list price 100): its category mix and price level
    assert {s["top_category"] for s in stat["segments"]} == {"books"}
    assert [s["price_level"] for s in stat["segments"]] == [pytest.approx(1.2)] * 2
    assert report["recommendation"] == "undifferentiated"
    # while the RFM view, where champions hold 90% of the equity, would focus
    assert report["segmentations"]["rfm"]["recommendation"] == "focused"


def test_the_timeline_names_the_plan_event_in_chinese() -> None:
    from django.utils import translation

    with translation.override("zh-hans"):
        assert str(EventType.KEY_ACCOUNT_PLAN_CHANGED.label) == "大客户计划变更"
