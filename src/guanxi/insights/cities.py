"""City tiers (城市等级): a small, maintained mapping from a city name to its tier.

Tiers follow the common Chinese business classification: the four first-tier cities
(北上广深), the "new first-tier" cities (新一线, as listed in the 2024 ranking), and a set of
second-tier cities. Anything else, including an empty or unknown city, is "other" — the model
then learns nothing from it rather than something wrong.

A city is matched by its Chinese name with or without the 市 suffix, or by its pinyin / English
name in any case ("Beijing", "beijing", "北京市"). To maintain: add the Chinese name to the
right tuple and its pinyin to ``_PINYIN``; ``tests/insights/test_cities.py`` checks every
Chinese name has a pinyin and no city sits in two tiers.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from django.utils.translation import gettext_lazy as _


class CityTier(StrEnum):
    TIER1 = "tier1"
    NEW_TIER1 = "new_tier1"
    TIER2 = "tier2"
    OTHER = "other"


CITY_TIER_LABELS: Final = {
    CityTier.TIER1: _("first-tier city"),
    CityTier.NEW_TIER1: _("new first-tier city"),
    CityTier.TIER2: _("second-tier city"),
    CityTier.OTHER: _("other or unknown city"),
}

TIER1: Final = ("北京", "上海", "广州", "深圳")
NEW_TIER1: Final = ("成都", "杭州", "重庆", "武汉", "苏州", "西安", "南京", "长沙", "天津",
                    "郑州", "东莞", "无锡", "宁波", "青岛", "合肥")
TIER2: Final = ("佛山", "沈阳", "昆明", "济南", "厦门", "福州", "温州", "大连", "哈尔滨",
                "长春", "泉州", "石家庄", "南宁", "金华", "贵阳", "南昌", "常州", "嘉兴",
                "珠海", "南通", "惠州", "太原", "中山", "徐州", "绍兴", "台州", "烟台",
                "兰州", "潍坊", "临沂")

_PINYIN: Final = {
    "北京": "beijing", "上海": "shanghai", "广州": "guangzhou", "深圳": "shenzhen",
    "成都": "chengdu", "杭州": "hangzhou", "重庆": "chongqing", "武汉": "wuhan",
    "苏州": "suzhou", "西安": "xian", "南京": "nanjing", "长沙": "changsha", "天津": "tianjin",
    "郑州": "zhengzhou", "东莞": "dongguan", "无锡": "wuxi", "宁波": "ningbo",
    "青岛": "qingdao", "合肥": "hefei", "佛山": "foshan", "沈阳": "shenyang",
    "昆明": "kunming", "济南": "jinan", "厦门": "xiamen", "福州": "fuzhou", "温州": "wenzhou",
    "大连": "dalian", "哈尔滨": "harbin", "长春": "changchun", "泉州": "quanzhou",
    "石家庄": "shijiazhuang", "南宁": "nanning", "金华": "jinhua", "贵阳": "guiyang",
    "南昌": "nanchang", "常州": "changzhou", "嘉兴": "jiaxing", "珠海": "zhuhai",
    "南通": "nantong", "惠州": "huizhou", "太原": "taiyuan", "中山": "zhongshan",
    "徐州": "xuzhou", "绍兴": "shaoxing", "台州": "taizhou", "烟台": "yantai",
    "兰州": "lanzhou", "潍坊": "weifang", "临沂": "linyi",
}

_TIERS: dict[str, CityTier] = {}
for _tier, _names in ((CityTier.TIER1, TIER1), (CityTier.NEW_TIER1, NEW_TIER1),
                      (CityTier.TIER2, TIER2)):
    for _name in _names:
        _TIERS[_name] = _tier
        _TIERS[_PINYIN[_name]] = _tier
# Common alternative spellings.
_TIERS.update({"peking": CityTier.TIER1, "canton": CityTier.TIER1, "xi'an": CityTier.NEW_TIER1,
               "haerbin": CityTier.TIER2})


def city_tier(city: str | None) -> CityTier:
    """The tier of a city name; "other" for an unknown or empty one."""
    if not city:
        return CityTier.OTHER
    key = city.strip()
    if key.endswith("市"):
        key = key[:-1]
    key = key.lower().replace(" ", "").replace("-", "")
    if key.endswith("shi") and key[:-3] in _TIERS:
        key = key[:-3]
    if key.endswith("city") and key[:-4] in _TIERS:
        key = key[:-4]
    return _TIERS.get(key, CityTier.OTHER)
