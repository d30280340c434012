"""Draw the demo company: traits, latent buying behaviour and the purchase history.

Pure numpy plus Faker; nothing here touches the database (``guanxi.demo.services`` writes it).

The purchase history follows the BG/NBD story (Fader, Hardie & Lee 2005, "Counting your
customers the easy way", Marketing Science 24(2)): while alive a customer buys as a Poisson
process with rate λ, and after every purchase drops out with probability p; λ ~ Gamma(r, α)
and p ~ Beta(a, b) across customers. Spend per order follows the Gamma-Gamma model (Fader,
Hardie & Lee 2005, "RFM and CLV", JMR 42(4)): order values ~ Gamma(shape_p, ν) with
ν ~ Gamma(q, γ) per customer. Here the Gamma/Beta means depend on the customer's traits
(acquisition source, city tier, income band, company size), so the traits genuinely relate to
value and the value engine has real structure to find.

All randomness comes from one ``numpy.random.Generator``; Faker is seeded from it, so one seed
always gives the same company (for a given Faker version).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from faker import Faker

from guanxi.customers.normalize import name_pinyin
from guanxi.demo import catalog

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HISTORY_DAYS = 730  # two years of history before ``as_of``
OWNER_CODES = ("rep1", "rep2", "manager", "")
OWNER_SHARES = (0.45, 0.40, 0.10, 0.05)
PROSPECT_SHARE = 0.15
ORGANIZATION_SHARE = 0.07  # of all rows; with 1–4 contacts each, ~8% of accounts
BASE_RATE_PER_YEAR = 2.6  # mean purchases per year of an average person, while alive
RATE_SHAPE = 1.3  # r of the Gamma for λ: heterogeneity of purchase rates
BASE_DROPOUT = 0.14  # mean p
DROPOUT_CONCENTRATION = 6.0  # a + b of the Beta for p
BASE_SPEND = 260.0  # mean order value (CNY) of an average person
SPEND_SHAPE = 4.0  # Gamma-Gamma p: spread of one customer's order values
SPEND_Q = 5.0  # Gamma-Gamma q: heterogeneity of customers' mean spend


@dataclass
class Orders:
    customer: IntArray
    day: IntArray  # days since the start of the history
    second: IntArray  # second of that day, company time
    total_cents: IntArray
    status: list[str]
    channel: list[str]


@dataclass
class Lines:
    order: IntArray
    product: IntArray
    quantity: IntArray
    amount_cents: IntArray


@dataclass
class Company:
    """Everything drawn, as parallel arrays and lists indexed by customer row."""

    as_of: dt.date
    start: dt.date
    locale: str
    n: int
    is_org: BoolArray
    org_of: IntArray  # -1, or the row of the organization a contact works for
    is_prospect: BoolArray
    dup_of: IntArray  # -1, or the row of the customer this one duplicates
    dup_kind: list[str]
    name: list[str]
    gender: list[str]
    birthday: list[dt.date | None]
    tier: IntArray
    city: list[str]
    region: list[str]
    source: list[str]
    income_band: list[str]
    occupation: list[str]
    industry: list[str]
    company_size: list[str]
    phone: list[str]
    email: list[str]
    attributes: list[dict[str, object]]
    acquired_day: IntArray
    owner: list[str]
    referred_by: IntArray
    rate_per_year: FloatArray
    dropout: FloatArray
    mean_spend: FloatArray
    orders: Orders
    lines: Lines
    # (row, category, text, pinned, day)
    notes: list[tuple[int, str, str, bool, int]] = field(default_factory=list)
    # (row, kind, label, date, is_lunar)
    dates: list[tuple[int, str, str, dt.date, bool]] = field(default_factory=list)
    # (row, channel, direction, subject, outcome, day, second)
    interactions: list[tuple[int, str, str, str, str, int, int]] = field(default_factory=list)
    # (row, channel, purpose, granted, day)
    consents: list[tuple[int, str, str, bool, int]] = field(default_factory=list)


def _pick(rng: np.random.Generator, n: int, shares: tuple[float, ...] | FloatArray) -> IntArray:
    p = np.asarray(shares, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum()).astype(np.int64)


def _en(locale: str) -> bool:
    return locale.lower().startswith("en")


def simulate(*, customers: int, seed: int, locale: str, as_of: dt.date) -> Company:
    """Draw a company of ``customers`` rows ending the day before ``as_of``."""
    if customers < 20:
        raise ValueError("the demo company needs at least 20 customers")
    rng = np.random.default_rng(seed)
    en = _en(locale)
    fake = Faker("en_US" if en else "zh_CN")
    fake.seed_instance(int(rng.integers(0, 2**31 - 1)))
    n = customers
    start = as_of - dt.timedelta(days=HISTORY_DAYS)

    # --- who: organizations, their contacts, people, duplicates --------------------------
    n_org = max(2, round(n * ORGANIZATION_SHARE))
    contacts_per_org = 1 + _pick(rng, n_org, (0.4, 0.3, 0.2, 0.1))
    n_dup = min(30, max(3, n // 100))
    while n_org + int(contacts_per_org.sum()) + n_dup > n // 2:
        contacts_per_org = np.maximum(1, contacts_per_org - 1)
        if int(contacts_per_org.sum()) == n_org:
            break
    n_contacts = int(contacts_per_org.sum())
    n_people = n - n_org - n_contacts - n_dup
    # Rows: [organizations | their contacts | people | duplicates of people]
    is_org = np.zeros(n, dtype=bool)
    is_org[:n_org] = True
    org_of = np.full(n, -1, dtype=np.int64)
    org_of[n_org:n_org + n_contacts] = np.repeat(np.arange(n_org), contacts_per_org)
    people = np.arange(n_org + n_contacts, n_org + n_contacts + n_people)
    dups = np.arange(n - n_dup, n)
    is_contact = org_of >= 0

    # --- traits ---------------------------------------------------------------------------
    tier = _pick(rng, n, catalog.TIER_SHARES) + 1
    city_idx = np.array([rng.integers(len(catalog.CITIES_BY_TIER[int(t)])) for t in tier])
    src_codes = [s[0] for s in catalog.SOURCES]
    src = np.where(is_org, _pick(rng, n, tuple(s[2] for s in catalog.SOURCES)),
                   _pick(rng, n, tuple(s[1] for s in catalog.SOURCES)))
    band_codes = [b[0] for b in catalog.INCOME_BANDS]
    band = np.empty(n, dtype=np.int64)
    for t in (1, 2, 3, 4):
        sel = tier == t
        band[sel] = _pick(rng, int(sel.sum()), tuple(b[1][t - 1] for b in catalog.INCOME_BANDS))
    size_idx = _pick(rng, n, tuple(s[1] for s in catalog.COMPANY_SIZES))
    industry_idx = rng.integers(len(catalog.INDUSTRIES), size=n)
    occupation_idx = rng.integers(len(catalog.OCCUPATIONS), size=n)
    title_idx = rng.integers(len(catalog.CONTACT_TITLES), size=n)
    female = rng.random(n) < 0.52
    age = rng.integers(20, 71, size=n)
    bday_offset = rng.integers(0, 365, size=n)
    has_birthday = rng.random(n) < 0.75
    has_email = rng.random(n) < 0.55
    owner_idx = _pick(rng, n, OWNER_SHARES)
    # Contacts live where their organization is and belong to the same rep.
    for arr in (tier, city_idx, owner_idx, src):
        arr[is_contact] = arr[org_of[is_contact]]

    # --- latent behaviour, depending on the traits ----------------------------------------
    s_eff = np.array([catalog.SOURCE_EFFECT[c] for c in src_codes])[src]
    t_eff = np.array([catalog.TIER_EFFECT[t] for t in (1, 2, 3, 4)])[tier - 1]
    b_eff = np.array([b[2] for b in catalog.INCOME_BANDS])[band]
    b_eff[is_org] = 1.0
    size_spend = np.array([s[2] for s in catalog.COMPANY_SIZES])[size_idx]
    mean_rate = BASE_RATE_PER_YEAR * s_eff[:, 0] * t_eff[:, 0] * b_eff[:, 0]
    mean_rate = np.where(is_org, mean_rate * 1.6, mean_rate)
    rate = np.minimum(rng.gamma(RATE_SHAPE, mean_rate / RATE_SHAPE), 52.0)
    mean_p = np.clip(BASE_DROPOUT * s_eff[:, 1] * t_eff[:, 1] * b_eff[:, 1], 0.01, 0.8)
    mean_p = np.where(is_org, mean_p * 0.7, mean_p)
    dropout = rng.beta(mean_p * DROPOUT_CONCENTRATION, (1 - mean_p) * DROPOUT_CONCENTRATION)
    spend_m = BASE_SPEND * s_eff[:, 2] * t_eff[:, 2] * b_eff[:, 2]
    spend_m = np.where(is_org, spend_m * 4.0 * size_spend, spend_m)
    gamma_rate = spend_m * (SPEND_Q - 1) / SPEND_SHAPE
    nu = rng.gamma(SPEND_Q, 1.0 / gamma_rate)
    mean_spend = SPEND_SHAPE / nu

    # --- acquisition and prospects ----------------------------------------------------------
    # A growing business: more customers joined recently than two years ago.
    acq = HISTORY_DAYS * rng.random(n) ** 0.8
    acq[is_contact] = acq[org_of[is_contact]]
    is_prospect = np.zeros(n, dtype=bool)
    accounts = np.concatenate([np.arange(n_org), people])
    is_prospect[accounts] = rng.random(accounts.size) < PROSPECT_SHARE

    # --- duplicates: copies of people, entered again from another source ---------------------
    originals = rng.choice(people, size=n_dup, replace=False)
    # The "name typed differently" duplicates need a name with a homophone to swap; the names
    # are drawn below, so these originals are re-picked once the names exist.
    dup_of = np.full(n, -1, dtype=np.int64)
    dup_of[dups] = originals
    kinds = ("phone", "email", "name")
    dup_kind = [""] * n
    for j, row in enumerate(dups):
        dup_kind[row] = kinds[j % 3]
        orig = originals[j]
        for arr in (tier, city_idx, band, occupation_idx, age, bday_offset):
            arr[row] = arr[orig]
        female[row] = female[orig]
        has_birthday[row] = has_birthday[orig]
        is_prospect[orig] = False
        if dup_kind[row] == "email":
            has_email[orig] = True
    has_email[dups] = False
    is_prospect[dups] = True  # the second record has no orders of its own
    acq[dups] = np.maximum(acq[originals], HISTORY_DAYS * rng.random(n_dup))

    # --- names, contact details -----------------------------------------------------------------
    names: list[str] = []
    for i in range(n):
        if is_org[i]:
            names.append(fake.company())
        elif female[i]:
            names.append(fake.name_female())
        else:
            names.append(fake.name_male())
    taken = set(originals.tolist())
    candidates = [int(i) for i in rng.permutation(people)
                  if _variant(names[int(i)], en) != names[int(i)]]
    for j, row in enumerate(dups):
        if dup_kind[row] != "name":
            continue
        free = [i for i in candidates if i not in taken]
        if free:
            old_orig, new_orig = int(originals[j]), free[0]
            taken.discard(old_orig)
            taken.add(new_orig)
            originals[j] = new_orig
            dup_of[row] = new_orig
            for arr in (tier, city_idx, band, occupation_idx, age, bday_offset):
                arr[row] = arr[new_orig]
            female[row] = female[new_orig]
            has_birthday[row] = has_birthday[new_orig]
            is_prospect[new_orig] = False
    for j, row in enumerate(dups):
        orig = int(originals[j])
        names[row] = names[orig] if dup_kind[row] != "name" else _variant(names[orig], en)
    phone_numbers = rng.choice(9 * 10**9, size=n, replace=False) + 13 * 10**9
    phones = [f"+86{num}" for num in phone_numbers]
    for j, row in enumerate(dups):
        if dup_kind[row] == "phone":
            phones[row] = phones[int(originals[j])]
    domains = ("example.com", "example.cn", "example.net")
    emails: list[str] = []
    for i in range(n):
        if not has_email[i] or is_org[i]:
            emails.append("")
            continue
        if en:
            local = names[i].lower().replace(" ", ".").replace("'", "")
            local = "".join(ch for ch in local if ch.isalnum() or ch == ".")
        else:
            local = name_pinyin(names[i])[0] or "kehu"
        emails.append(f"{local}{i}@{domains[i % 3]}")
    attributes: list[dict[str, object]] = [{} for _ in range(n)]
    for j, row in enumerate(dups):
        orig = int(originals[j])
        if dup_kind[row] == "phone":
            raw = phones[orig][3:]
            attributes[row] = {"imported_as": {"phone": f"{raw[:3]}-{raw[3:7]}-{raw[7:]}"}}
        elif dup_kind[row] == "email":
            emails[row] = emails[orig]
            attributes[row] = {"imported_as": {"email": emails[orig].title()}}
            phones[row] = ""

    birthdays: list[dt.date | None] = []
    for i in range(n):
        if is_org[i] or not has_birthday[i]:
            birthdays.append(None)
        else:
            year = as_of.year - int(age[i])
            birthdays.append(dt.date(year, 1, 1) + dt.timedelta(days=int(bday_offset[i])))

    def city_of(i: int) -> catalog.City:
        return catalog.CITIES_BY_TIER[int(tier[i])][int(city_idx[i])]

    cities = [city_of(i) for i in range(n)]
    lang = 1 if en else 0
    occupations = [
        "" if is_org[i] else (catalog.CONTACT_TITLES[int(title_idx[i])][lang] if is_contact[i]
                              else catalog.OCCUPATIONS[int(occupation_idx[i])][lang])
        for i in range(n)
    ]

    # --- referrals: a referred customer was brought by someone who joined earlier --------------
    referred_by = np.full(n, -1, dtype=np.int64)
    referral = (src == src_codes.index("referral")) & ~is_contact & (dup_of < 0)
    referrers = np.array([i for i in people if src[i] != src_codes.index("referral")
                          and not is_prospect[i]], dtype=np.int64)
    if referrers.size:
        order = np.argsort(acq[referrers])
        ref_sorted = referrers[order]
        k = np.searchsorted(acq[ref_sorted], acq[referral])
        pick = (rng.random(k.size) * k).astype(np.int64)
        referred_by[referral] = np.where(k > 0, ref_sorted[np.minimum(pick, len(ref_sorted) - 1)],
                                         -1)

    # --- purchases (BG/NBD), vectorized over customers, one round per purchase -----------------
    buyers = np.flatnonzero(~is_prospect & ~is_contact)
    orders = _simulate_orders(rng, buyers=buyers, acq=acq, rate=rate, dropout=dropout,
                              mean_spend=mean_spend)
    lines = _simulate_lines(rng, orders=orders, is_org=is_org)

    company = Company(
        as_of=as_of, start=start, locale=locale, n=n, is_org=is_org, org_of=org_of,
        is_prospect=is_prospect, dup_of=dup_of, dup_kind=dup_kind, name=names,
        gender=["" if is_org[i] else ("f" if female[i] else "m") for i in range(n)],
        birthday=birthdays, tier=tier,
        city=[c.en if en else c.zh for c in cities],
        region=[c.province_en if en else c.province_zh for c in cities],
        source=[src_codes[int(s)] for s in src],
        income_band=["" if is_org[i] else band_codes[int(band[i])] for i in range(n)],
        occupation=occupations,
        industry=[catalog.INDUSTRIES[int(industry_idx[i])][lang] if is_org[i] else ""
                  for i in range(n)],
        company_size=[catalog.COMPANY_SIZES[int(size_idx[i])][0] if is_org[i] else ""
                      for i in range(n)],
        phone=["" if is_org[i] else phones[i] for i in range(n)],
        email=emails, attributes=attributes,
        acquired_day=np.floor(acq).astype(np.int64),
        owner=[OWNER_CODES[int(o)] for o in owner_idx],
        referred_by=referred_by, rate_per_year=rate, dropout=dropout, mean_spend=mean_spend,
        orders=orders, lines=lines,
    )
    _simulate_memory(rng, company, en=en)
    return company


def _variant(name: str, en: bool) -> str:
    """The same person's name typed differently: a homophone character, or an initial."""
    if en:
        first, _, last = name.partition(" ")
        return f"{first[:1]}. {last}" if last else name
    for k in range(len(name) - 1, 0, -1):
        if name[k] in catalog.HOMOPHONES:
            return name[:k] + catalog.HOMOPHONES[name[k]] + name[k + 1:]
    return name


