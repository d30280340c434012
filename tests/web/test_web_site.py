"""Sign-in, language and the assets the pages load (issue #5 §1, §7)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from django.test import Client
from django.urls import reverse

import guanxi.web
from guanxi.accounts.models import User
from guanxi.customers.models import Customer
from value_fixtures import give_value

ClientFor = Callable[[User], Client]
TEMPLATES = Path(guanxi.web.__file__).parent / "templates"


def test_sign_in_with_the_right_password(rep1: User) -> None:
    client = Client()
    response = client.post(reverse("login"), {"username": "li",
                                              "password": "correct horse battery"})
    assert response.status_code == 302
    assert client.get(reverse("customer_list")).status_code == 200


def test_five_wrong_passwords_lock_the_sign_in(rep1: User) -> None:
    client = Client()
    # When someone tries five wrong passwords for Li
    for _ in range(5):
        response = client.post(reverse("login"), {"username": "li", "password": "guess"})
    # Then even the right password is refused for now, with the lockout page
    response = client.post(reverse("login"), {"username": "li",
                                              "password": "correct horse battery"})
    assert response.status_code == 429
    assert "Too many failed sign-in attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_failed_attempt_is_forgotten_after_a_success(rep1: User) -> None:
    client = Client()
    for _ in range(4):
        client.post(reverse("login"), {"username": "li", "password": "guess"})
    ok = client.post(reverse("login"), {"username": "li", "password": "correct horse battery"})
    assert ok.status_code == 302
    client.logout()
    for _ in range(4):
        client.post(reverse("login"), {"username": "li", "password": "guess"})
    again = client.post(reverse("login"), {"username": "li",
                                           "password": "correct horse battery"})
    assert again.status_code == 302


def test_the_page_follows_the_browser_language(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    client = client_for(rep1)
    zh = client.get(reverse("customer_detail", args=[zhang_wei.pk]),
                    headers={"accept-language": "zh-hans"}).content.decode()
    assert '<html lang="zh-hans">' in zh
    assert "时间线" in zh  # "Timeline"
    assert "客户" in zh
    en = client.get(reverse("customer_detail", args=[zhang_wei.pk]),
                    headers={"accept-language": "en"}).content.decode()
    assert "Timeline" in en


def test_the_language_can_be_switched(rep1: User, client_for: ClientFor) -> None:
    client = client_for(rep1)
    response = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/customers/"})
    assert response.status_code == 302
    html = client.get("/customers/").content.decode()
    assert "生命周期阶段" in html  # "Lifecycle stage"


def test_model_choices_are_translated(
    rep1: User, zhang_wei: Customer, client_for: ClientFor
) -> None:
    html = client_for(rep1).get(reverse("customer_list"),
                                headers={"accept-language": "zh-hans"}).content.decode()
    assert "潜在客户" in html  # LifecycleStage.PROSPECT


def test_money_and_dates_follow_the_locale(rep1: User, zhang_wei: Customer,
                                           client_for: ClientFor) -> None:
    import datetime as dt
    from decimal import Decimal

    give_value(zhang_wei, clv=Decimal("12345.60"), expected_next_purchase=dt.date(2026, 7, 1))
    client = client_for(rep1)
    zh = client.get(reverse("customer_detail", args=[zhang_wei.pk]),
                    headers={"accept-language": "zh-hans"}).content.decode()
    en = client.get(reverse("customer_detail", args=[zhang_wei.pk]),
                    headers={"accept-language": "en"}).content.decode()
    assert "¥12,345.60" in zh
    assert "¥12,345.60" in en
    assert "2026年7月1日" in zh
    assert "July 1, 2026" in en


def test_every_template_loads_scripts_and_styles_from_our_own_server() -> None:
    external = re.compile(r"""<(script|link)[^>]+(src|href)=["']?(https?:)?//""", re.I)
    files = list(TEMPLATES.rglob("*.html"))
    assert files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert not external.search(text), f"{path} loads an asset from another server"
        assert "cdn" not in text.lower(), path


def test_htmx_is_served_locally(rep1: User, client_for: ClientFor) -> None:
    html = client_for(rep1).get(reverse("home")).content.decode()
    script = re.search(r'<script[^>]+src="([^"]+)"', html)
    assert script is not None
    assert script.group(1).startswith("/static/")
    assert Client().get(script.group(1)).status_code == 200
    css = Client().get("/static/web/guanxi.css")
    assert css.status_code == 200


def test_passwords_are_hashed_with_argon2_in_production() -> None:
    from guanxi.config import settings as production

    assert production.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert production.AUTHENTICATION_BACKENDS[0] == "axes.backends.AxesStandaloneBackend"
    assert production.MIDDLEWARE[-1] == "axes.middleware.AxesMiddleware"
    assert production.SESSION_COOKIE_HTTPONLY


def test_a_browser_set_to_mainland_chinese_gets_simplified_chinese(
    rep1: User, client_for: ClientFor
) -> None:
    # Browsers in China send zh-CN, not zh-Hans
    html = client_for(rep1).get(reverse("customer_list"),
                                headers={"accept-language": "zh-CN,zh;q=0.9,en;q=0.8"})
    assert '<html lang="zh-hans">' in html.content.decode()
