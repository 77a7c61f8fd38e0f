"""The Alpaca live adapter (alpaca-py's data stream client) against a local websocket server that
speaks Alpaca's market-data protocol: msgpack frames, ``connected`` greeting, ``auth``,
``subscribe``, then bar messages ``{"T": "b", ...}``. No provider is reachable from here."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgpack
import pytest
from ingest_helpers import real_rows
from websockets.asyncio.server import ServerConnection, serve

from ridgeline_ingest.calendar import get_calendar
from ridgeline_ingest.interval import Interval
from ridgeline_ingest.pipeline import Ingestor, validate_rows
from ridgeline_ingest.replay import LiveFeed
from ridgeline_ingest.rows import RawRow
from ridgeline_ingest.service import IngestService
from ridgeline_ingest.settings import IngestSettings
from ridgeline_ingest.sources.alpaca_live import AlpacaBarSource, bar_message_to_row
from ridgeline_shared.config import load_settings
from ridgeline_shared.messages import Bar, Watermark
from ridgeline_shared.runtime.service import Outbox

pytestmark = pytest.mark.unit

KEY, SECRET = "PKTEST", "s3cret"
FIVE = Interval.parse("5m")
CRYPTO = get_calendar("24/7")


def minute_rows() -> list[RawRow]:
    """16 minutes of real 1m XRP/ETH bars (00:00..00:15, 12 bars: minutes without trades have
    none), and real ETH/BTC prices on the same minutes."""
    xrp = [r for r in real_rows("XRPETH_1m", 40) if r.open_time < datetime(2019, 10, 11, 0, 16, tzinfo=UTC)]
    eth = real_rows("ETHBTC_5m", len(xrp))
    eth = [
        RawRow("ETH/BTC", x.open_time, e.open, e.high, e.low, e.close, e.volume, 1)
        for x, e in zip(xrp, eth, strict=True)
    ]
    xrp = [RawRow("XRP/ETH", r.open_time, r.open, r.high, r.low, r.close, r.volume, 1) for r in xrp]
    return sorted([*xrp, *eth], key=lambda r: (r.open_time, r.symbol))


def wire(row: RawRow) -> dict[str, Any]:
    return {
        "T": "b",
        "S": row.symbol,
        "o": row.open,
        "h": row.high,
        "l": row.low,
        "c": row.close,
        "v": row.volume,
        "t": msgpack.Timestamp.from_datetime(row.open_time),
        "n": 12,
        "vw": row.close,
    }


class AlpacaLikeServer:
    """Speaks the market-data stream protocol on 127.0.0.1; sends ``frames`` after subscribe."""

    def __init__(self, frames: list[list[dict[str, Any]]]) -> None:
        self.frames = frames
        self.received: list[dict[str, Any]] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    async def _handler(self, ws: ServerConnection) -> None:
        await ws.send(msgpack.packb([{"T": "success", "msg": "connected"}]))
        auth = msgpack.unpackb(await ws.recv())
        self.received.append(auth)
        if auth.get("action") != "auth" or (auth.get("key"), auth.get("secret")) != (KEY, SECRET):
            await ws.send(msgpack.packb([{"T": "error", "code": 402, "msg": "auth failed"}]))
            await ws.close()
            return
        await ws.send(msgpack.packb([{"T": "success", "msg": "authenticated"}]))
        subscribe = msgpack.unpackb(await ws.recv())
        self.received.append(subscribe)
        bars = subscribe.get("bars", [])
        await ws.send(msgpack.packb([{"T": "subscription", "trades": [], "quotes": [], "bars": bars}]))
        for frame in self.frames:
            await ws.send(msgpack.packb(frame))
        await ws.wait_closed()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def __enter__(self) -> AlpacaLikeServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)


def wait_for(predicate: Callable[[], bool], seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def frames_of(rows: list[RawRow]) -> list[list[dict[str, Any]]]:
    """One frame per minute, as the provider batches the minute's bars."""
    frames: dict[datetime, list[dict[str, Any]]] = {}
    for row in rows:
        frames.setdefault(row.open_time, []).append(wire(row))
    return list(frames.values())


