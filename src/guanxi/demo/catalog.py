"""The fixed vocabulary of the demo company: a tea house with shops, a web shop and a
corporate-gift business, selling to households and to companies.

Every list is ``(code or Chinese text, English text)`` so one seed gives the same company in
both locales; only the wording changes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import NamedTuple


class City(NamedTuple):
    zh: str
    en: str
    province_zh: str
    province_en: str


# City tiers as the Chinese market commonly ranks them (1 = the four first-tier cities).
CITIES_BY_TIER: dict[int, tuple[City, ...]] = {
    1: (
        City("北京", "Beijing", "北京", "Beijing"),
        City("上海", "Shanghai", "上海", "Shanghai"),
        City("广州", "Guangzhou", "广东", "Guangdong"),
        City("深圳", "Shenzhen", "广东", "Guangdong"),
    ),
    2: (
        City("杭州", "Hangzhou", "浙江", "Zhejiang"),
        City("南京", "Nanjing", "江苏", "Jiangsu"),
        City("成都", "Chengdu", "四川", "Sichuan"),
        City("武汉", "Wuhan", "湖北", "Hubei"),
        City("西安", "Xi'an", "陕西", "Shaanxi"),
        City("苏州", "Suzhou", "江苏", "Jiangsu"),
        City("天津", "Tianjin", "天津", "Tianjin"),
        City("重庆", "Chongqing", "重庆", "Chongqing"),
        City("长沙", "Changsha", "湖南", "Hunan"),
        City("厦门", "Xiamen", "福建", "Fujian"),
    ),
    3: (
        City("绍兴", "Shaoxing", "浙江", "Zhejiang"),
        City("洛阳", "Luoyang", "河南", "Henan"),
        City("桂林", "Guilin", "广西", "Guangxi"),
        City("泉州", "Quanzhou", "福建", "Fujian"),
        City("潍坊", "Weifang", "山东", "Shandong"),
        City("芜湖", "Wuhu", "安徽", "Anhui"),
        City("柳州", "Liuzhou", "广西", "Guangxi"),
        City("宜昌", "Yichang", "湖北", "Hubei"),
    ),
    4: (
        City("黄山", "Huangshan", "安徽", "Anhui"),
        City("丽水", "Lishui", "浙江", "Zhejiang"),
        City("张家界", "Zhangjiajie", "湖南", "Hunan"),
        City("普洱", "Pu'er", "云南", "Yunnan"),
        City("武夷山", "Wuyishan", "福建", "Fujian"),
        City("天水", "Tianshui", "甘肃", "Gansu"),
    ),
}
TIER_SHARES = (0.22, 0.33, 0.28, 0.17)

# Acquisition sources: code, share among people, share among organizations.
SOURCES: tuple[tuple[str, float, float], ...] = (
    ("referral", 0.14, 0.20),
    ("store", 0.26, 0.05),
    ("online_ads", 0.24, 0.10),
    ("wechat", 0.22, 0.10),
    ("trade_show", 0.04, 0.45),
    ("website", 0.10, 0.10),
)

# Multipliers on the latent purchase rate, drop-out probability and spend per order: the
# structure the value engine should find. Referrals buy more often, stay longer and spend more;
# online ads bring bargain hunters who drift away.
SOURCE_EFFECT: dict[str, tuple[float, float, float]] = {
    "referral": (1.45, 0.55, 1.45),
    "store": (1.15, 0.85, 1.05),
    "online_ads": (0.80, 1.50, 0.80),
    "wechat": (1.20, 1.00, 0.95),
    "trade_show": (0.90, 0.90, 1.20),
    "website": (0.95, 1.10, 0.95),
}
TIER_EFFECT: dict[int, tuple[float, float, float]] = {
    1: (1.20, 0.90, 1.40),
    2: (1.10, 0.95, 1.15),
    3: (1.00, 1.00, 0.95),
    4: (0.90, 1.10, 0.80),
}
# income band code: (share by tier 1..4), (rate, drop-out, spend) multipliers.
INCOME_BANDS: tuple[tuple[str, tuple[float, float, float, float], tuple[float, float, float]],
                    ...] = (
    ("affluent", (0.30, 0.20, 0.12, 0.08), (1.15, 0.80, 2.20)),
    ("comfortable", (0.45, 0.50, 0.50, 0.42), (1.00, 1.00, 1.10)),
    ("basic", (0.15, 0.22, 0.30, 0.40), (0.85, 1.20, 0.60)),
    ("", (0.10, 0.08, 0.08, 0.10), (1.00, 1.00, 1.00)),
)

OCCUPATIONS: tuple[tuple[str, str], ...] = (
    ("教师", "teacher"), ("工程师", "engineer"), ("医生", "doctor"), ("会计", "accountant"),
    ("设计师", "designer"), ("销售经理", "sales manager"), ("公务员", "civil servant"),
    ("企业主", "business owner"), ("律师", "lawyer"), ("程序员", "programmer"),
    ("自由职业", "freelancer"), ("退休", "retired"), ("学生", "student"),
    ("护士", "nurse"), ("厨师", "chef"),
)
CONTACT_TITLES: tuple[tuple[str, str], ...] = (
    ("采购经理", "purchasing manager"), ("行政主管", "office manager"),
    ("总经理助理", "assistant to the CEO"), ("人力资源经理", "HR manager"),
    ("财务", "finance officer"),
)
INDUSTRIES: tuple[tuple[str, str], ...] = (
    ("制造业", "manufacturing"), ("金融", "finance"), ("互联网", "internet"),
    ("酒店", "hospitality"), ("教育", "education"), ("医疗", "healthcare"),
    ("物流", "logistics"), ("房地产", "real estate"), ("零售", "retail"),
    ("律师事务所", "legal services"),
)
# Company size: label, share, spend multiplier.
COMPANY_SIZES: tuple[tuple[str, float, float], ...] = (
    ("1-49", 0.45, 0.7),
    ("50-249", 0.30, 1.0),
    ("250-999", 0.17, 1.6),
    ("1000+", 0.08, 2.6),
)


class Product(NamedTuple):
    sku: str
    zh: str
    en: str
    category_zh: str
    category_en: str
    price: Decimal


PRODUCTS: tuple[Product, ...] = (
    Product("DEMO-TEA-01", "西湖龙井 250g", "West Lake Longjing 250 g",
            "茶叶", "Tea", Decimal("388.00")),
    Product("DEMO-TEA-02", "安溪铁观音 250g", "Anxi Tieguanyin 250 g",
            "茶叶", "Tea", Decimal("268.00")),
    Product("DEMO-TEA-03", "武夷大红袍 200g", "Wuyi Da Hong Pao 200 g",
            "茶叶", "Tea", Decimal("458.00")),
    Product("DEMO-TEA-04", "云南普洱熟饼 357g", "Yunnan ripe Pu'er cake 357 g",
            "茶叶", "Tea", Decimal("198.00")),
    Product("DEMO-TEA-05", "福鼎白茶 300g", "Fuding white tea 300 g",
            "茶叶", "Tea", Decimal("320.00")),
    Product("DEMO-TEA-06", "祁门红茶 200g", "Keemun black tea 200 g",
            "茶叶", "Tea", Decimal("168.00")),
    Product("DEMO-TEA-07", "茉莉花茶 250g", "Jasmine tea 250 g",
            "茶叶", "Tea", Decimal("88.00")),
    Product("DEMO-TEA-08", "日常口粮茶 500g", "Everyday tea 500 g",
            "茶叶", "Tea", Decimal("59.00")),
    Product("DEMO-WARE-01", "宜兴紫砂壶", "Yixing clay teapot",
            "茶具", "Teaware", Decimal("680.00")),
    Product("DEMO-WARE-02", "白瓷盖碗", "White porcelain gaiwan",
            "茶具", "Teaware", Decimal("128.00")),
    Product("DEMO-WARE-03", "旅行茶具套装", "Travel tea set",
            "茶具", "Teaware", Decimal("239.00")),
    Product("DEMO-WARE-04", "竹制茶盘", "Bamboo tea tray",
            "茶具", "Teaware", Decimal("359.00")),
    Product("DEMO-WARE-05", "玻璃公道杯", "Glass fairness pitcher",
            "茶具", "Teaware", Decimal("45.00")),
    Product("DEMO-GIFT-01", "中秋茶礼盒", "Mid-Autumn tea gift box",
            "礼盒", "Gift boxes", Decimal("598.00")),
    Product("DEMO-GIFT-02", "春节臻品礼盒", "Spring Festival premium gift box",
            "礼盒", "Gift boxes", Decimal("988.00")),
    Product("DEMO-GIFT-03", "商务伴手礼", "Business thank-you gift",
            "礼盒", "Gift boxes", Decimal("268.00")),
    Product("DEMO-GIFT-04", "企业定制礼盒", "Custom corporate gift box",
            "礼盒", "Gift boxes", Decimal("1280.00")),
    Product("DEMO-SNACK-01", "桂花糕", "Osmanthus cakes",
            "茶点", "Tea snacks", Decimal("38.00")),
    Product("DEMO-SNACK-02", "绿豆糕", "Mung bean cakes",
            "茶点", "Tea snacks", Decimal("32.00")),
    Product("DEMO-SNACK-03", "坚果拼盘", "Mixed nuts",
            "茶点", "Tea snacks", Decimal("68.00")),
    Product("DEMO-SVC-01", "品茶课程（单次）", "Tea tasting class",
            "服务", "Services", Decimal("199.00")),
    Product("DEMO-SVC-02", "茶室包间 2 小时", "Private tea room, 2 hours",
            "服务", "Services", Decimal("288.00")),
    Product("DEMO-SVC-03", "刻字定制", "Engraving",
            "服务", "Services", Decimal("50.00")),
    Product("DEMO-SVC-04", "企业茶歇服务", "Corporate tea break service",
            "服务", "Services", Decimal("1600.00")),
)

ORDER_CHANNELS: tuple[str, ...] = ("store", "web", "wechat", "phone")

# Memory notes (MISSION M2): category, Chinese, English.
NOTES: tuple[tuple[str, str, str], ...] = (
    ("preference", "喜欢乌龙茶，偏爱浓香型", "likes oolong, the darker roasts"),
    ("preference", "晚上 6 点以后方便接电话", "prefers calls after 6 pm"),
    ("preference", "只喝绿茶，不要发红茶的推荐", "drinks green tea only; no black-tea offers"),
    ("preference", "喜欢微信沟通，不喜欢电话", "prefers WeChat messages to phone calls"),
    ("preference", "礼盒要素雅包装，不要大红色", "gift boxes in plain wrapping, no bright red"),
    ("habit", "每月初来店补货", "comes in to restock at the start of each month"),
    ("habit", "每次都买两盒，一盒送父母", "always buys two boxes, one for the parents"),
    ("habit", "周末下午带孩子来茶室", "visits the tea room with the kids on weekend afternoons"),
    ("habit", "中秋前两周订企业礼盒", "orders corporate gift boxes two weeks before Mid-Autumn"),
    ("taboo", "不吃辣", "does not eat spicy food"),
    ("taboo", "对花粉过敏，不要送鲜花", "allergic to pollen: never send flowers"),
    ("taboo", "不要在工作时间打电话", "do not call during office hours"),
    ("taboo", "忌讳数字 4，报价避免 4 结尾", "avoids the number 4: no prices ending in 4"),
    ("request", "发票抬头写公司全称", "invoices must carry the company's full legal name"),
    ("request", "送货前先电话确认", "call before delivering"),
    ("request", "出差入住时房间里要一张绘图桌",
     "needs a drafting table in the room when travelling"),
    ("request", "茶室预订要安静的包间", "book a quiet private room in the tea house"),
    ("family", "女儿明年高考", "daughter sits the gaokao next year"),
    ("family", "父亲爱喝普洱，生日送茶饼", "father loves Pu'er: a cake for his birthday"),
    ("other", "老客户介绍来的，注意维护关系",
     "came through a long-standing customer; look after them"),
)

INTERACTION_SUBJECTS: tuple[tuple[str, str], ...] = (
    ("新茶到货通知", "new-season tea has arrived"),
    ("回访：上次购买的茶叶口感如何", "follow-up: how was the last tea?"),
    ("咨询企业礼盒报价", "asked for a corporate gift quote"),
    ("预约品茶课程", "booked a tasting class"),
    ("节日问候", "festival greetings"),
    ("配送延误致歉", "apology for a late delivery"),
    ("会员积分说明", "explained loyalty points"),
    ("邀请参加新品品鉴会", "invited to a tasting event"),
)
INTERACTION_OUTCOMES: tuple[tuple[str, str], ...] = (
    ("客户很满意", "customer was pleased"),
    ("需要再跟进", "needs a follow-up"),
    ("已下单", "placed an order"),
    ("暂时不需要", "not interested for now"),
    ("", ""),
)

ANNIVERSARY_LABELS: tuple[tuple[str, str], ...] = (
    ("结婚纪念日", "wedding anniversary"),
    ("入会纪念日", "membership anniversary"),
)
FOUNDING_LABEL = ("公司成立纪念日", "company founding day")
LUNAR_BIRTHDAY_LABEL = ("农历生日", "lunar birthday")

# Homophone given-name characters for the "same person, name typed differently" duplicates.
HOMOPHONES: dict[str, str] = {
    "伟": "玮", "丽": "莉", "静": "婧", "敏": "闽", "强": "墙", "磊": "蕾", "军": "君",
    "杰": "洁", "娟": "鹃", "涛": "韬", "明": "铭", "华": "桦", "平": "萍", "刚": "钢",
    "林": "琳", "玲": "铃", "红": "虹", "霞": "侠", "秀": "绣", "英": "瑛",
}