def _simulate_orders(rng: np.random.Generator, *, buyers: IntArray, acq: FloatArray,
                     rate: FloatArray, dropout: FloatArray, mean_spend: FloatArray) -> Orders:
    who: list[IntArray] = []
    when: list[FloatArray] = []
    alive = buyers.copy()
    t = acq[alive].copy()  # the first purchase is the acquisition
    for _ in range(1000):
        if alive.size == 0:
            break
        who.append(alive)
        when.append(t)
        # After each purchase the customer drops out with probability p, else waits Exp(λ).
        stay = rng.random(alive.size) >= dropout[alive]
        alive, t = alive[stay], t[stay]
        t = t + rng.exponential(365.0 / rate[alive])
        inside = t < HISTORY_DAYS
        alive, t = alive[inside], t[inside]
    customer = np.concatenate(who) if who else np.zeros(0, dtype=np.int64)
    time = np.concatenate(when) if when else np.zeros(0)
    order = np.lexsort((customer, time))
    customer, time = customer[order], time[order]
    m = customer.size
    day = np.minimum(np.floor(time).astype(np.int64), HISTORY_DAYS - 1)
    # Opening hours 09:00–22:00, company time.
    second = rng.integers(9 * 3600, 22 * 3600, size=m)
    # Gamma-Gamma: value ~ Gamma(p, ν) with mean = the customer's mean spend.
    value = rng.gamma(SPEND_SHAPE, mean_spend[customer] / SPEND_SHAPE)
    total_cents = np.maximum(np.round(value * 100).astype(np.int64), 1000)
    status = np.full(m, "completed", dtype=object)
    u = rng.random(m)
    old = day < HISTORY_DAYS - 10
    status[old & (u < 0.03)] = "refunded"
    status[old & (u >= 0.03) & (u < 0.05)] = "cancelled"
    recent = day >= HISTORY_DAYS - 3
    status[recent] = np.array(("placed", "paid", "shipped"), dtype=object)[
        rng.integers(0, 3, size=int(recent.sum()))]
    channel = np.array(catalog.ORDER_CHANNELS, dtype=object)[
        _pick(rng, m, (0.45, 0.25, 0.25, 0.05))]
    return Orders(customer=customer, day=day, second=second, total_cents=total_cents,
                  status=[str(s) for s in status], channel=[str(c) for c in channel])