@pytest.fixture
def rows() -> list[RawRow]:
    return minute_rows()


@pytest.fixture
def source_factory() -> Iterator[Callable[..., AlpacaBarSource]]:
    made: list[AlpacaBarSource] = []

    def factory(url: str, **kwargs: Any) -> AlpacaBarSource:
        options = {"api_key": KEY, "secret_key": SECRET, "asset_class": "crypto", "feed": "us", **kwargs}
        source = AlpacaBarSource(["ETH/BTC", "XRP/ETH"], url=url, **options)
        made.append(source)
        return source

    yield factory
    for source in made:
        source.close()


def test_bars_arrive_through_the_sdk_client(
    rows: list[RawRow], source_factory: Callable[..., AlpacaBarSource]
) -> None:
    arrival = datetime(2019, 10, 11, 0, 15, 2, tzinfo=UTC)
    with AlpacaLikeServer(frames_of(rows)) as server:
        source = source_factory(server.url, clock=lambda: arrival)
        source.start()
        got: list[Any] = []
        assert wait_for(lambda: bool(got.extend(source.poll().items)) or len(got) >= len(rows))
        assert source.connected
    auth, subscribe = server.received
    assert auth == {"action": "auth", "key": KEY, "secret": SECRET}
    assert subscribe["action"] == "subscribe"
    assert sorted(subscribe["bars"]) == ["ETH/BTC", "XRP/ETH"]
    assert [(r.symbol, r.open_time, r.open, r.high, r.low, r.close, r.volume) for r in got] == [
        (r.symbol, r.open_time, r.open, r.high, r.low, r.close, r.volume) for r in rows
    ]
    assert all(r.interval_minutes == 1 and r.received_at == arrival for r in got)


