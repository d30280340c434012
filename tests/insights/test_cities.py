"""The city-tier mapping: first-tier, new first-tier, second-tier, and "other" for the rest."""

from __future__ import annotations

import pytest

from guanxi.insights import cities
from guanxi.insights.cities import CityTier, city_tier


@pytest.mark.parametrize(("name", "tier"), [
    ("北京", CityTier.TIER1), ("上海市", CityTier.TIER1), ("Shenzhen", CityTier.TIER1),
    (" guangzhou ", CityTier.TIER1), ("成都", CityTier.NEW_TIER1), ("Hangzhou", CityTier.NEW_TIER1),
    ("厦门市", CityTier.TIER2), ("Harbin", CityTier.TIER2), ("拉萨", CityTier.OTHER),
    ("", CityTier.OTHER), (None, CityTier.OTHER), ("Springfield", CityTier.OTHER),
])
def test_a_city_name_in_chinese_or_pinyin_finds_its_tier(name: str | None,
                                                         tier: CityTier) -> None:
    assert city_tier(name) is tier


def test_every_city_sits_in_one_tier_and_has_a_pinyin() -> None:
    names = [*cities.TIER1, *cities.NEW_TIER1, *cities.TIER2]
    assert len(names) == len(set(names))
    assert set(names) == set(cities._PINYIN)
    assert len(cities.TIER1) == 4
