"""File sources: the shared layout, common vendor layouts (CSV, Parquet, Feather), discovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from ingest_helpers import DATA, csv_lines, real_rows
from pyarrow import feather

from ridgeline_ingest.calendar import get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import Ingestor
from ridgeline_ingest.replay import Replay
from ridgeline_ingest.rows import BadRow, RawRow
from ridgeline_ingest.sources.files import FileOptions, discover, split_name
from ridgeline_ingest.sources.layouts import Layout, TimeParser

pytestmark = pytest.mark.unit

FIVE = Interval.parse("5m")
CRYPTO = get_calendar("24/7")
N = 60


def published(paths: list[Path], options: FileOptions | None = None, interval: Interval = FIVE):
    found = discover(paths, interval, options=options or FileOptions())
    replay = Replay(found.source(), Ingestor(interval, CRYPTO, source="test"))
    bars = []
    while (tick := replay.next_tick()) is not None:
        bars.extend(tick.bars)
    return found, replay, bars


def ohlcv(bars: list) -> list[tuple]:
    return [(b.symbol, b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in bars]


@pytest.fixture
def reference() -> list[tuple]:
    return [
        (r.symbol, r.open_time, r.open, r.high, r.low, r.close, r.volume) for r in real_rows("ETHBTC_5m", N)
    ]


def test_shared_layout(reference: list[tuple]) -> None:
    found, _, bars = published([DATA / "ETHBTC_5m.csv"])
    assert found.symbols == ("ETHBTC",)
    assert ohlcv(bars)[: N - 1] == reference[: N - 1]


def test_date_and_time_columns_capitalised(tmp_path: Path, reference: list[tuple]) -> None:
    lines = ["Date,Time,Open,High,Low,Close,Volume"]
    for line in csv_lines("ETHBTC_5m", N)[1:]:
        ts, rest = line.split(",", 1)
        lines.append(f"{ts[:10]},{ts[11:19]},{rest}")
    (tmp_path / "ETHBTC_5min.csv").write_text("\n".join(lines) + "\n")
    _, _, bars = published([tmp_path])
    assert ohlcv(bars) == reference


def test_epoch_milliseconds_and_seconds(tmp_path: Path, reference: list[tuple]) -> None:
    for unit, scale in (("ms", 1000), ("s", 1)):
        lines = ["Timestamp,O,H,L,C,V"]
        for line in csv_lines("ETHBTC_5m", N)[1:]:
            ts, rest = line.split(",", 1)
            lines.append(f"{int(datetime.fromisoformat(ts).timestamp() * scale)},{rest}")
        folder = tmp_path / unit
        folder.mkdir()
        (folder / "ETHBTC.csv").write_text("\n".join(lines) + "\n")  # no interval in the name
        found, _, bars = published([folder])
        assert found.chosen[0].interval_minutes == 5  # inferred from the rows
        assert ohlcv(bars) == reference


def test_finam_style_angle_brackets_and_compact_dates(tmp_path: Path, reference: list[tuple]) -> None:
    lines = ["<TICKER>,<PER>,<DATE>,<TIME>,<OPEN>,<HIGH>,<LOW>,<CLOSE>,<VOL>"]
    for line in csv_lines("ETHBTC_5m", N)[1:]:
        ts, rest = line.split(",", 1)
        lines.append(f"ETHBTC,5,{ts[:10].replace('-', '')},{ts[11:19].replace(':', '')},{rest}")
    (tmp_path / "export.csv").write_text("\n".join(lines) + "\n")
    found, _, bars = published([tmp_path])
    assert found.symbols == ("ETHBTC",)  # from the ticker column
    assert ohlcv(bars) == reference


def test_parquet_with_native_timestamps(tmp_path: Path, reference: list[tuple]) -> None:
    rows = real_rows("ETHBTC_5m", N)
    table = pa.table(
        {
            "date": pa.array([r.open_time for r in rows], type=pa.timestamp("ms", tz="UTC")),
            "open": [r.open for r in rows],
            "high": [r.high for r in rows],
            "low": [r.low for r in rows],
            "close": [r.close for r in rows],
            "volume": [r.volume for r in rows],
        }
    )
    pq.write_table(table, tmp_path / "ETH_BTC-5m.parquet")
    feather.write_feather(table, tmp_path / "LTC_BTC-5m.feather")  # freqtrade's own layout
    found, _, bars = published([tmp_path])
    assert found.symbols == ("ETH/BTC", "LTC/BTC")
    eth = [b for b in bars if b.symbol == "ETH/BTC"]
    assert [x[1:] for x in ohlcv(eth)] == [x[1:] for x in reference]
    assert len([b for b in bars if b.symbol == "LTC/BTC"]) == N


def test_many_symbols_in_one_file_in_any_order(tmp_path: Path) -> None:
    eth, ltc = csv_lines("ETHBTC_5m", N), csv_lines("LTCBTC_5m", N)
    by_symbol = ["symbol," + eth[0]] + [f"ETHBTC,{x}" for x in eth[1:]] + [f"LTCBTC,{x}" for x in ltc[1:]]
    interleaved = ["symbol," + eth[0]]
    for a, b in zip(eth[1:], ltc[1:], strict=True):
        interleaved += [f"LTCBTC,{b}", f"ETHBTC,{a}"]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "bars_5m.csv").write_text("\n".join(by_symbol) + "\n")
    (tmp_path / "b" / "bars_5m.csv").write_text("\n".join(interleaved) + "\n")
    _, _, one = published([tmp_path / "a"])
    _, _, two = published([tmp_path / "b"])
    assert ohlcv(one) == ohlcv(two)
    assert {b.symbol for b in one} == {"ETHBTC", "LTCBTC"}
    assert len(one) == 2 * N


def test_naive_exchange_time_stamped_at_the_close(tmp_path: Path, reference: list[tuple]) -> None:
    # A vendor writing New York wall time of the bar's close: 2018-01-10 05:00 UTC = 00:00 EST.
    lines = ["datetime,open,high,low,close,volume"]
    for line in csv_lines("ETHBTC_5m", N)[1:]:
        ts, rest = line.split(",", 1)
        close_ny = datetime.fromisoformat(ts) + timedelta(minutes=5) - timedelta(hours=5)
        lines.append(f"{close_ny.replace(tzinfo=None).isoformat(sep=' ')},{rest}")
    (tmp_path / "ETHBTC_5m.csv").write_text("\n".join(lines) + "\n")
    from zoneinfo import ZoneInfo

    options = FileOptions(naive_tz=ZoneInfo("America/New_York"), timestamp_is_close=True)
    _, _, bars = published([tmp_path], options)
    assert ohlcv(bars) == reference


def test_broken_lines_are_counted_and_the_rest_replays(tmp_path: Path) -> None:
    lines = csv_lines("ADABTC_5m", 40)
    lines[5] = "2018-01-10T05:15:00Z,not-a-number,1,1,1,1"
    lines[9] = "garbage"
    lines[12] = "2018-13-45T00:00:00Z,5.2e-05,5.3e-05,5.1e-05,5.2e-05,100"
    lines[20] = lines[20].replace(lines[20].split(",")[5], "-5")  # negative volume
    lines.insert(30, lines[29])  # a duplicated line
    (tmp_path / "ADABTC_5m.csv").write_text("\n".join(lines) + "\n\n")
    _, replay, bars = published([tmp_path])
    stats = replay.ingestor.stats["ADABTC"]
    assert stats.rejected == {"duplicate": 1, "negative_volume": 1, "unparseable": 3}
    assert len(bars) == 40 - 4  # 40 real rows, 4 broken; the duplicate added nothing
    assert stats.gaps == 4


def test_unreadable_time_cells_become_bad_rows() -> None:
    layout = Layout.detect(["ts", "open", "high", "low", "close"])
    assert layout.volume is None
    parser = TimeParser()
    assert parser.parse("2018-01-10T04:55:00Z") == datetime(2018, 1, 10, 4, 55, tzinfo=UTC)
    assert parser.parse("1515560100000") == datetime(2018, 1, 10, 4, 55, tzinfo=UTC)
    assert parser.parse("20180110") == datetime(2018, 1, 10, tzinfo=UTC)
    assert parser.parse("01/10/2018") == datetime(2018, 1, 10, tzinfo=UTC)
    with pytest.raises(ValueError, match="unreadable"):
        parser.parse("yesterday")
    with pytest.raises(ValueError, match="no timestamp"):
        Layout.detect(["open", "high", "low", "close"])


def test_discovery_chooses_and_explains(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    found = discover([DATA, tmp_path / "notes.csv", tmp_path / "missing"], FIVE)
    chosen = {c.symbol: c.path.name for c in found.chosen}
    assert chosen["XRPETH"] == "XRPETH_5m.csv"  # the coarsest file that divides 5m
    assert len(chosen) == 6
    reasons = {Path(s.path).name: s.reason for s in found.skipped}
    assert "coarser" in reasons["XRPETH_1m.csv"]
    assert "no timestamp" in reasons["notes.csv"]
    assert "not a bar file" in reasons["missing"]
    one_minute = discover([DATA], Interval.parse("1m"))
    assert one_minute.symbols == ("XRPETH",)
    assert {Path(s.path.split("[")[0]).name for s in one_minute.skipped} >= {"ETHBTC_5m.csv"}
    only = discover([DATA], FIVE, symbols=["ETHBTC", "LTCBTC"])
    assert only.symbols == ("ETHBTC", "LTCBTC")


def test_file_name_conventions() -> None:
    assert split_name(Path("ADABTC_5m.csv")) == ("ADABTC", 5)
    assert split_name(Path("ETH_BTC-5m.feather")) == ("ETH/BTC", 5)
    assert split_name(Path("AAPL_1min.csv.gz")) == ("AAPL", 1)
    assert split_name(Path("SPY.1h.parquet")) == ("SPY", 60)
    assert split_name(Path("SPY_daily.csv")) == ("SPY", 1440)
    assert split_name(Path("BRK.B.csv")) == ("BRK.B", None)
    assert split_name(Path("SPY_1d.csv")) == ("SPY", 1440)


def test_rows_are_plain_rows_or_bad_rows() -> None:
    found = discover([DATA / "ETHBTC_5m.csv"], FIVE)
    rows = list(found.chosen[0].open_rows())
    assert len(rows) == 5760
    assert all(isinstance(r, RawRow) and not isinstance(r, BadRow) for r in rows)
    assert rows[0].origin == "ETHBTC_5m.csv:2"  # file line numbers, for the rejection report
