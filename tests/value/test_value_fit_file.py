"""``guanxi value fit`` on the CDNOW sample reproduces the published estimates (no database)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from value_story import cdnow_sample

from guanxi.cli.main import app


def _fit(*extra: str) -> dict:  # type: ignore[type-arg]
    path = cdnow_sample()
    result = CliRunner().invoke(app, [
        "value", "fit", str(path), "--format", "cdnow-sample", "--calibration-end", "1997-09-30",
        "--holdout-end", "1998-06-30", "--time-unit", "week", "--json", *extra,
    ])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_bgnbd_on_the_cdnow_sample_matches_fader_hardie_lee_2005() -> None:
    report = _fit("--model", "bgnbd,gammagamma")
    assert report["summary"] == {"customers": 2357, "repeat_buyers": 946,
                                 "repeat_purchases": 2457,
                                 "holdout_purchases": report["summary"]["holdout_purchases"]}
    bgnbd = report["models"]["bgnbd"]
    p = bgnbd["params"]
    assert p["r"] == pytest.approx(0.243, abs=0.001)
    assert p["alpha"] == pytest.approx(4.414, abs=0.01)
    assert p["a"] == pytest.approx(0.793, abs=0.005)
    assert p["b"] == pytest.approx(2.426, abs=0.02)
    assert bgnbd["log_likelihood"] == pytest.approx(-9582.4, abs=0.5)
    assert set(bgnbd["standard_errors"]) == {"r", "alpha", "a", "b"}
    # The holdout, weeks 40–78: the conditional expectations sum to 1,653 purchase days
    # against 1,882 seen — the BG/NBD's known modest under-prediction on CDNOW.
    holdout = bgnbd["holdout"]
    assert holdout["actual"] == report["summary"]["holdout_purchases"] == 1882
    assert holdout["predicted"] == pytest.approx(1653.4, abs=1.0)
    gg = report["models"]["gammagamma"]["params"]
    assert gg["p"] == pytest.approx(6.25, abs=0.1)
    assert gg["q"] == pytest.approx(3.74, abs=0.1)
    assert gg["gamma"] == pytest.approx(15.44, abs=0.5)


def test_pareto_nbd_on_the_cdnow_sample() -> None:
    report = _fit("--model", "paretonbd")
    p = report["models"]["paretonbd"]["params"]
    assert p["r"] == pytest.approx(0.553, abs=0.01)
    assert p["s"] == pytest.approx(0.606, abs=0.02)


def test_out_and_plot_write_predictions_and_the_tracking_chart(tmp_path: Path) -> None:
    out = tmp_path / "customers.csv"
    plot = tmp_path / "tracking.png"
    report = _fit("--out", str(out), "--plot", str(plot))
    assert report["out"] == str(out)
    assert plot.read_bytes().startswith(b"\x89PNG")
    with out.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2357
    assert len({r["customer"] for r in rows}) == 2357
    for r in rows:
        assert 0.0 <= float(r["p_alive"]) <= 1.0
        assert r["value_tier"] in {"vip", "key", "major", "ordinary"}
        assert r["rfm_segment"]
        assert float(r["clv"]) >= 0


def test_an_unknown_model_is_one_clear_sentence() -> None:
    path = cdnow_sample()
    result = CliRunner().invoke(app, ["value", "fit", str(path), "--format", "cdnow-sample",
                                      "--calibration-end", "1997-09-30", "--model", "nbd"])
    assert result.exit_code != 0
    assert "Unknown model 'nbd'" in str(result.exception)


def test_a_generic_csv_with_chinese_headers_is_mapped_like_an_import(tmp_path: Path) -> None:
    # Given the CDNOW sample saved as a CSV with Chinese headers and a refunded order added
    source = cdnow_sample()
    path = tmp_path / "订单.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["客户编号", "下单时间", "金额(元)", "状态"])
        for line in source.read_text(encoding="ascii").splitlines():
            _, cid, day, _, dollars = line.split()
            writer.writerow([cid, f"{day[:4]}-{day[4:6]}-{day[6:]}", dollars, "completed"])
        writer.writerow(["0001", "1997-03-03", "999.00", "refunded"])
    # When the models are fitted on it
    result = CliRunner().invoke(app, [
        "value", "fit", str(path), "--format", "generic", "--calibration-end", "1997-09-30",
        "--time-unit", "week", "--model", "bgnbd", "--json",
    ])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    # Then it reads the same purchases as the CDNOW reader (the refund does not count)
    assert report["summary"] == {"customers": 2357, "repeat_buyers": 946,
                                 "repeat_purchases": 2457}
    assert report["models"]["bgnbd"]["params"]["r"] == pytest.approx(0.243, abs=0.001)