def test_live_feed_resamples_and_ticks_like_the_offline_core(
    rows: list[RawRow], source_factory: Callable[..., AlpacaBarSource]
) -> None:
    # A bar with high below low at 00:16 is refused; the 00:15-00:20 bar stays open (unfinished).
    after = msgpack.Timestamp.from_datetime(rows[-1].open_time + timedelta(minutes=1))
    bad = wire(rows[-1]) | {"S": "XRP/ETH", "h": rows[-1].low / 2, "t": after}
    frames = [*frames_of(rows), [bad]]
    now = datetime(2019, 10, 11, 0, 16, tzinfo=UTC)  # the grace rule never fires: ticks complete by data
    with AlpacaLikeServer(frames) as server:
        source = source_factory(server.url, clock=lambda: now)
        ingestor = Ingestor(FIVE, CRYPTO, source=source.label, expected=source.symbols())
        feed = LiveFeed(source, ingestor, grace=timedelta(hours=1))
        ticks: list[Any] = []

        def step() -> bool:
            while (tick := feed.next_tick(now)) is not None:
                ticks.append(tick)
            return len(ticks) >= 3 and sum(s.rows for s in ingestor.stats.values()) > len(rows)

        assert wait_for(step)
    offline = validate_rows(rows, FIVE, CRYPTO)  # its unfinished 00:15 bar is dropped at the end
    live_bars = [b for t in ticks for b in t.bars]
    assert [t.event_time.minute for t in ticks] == [5, 10, 15]
    assert [(b.symbol, b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in live_bars] == [
        (b.symbol, b.open_time, b.open, b.high, b.low, b.close, b.volume) for b in offline.bars
    ]
    assert all(b.received_at == now for b in live_bars)  # live: the wall time it reached us
    assert ingestor.stats["XRP/ETH"].rejected == {"ohlc_inconsistent": 1}


def test_the_grace_period_closes_a_tick_a_symbol_never_completes(rows: list[RawRow]) -> None:
    # Pure rule check (no socket): ETH/BTC trades in the last minute of 00:00-00:05, XRP/ETH not.
    ingestor = Ingestor(FIVE, CRYPTO, expected=("ETH/BTC", "XRP/ETH"))
    first_bucket = [
        r for r in rows if r.open_time.minute < 5 and not (r.symbol == "XRP/ETH" and r.open_time.minute == 4)
    ]
    ingestor.push_all(first_bucket)
    assert ingestor.complete_ticks() == []  # XRP/ETH may still send its 00:04 bar
    close = datetime(2019, 10, 11, 0, 5, tzinfo=UTC)
    assert ingestor.advance(close - timedelta(seconds=1)) == []
    (tick,) = ingestor.advance(close)  # the wall clock minus grace passed the close
    assert [b.symbol for b in tick.bars] == ["ETH/BTC", "XRP/ETH"]
    ingestor.commit(tick)
    late = next(r for r in rows if r.symbol == "XRP/ETH" and r.open_time.minute == 4)
    ingestor.push(late)
    assert ingestor.stats["XRP/ETH"].rejected == {"late": 1}


def test_wrong_credentials_get_no_data(source_factory: Callable[..., AlpacaBarSource]) -> None:
    with AlpacaLikeServer([]) as server:
        source = source_factory(server.url, secret_key="wrong")
        source.start()
        assert wait_for(lambda: len(server.received) >= 1)
        assert source.poll().items == ()
        assert not source.connected
    assert server.received[0]["secret"] == "wrong"


def test_the_service_publishes_live_ticks(rows: list[RawRow]) -> None:
    now = datetime(2019, 10, 11, 0, 16, tzinfo=UTC)
    with AlpacaLikeServer(frames_of(rows)) as server:
        settings = load_settings(
            IngestSettings,
            mode="paper",
            ingest={
                "source": "alpaca",
                "symbols": ["XRP/ETH", "ETH/BTC"],
                "alpaca": {
                    "api_key": KEY,
                    "secret_key": SECRET,
                    "asset_class": "crypto",
                    "feed": "us",
                    "url": server.url,
                },
                "tick_grace_ms": 3_600_000,
            },
        )
        service = IngestService(settings, clock=lambda: now)
        outs: list[Outbox] = []
        try:

            def step() -> bool:
                out = Outbox()
                if service.poll(out):
                    outs.append(out)
                return len(outs) >= 3

            assert wait_for(step)
            assert service.ready() == (True, "ok")
            status = service.status()
        finally:
            service.restore(None)  # closes the stream
    assert status["live"]["connected"] is True
    assert status["live"]["stale_symbols"] == []
    assert status["symbols"]["XRP/ETH"]["bars"] == 3
    for out in outs:
        *bars, watermark = [m for _, m in out.messages]
        assert isinstance(watermark, Watermark)
        assert [b.symbol for b in bars] == ["ETH/BTC", "XRP/ETH"]
        assert all(isinstance(b, Bar) and b.event_time == watermark.event_time for b in bars)
        assert all(b.source == "alpaca-us" for b in bars)


def test_message_conversion() -> None:
    stamp = datetime(2024, 7, 5, 13, 30, tzinfo=UTC)
    received = stamp + timedelta(minutes=1, seconds=1)
    message = {
        "T": "b",
        "S": "SPY",
        "o": 1.0,
        "h": 2.0,
        "l": 0.5,
        "c": 1.5,
        "v": 100,
        "t": "2024-07-05T13:30:00Z",
    }
    row = bar_message_to_row(message, received)
    assert isinstance(row, RawRow)
    assert (row.open_time, row.close_time, row.received_at) == (stamp, stamp + timedelta(minutes=1), received)
    broken = bar_message_to_row({"T": "b", "S": "SPY", "o": 1.0}, received)
    assert not isinstance(broken, RawRow)
    assert broken.reason.value == "unparseable"