def _simulate_lines(rng: np.random.Generator, *, orders: Orders, is_org: BoolArray) -> Lines:
    m = orders.customer.size
    per_order = 1 + rng.binomial(2, 0.35, size=m)
    order_idx = np.repeat(np.arange(m), per_order)
    k = order_idx.size
    products = catalog.PRODUCTS
    categories = sorted({p.category_en for p in products})
    cat_of = np.array([categories.index(p.category_en) for p in products])
    # Each customer has a favourite category; companies lean to gift boxes and services.
    n_customers = is_org.size
    person_pref = (0.50, 0.10, 0.15, 0.15, 0.10)  # sorted: Gift, Services, Tea, Snacks, Ware
    org_pref = (0.55, 0.25, 0.10, 0.05, 0.05)
    fav = np.where(is_org, _pick(rng, n_customers, org_pref), _pick(rng, n_customers, person_pref))
    fav_cat = np.array([categories.index(c) for c in
                        ("Gift boxes", "Services", "Tea", "Tea snacks", "Teaware")])[fav]
    line_fav = fav_cat[orders.customer[order_idx]]
    # Within the favourite category 65% of the time, else anything.
    any_product = rng.integers(len(products), size=k)
    by_cat = [np.flatnonzero(cat_of == c) for c in range(len(categories))]
    in_fav = np.array([by_cat[c][rng.integers(len(by_cat[c]))] for c in line_fav],
                      dtype=np.int64)
    product = np.where(rng.random(k) < 0.65, in_fav, any_product)
    # Split each order's total over its lines in whole cents; the first line takes the rest.
    w = rng.gamma(1.0, 1.0, size=k)
    w_sum = np.bincount(order_idx, weights=w, minlength=m)
    cents = np.floor(orders.total_cents[order_idx] * (w / w_sum[order_idx])).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(per_order)[:-1]])
    rest = orders.total_cents - np.bincount(order_idx, weights=cents, minlength=m).astype(np.int64)
    cents[first] += rest
    price = np.array([float(p.price) for p in products])[product]
    quantity = np.maximum(1, np.round(cents / 100 / price)).astype(np.int64)
    return Lines(order=order_idx, product=product.astype(np.int64), quantity=quantity,
                 amount_cents=cents)


