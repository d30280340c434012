"""``guanxi segments build`` and ``/api/v1/segments/build``: the statistical build at the edges."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import time_machine
from django.test import Client
from segstat_story import AS_OF, NOW, plant
from typer.testing import CliRunner

from guanxi.accounts.models import User
from guanxi.accounts.services import api_token_create
from guanxi.cli.main import app
from guanxi.segments.models import Segment, SegmentKind, SegmentMembership

pytestmark = pytest.mark.django_db
runner = CliRunner()


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def _immediate_tasks(settings: Any) -> None:
    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
                                  "QUEUES": ["default"]}}


def api(user: User) -> tuple[Client, dict[str, str]]:
    _token, raw = api_token_create(user=user, name="tests")
    return Client(), {"Authorization": f"Bearer {raw}"}


# -- CLI ------------------------------------------------------------------------------------------


def test_the_analyst_builds_segments_from_the_terminal(rep1: User) -> None:
    # Given the scored tea house
    run, _ = plant(owners=[rep1])
    # When the build runs with a repeatable seed
    result = runner.invoke(app, ["segments", "build", "--k", "2-5", "--seed", "1", "--json"])
    # Then it reports three segments, most valuable first, and stored the run's memberships
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["n_segments"] == 3
    assert summary["as_of"] == AS_OF.isoformat()
    assert set(summary["criterion_values"]) == {"2", "3", "4", "5"}
    assert summary["segments"][0]["name"].startswith("top-value regulars")
    assert SegmentMembership.objects.filter(run=run, is_primary=True).count() == 400
    # and the table form names each segment with its share of customer equity
    table = runner.invoke(app, ["segments", "build", "--k", "3", "--seed", "1"],
                          env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "3 segments among 400 scored buyers" in table.stdout
    assert "top-value regulars" in table.stdout


def test_the_build_command_explains_what_is_wrong_in_one_sentence(rep1: User) -> None:
    no_scores = runner.invoke(app, ["segments", "build"])
    assert no_scores.exit_code == 2
    assert "score the customers first" in no_scores.stderr
    plant(owners=[rep1])
    for args, words in ((["--k", "ten"], "not a range"),
                        (["--k", "9-3"], "between 2 and 30"),
                        (["--traits", "zodiac"], "Unknown traits"),
                        (["--as-of", "2020-01-01"], "no complete scoring run")):
        result = runner.invoke(app, ["segments", "build", *args])
        assert result.exit_code == 2, result.output
        assert words in result.stderr
        assert "Traceback" not in result.output


def test_the_build_help_says_what_it_does() -> None:
    result = runner.invoke(app, ["segments", "build", "--help"])
    assert result.exit_code == 0
    assert "membership probabilities" in result.stdout
    assert "--criterion" in result.stdout


# -- API ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("_immediate_tasks")
def test_a_manager_starts_a_build_over_the_api_and_reads_it(rep1: User, manager: User) -> None:
    plant(owners=[rep1])
    client, headers = api(manager)
    started = client.post("/api/v1/segments/build", data=json.dumps(
        {"k_min": 2, "k_max": 5, "seed": 1}), content_type="application/json", headers=headers)
    assert started.status_code == 202, started.content
    assert started.json()["task_id"]
    latest = client.get("/api/v1/segments/build", headers=headers)
    assert latest.status_code == 200
    body = latest.json()
    assert body["status"] == "complete"
    assert body["n_segments"] == 3
    assert body["segments"][0]["traits"]
    assert client.get(f"/api/v1/segments/builds/{body['id']}",
                      headers=headers).json()["id"] == body["id"]
    assert Segment.objects.filter(kind=SegmentKind.STATISTICAL, is_active=True).count() == 3


def test_reps_and_agents_may_not_start_a_build(rep1: User, agent: User) -> None:
    for person in (rep1, agent):
        client, headers = api(person)
        refused = client.post("/api/v1/segments/build", data="{}",
                              content_type="application/json", headers=headers)
        assert refused.status_code == 403
        assert refused.json()["code"] == "segmentation_not_allowed"


def test_the_api_refuses_bad_settings_and_says_when_nothing_was_built(analyst: User) -> None:
    client, headers = api(analyst)
    bad = client.post("/api/v1/segments/build", data=json.dumps({"k_min": 9, "k_max": 3}),
                      content_type="application/json", headers=headers)
    assert bad.status_code == 422
    assert bad.json()["field"] == "k_min"
    traits = client.post("/api/v1/segments/build", data=json.dumps({"traits": ["zodiac"]}),
                         content_type="application/json", headers=headers)
    assert traits.status_code == 422
    missing = client.get("/api/v1/segments/build", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["code"] == "segmentation_not_found"
    assert client.get("/api/v1/segments/builds/999", headers=headers).status_code == 404
