import subprocess
import sys

from django.test import Client

from guanxi.accounts.models import User


def test_home_requires_sign_in(db: None) -> None:
    response = Client().get("/")
    assert response.status_code == 302
    assert "/login/" in response["Location"]


def test_signed_in_user_sees_home(rep1: User) -> None:
    client = Client()
    client.force_login(rep1)
    assert client.get("/").status_code == 200


def test_cli_help_is_instant_and_lists_init() -> None:
    out = subprocess.run([sys.executable, "-m", "guanxi", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "init" in out
