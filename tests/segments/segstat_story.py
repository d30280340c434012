"""The tea house of the statistical-segment stories: three kinds of buyer, planted in the scores.

- **VIP regulars** (about 15%): high CLV, buying every two weeks, mostly from 上海 and 北京
  (first-tier cities) and mostly referred;
- **newcomers** (about 35%): one purchase in the last month, modest value;
- **lapsed** (about 50%): bought a few times long ago, P(alive) low.

Li (``rep1``) owns the even customers, Wang (``rep2``) the odd ones; each has a phone and e-mail.
The scores are written straight into a complete ``ScoreRun`` (the value engine is tested on its
own), so the segments to be found are known exactly: ``truth[customer id]`` is the planted kind.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np

from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from guanxi.value.models import CustomerScore, RunStatus, ScoreRun

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = dt.date(2026, 6, 30)
NOW = dt.datetime(2026, 7, 1, 9, 0, tzinfo=SHANGHAI)

KINDS = {
    #         clv     p_alive freq  recency tenure interval  share  first-tier  referral
    "vip":     (8000.0, 0.95, 26.0,  7.0,  500.0, 14.0,     0.15,  0.85,       0.70),
    "newcomer": (250.0, 0.90,  1.0, 15.0,   15.0, 0.0,      0.35,  0.15,       0.10),
    "lapsed":    (60.0, 0.10,  3.0, 400.0, 600.0, 60.0,     0.50,  0.15,       0.10),
}
KIND_NAMES = list(KINDS)


def score_run(as_of: dt.date = AS_OF) -> ScoreRun:
    return ScoreRun.objects.create(as_of=as_of, status=RunStatus.COMPLETE, created_at=NOW,
                                   finished_at=NOW)


def plant(*, owners: list[User], n: int = 400, seed: int = 3, run: ScoreRun | None = None,
          customers: list[Customer] | None = None,
          as_of: dt.date = AS_OF) -> tuple[ScoreRun, dict[int, str]]:
    """Customers (unless given) and a complete run scoring them; returns the run and truth."""
    rng = np.random.default_rng(seed)
    if customers is None:
        shares = np.array([k[6] for k in KINDS.values()])
        kinds = rng.choice(len(KINDS), size=n, p=shares / shares.sum())
        customers = []
        for i in range(n):
            params = KINDS[KIND_NAMES[kinds[i]]]
            city = ("上海" if i % 2 else "北京") if rng.random() < params[7] else \
                str(rng.choice(["昆明", "兰州", "洛阳", "大理"]))
            source = "referral" if rng.random() < params[8] else \
                str(rng.choice(["store", "online_ads", "wechat"]))
            customers.append(Customer(
                name=f"客户{i:04d}", owner=owners[i % len(owners)], city=city, source=source,
                phone=f"+86138{i:08d}", email=f"c{i}@example.com",
                attributes={"planted": KIND_NAMES[kinds[i]]}))
        customers = Customer.objects.bulk_create(customers)
    truth = {c.pk: str(c.attributes["planted"]) for c in customers}
    run = run or score_run(as_of)
    scores = []
    for c in customers:
        clv, p_alive, freq, recency, tenure, interval, *_ = KINDS[truth[c.pk]]
        noise = np.exp(rng.normal(0, 0.15, 4))
        frequency = max(1, round(freq * noise[1]))
        first = (dt.datetime.combine(as_of, dt.time(12), tzinfo=SHANGHAI)
                 - dt.timedelta(days=float(tenure * noise[2])))
        scores.append(CustomerScore(
            run=run, customer=c, lifecycle_stage="active", frequency=frequency,
            x=frequency - 1, recency_days=round(recency * noise[3]),
            monetary=float(clv / 20 * noise[0]),
            total_spend=Decimal(f"{clv / 3 * noise[0]:.2f}"),
            clv=Decimal(f"{clv * noise[0]:.2f}"),
            p_alive=float(np.clip(p_alive + rng.normal(0, 0.03), 0, 1)),
            first_purchase_at=first,
            interval_mean_days=interval * float(noise[1]) if frequency > 1 else None,
            interval_sd_days=interval * 0.3 if frequency > 2 else None,
            rfm_r=5 if recency < 30 else 1, rfm_f=5 if freq > 10 else 2,
            rfm_m=5 if clv > 1000 else 2, value_tier="vip" if clv > 1000 else "ordinary",
        ))
    CustomerScore.objects.bulk_create(scores)
    return run, truth
