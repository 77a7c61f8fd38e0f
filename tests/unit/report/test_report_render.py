"""The report files: both written, every metric in the JSON, the HTML self-contained."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_helpers import hand_run

from ridgeline.report import METRIC_KEYS, RunData, summary_lines, write_report
from ridgeline.report.document import ATTRIBUTION_KEYS, SERIES_KEYS, decimal_text, jsonable
from ridgeline_shared.accounting import to_decimal

pytestmark = pytest.mark.unit


def test_writes_both_files_with_every_metric(tmp_path: Path) -> None:
    paths = write_report(hand_run(), tmp_path / "out", title="Hand <run>")
    assert paths.html == tmp_path / "out" / "report.html"
    assert paths.json == tmp_path / "out" / "metrics.json"
    text = paths.json.read_text()
    doc = json.loads(text)
    assert set(doc) == set(METRIC_KEYS) | set(SERIES_KEYS) | set(ATTRIBUTION_KEYS)
    assert list(doc) == sorted(doc)  # sorted keys in the file itself
    assert doc["final_equity"] == "100.118"  # decimals as exact strings
    assert doc["costs_paid"] == "0.026341"
    assert doc["max_drawdown_amount"] == "0.100000000000001"
    assert doc["hit_rate"] == 0.5
    assert doc["sharpe"] == pytest.approx(93.2381, abs=1e-4)
    assert doc["denials_by_reason"] == {"GROSS_EXPOSURE": 1, "MAX_NOTIONAL": 2}
    assert doc["drawdown_trough_time"] == "2018-01-10T05:20:00Z"
    assert doc["per_horizon"]["10m"]["total"] == "0.0845"
    assert doc["per_family"]["gbm"]["total"] == "0.012725"
    assert doc["equity_curve"][-1] == ["2018-01-10T05:35:00Z", "100.118"]
    assert len(doc["returns"]) == 7
    assert doc["final_positions"]["ETHBTC"]["quantity"] == "100"


def test_html_is_self_contained(tmp_path: Path) -> None:
    page = write_report(hand_run(), tmp_path, title="Hand <run>").html.read_text()
    assert "<title>Hand &lt;run&gt;</title>" in page
    assert "<script src=" not in page  # no CDN: plotly.js is inlined
    assert len(page) > 1_000_000  # plotly.js itself is ~4.5 MB
    for section in ("Equity curve and drawdown", "Positions (quantity) per symbol", "PnL per horizon",
                    "PnL per model family", "Denials by reason", "MAX_NOTIONAL", "REDUCING"):  # fmt: skip
        assert section in page
    assert "partial report" not in page
    unfinished = write_report(hand_run(finished=False), tmp_path / "u", title="t").html.read_text()
    assert "partial report" in unfinished


def test_an_empty_run_still_reports(tmp_path: Path) -> None:
    paths = write_report(RunData(), tmp_path, title="empty")
    doc = json.loads(paths.json.read_text())
    assert (doc["ticks"], doc["final_equity"], doc["sharpe"], doc["finished"]) == (0, "100", None, False)
    assert "no positions" in paths.html.read_text()


def test_summary_lines_from_metrics_or_from_the_json(tmp_path: Path) -> None:
    paths = write_report(hand_run(), tmp_path, title="t")
    lines = summary_lines(paths.metrics)
    assert lines == summary_lines(json.loads(paths.json.read_text()))
    text = "\n".join(lines)
    assert "Equity 100 -> 100.118 (PnL 0.118, 0.12 %)" in text
    assert "Sharpe 93.238" in text
    assert "hit rate 50.00 % of 2 closed round trips" in text
    assert "denials 3 (GROSS_EXPOSURE 1, MAX_NOTIONAL 2)" in text
    assert "ETHBTC 100 @ 0.09807" in text


def test_json_values() -> None:
    assert decimal_text(to_decimal("1E+2")) == "100"
    assert decimal_text(to_decimal("0.50")) == "0.5"
    assert decimal_text(to_decimal("-0.000")) == "0"
    long = "123456789012345678901234567890.123456789012345678901234567891"
    assert decimal_text(to_decimal(long)) == long  # never rounded to 28 digits
    assert jsonable(1 / 3, 4) == 0.3333
    with pytest.raises(TypeError):
        jsonable(object())