def _simulate_memory(rng: np.random.Generator, c: Company, *, en: bool) -> None:
    """Notes, important dates, interactions and consents (MISSION M2, M3, M14, M28)."""
    lang = 2 if en else 1
    n = c.n
    orders_per = np.bincount(c.orders.customer, minlength=n)
    is_contact = c.org_of >= 0
    subjects, outcomes = catalog.INTERACTION_SUBJECTS, catalog.INTERACTION_OUTCOMES
    channels = ("phone", "wechat", "visit", "email", "meeting")
    channel_cdf = np.cumsum((0.35, 0.35, 0.12, 0.10, 0.08))[:-1]
    for i in range(n):
        acq = int(c.acquired_day[i])
        span = max(1, HISTORY_DAYS - acq)
        # Notes: the better we know a customer, the more we remember.
        n_notes = rng.poisson(0.25 + 0.35 * np.log1p(orders_per[i]))
        for idx in rng.choice(len(catalog.NOTES), size=min(n_notes, 3), replace=False):
            note = catalog.NOTES[int(idx)]
            c.notes.append((i, note[0], note[lang], bool(rng.random() < 0.35),
                            acq + int(rng.integers(span))))
        bday = c.birthday[i]
        if bday is not None:
            if rng.random() < 0.2:
                # Celebrated on the lunar calendar: the month/day are lunar ones.
                lunar = dt.date(bday.year, int(rng.integers(1, 13)), int(rng.integers(1, 29)))
                c.dates.append((i, "birthday", catalog.LUNAR_BIRTHDAY_LABEL[lang - 1], lunar,
                                True))
            else:
                c.dates.append((i, "birthday", "", bday, False))
        if c.is_org[i] or rng.random() < 0.08:
            label = (catalog.FOUNDING_LABEL if c.is_org[i]
                     else catalog.ANNIVERSARY_LABELS[int(rng.integers(2))])
            day = dt.date(int(rng.integers(1990, 2022)), int(rng.integers(1, 13)),
                          int(rng.integers(1, 29)))
            c.dates.append((i, "anniversary", label[lang - 1], day, False))
        # Interactions: reps talk to contacts and to customers who buy.
        mu = 0.8 if is_contact[i] else (0.3 + 0.6 * np.log1p(orders_per[i]))
        for _ in range(min(int(rng.poisson(mu)), 8)):
            subj = subjects[int(rng.integers(len(subjects)))]
            outc = outcomes[int(rng.integers(len(outcomes)))]
            channel = channels[int(np.searchsorted(channel_cdf, rng.random(), side="right"))]
            c.interactions.append((i, channel, "out" if rng.random() < 0.7 else "in",
                                   subj[lang - 1], outc[lang - 1],
                                   acq + int(rng.integers(span)),
                                   int(rng.integers(9 * 3600, 20 * 3600))))
        # Consents per channel, recorded when the customer joined.
        # (Service calls need no consent; only marketing is asked for, channel by channel.)
        if c.phone[i]:
            c.consents.append((i, "sms", "marketing", bool(rng.random() < 0.7), acq))
        if c.email[i]:
            c.consents.append((i, "email", "marketing", bool(rng.random() < 0.6), acq))
        if not c.is_org[i] and rng.random() < (0.9 if c.source[i] == "wechat" else 0.45):
            c.consents.append((i, "wechat", "marketing", bool(rng.random() < 0.8), acq))
