"""Live minute bars from Alpaca's market-data websocket, through ``alpaca-py``.

``StockDataStream`` / ``CryptoDataStream`` run their own asyncio loop; we run it in a daemon
thread and hand each bar message over a thread-safe queue, stamped with the wall time it arrived.
The URL is configurable (``url_override``), which is how the tests point it at a local server that
speaks the same protocol. Alpaca's bars are one minute long and stamped with their open time; the
pipeline resamples them to the running interval.
"""

from __future__ import annotations

import logging
import queue
import threading
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

with warnings.catch_warnings():  # alpaca-py still imports websockets.legacy
    warnings.simplefilter("ignore", DeprecationWarning)
    from alpaca.data.enums import CryptoFeed, DataFeed
    from alpaca.data.live.crypto import CryptoDataStream
    from alpaca.data.live.stock import StockDataStream

from ridgeline_ingest.rows import BadRow, Batch, RawRow, Reason, SourceItem

log = logging.getLogger("ridgeline.ingest.alpaca")
ALPACA_BAR_MINUTES = 1


def bar_message_to_row(message: dict[str, Any], received_at: datetime) -> RawRow | BadRow:
    """An Alpaca ``{"T": "b", "S", "o", "h", "l", "c", "v", "t"}`` message -> a raw row."""
    symbol = str(message.get("S", "?"))
    try:
        stamp = message["t"]
        if hasattr(stamp, "to_datetime"):  # msgpack.Timestamp (the wire format) or pandas
            open_time = stamp.to_datetime()
        elif isinstance(stamp, datetime):
            open_time = stamp
        else:
            open_time = datetime.fromisoformat(str(stamp))
        if open_time.tzinfo is None:
            open_time = open_time.replace(tzinfo=UTC)
        return RawRow(
            symbol,
            open_time.astimezone(UTC),
            float(message["o"]),
            float(message["h"]),
            float(message["l"]),
            float(message["c"]),
            float(message["v"]),
            ALPACA_BAR_MINUTES,
            received_at,
            "alpaca",
        )
    except (KeyError, TypeError, ValueError, OverflowError) as exc:
        return BadRow(symbol, Reason.UNPARSEABLE, f"bad bar message: {exc!r}"[:200], "alpaca")


class AlpacaBarSource:
    historical = False

    def __init__(
        self,
        symbols: Sequence[str],
        *,
        api_key: str,
        secret_key: str,
        asset_class: Literal["stock", "crypto"] = "stock",
        feed: str = "iex",
        url: str | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        if not symbols:
            raise ValueError("the alpaca source needs at least one symbol")
        self._symbols = tuple(sorted(set(symbols)))
        self._api_key = api_key
        self._secret_key = secret_key
        self._asset_class = asset_class
        self._feed = feed
        self._url = url
        self._clock = clock or (lambda: datetime.now(UTC))
        self._queue: queue.SimpleQueue[SourceItem] = queue.SimpleQueue()
        self._stream: Any = None
        self._thread: threading.Thread | None = None
        self.label = f"alpaca-{feed}"[:64]
        self.messages = 0
        self.last_error: str | None = None

    def symbols(self) -> tuple[str, ...]:
        return self._symbols

    def total_rows(self) -> int | None:
        return None

    def _make_stream(self) -> Any:
        if self._asset_class == "crypto":
            return CryptoDataStream(
                self._api_key,
                self._secret_key,
                raw_data=True,
                feed=CryptoFeed(self._feed),
                url_override=self._url,
            )
        return StockDataStream(
            self._api_key,
            self._secret_key,
            raw_data=True,
            feed=DataFeed(self._feed),
            url_override=self._url,
        )

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stream = self._make_stream()
        self._stream.subscribe_bars(self._on_bar, *self._symbols)
        self._thread = threading.Thread(target=self._run, name="alpaca-bars", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._stream.run()
        except Exception as exc:  # the SDK retries by itself; anything escaping is fatal for it
            self.last_error = repr(exc)[:300]
            log.exception("alpaca bar stream stopped")

    async def _on_bar(self, message: dict[str, Any]) -> None:
        self.messages += 1
        self._queue.put(bar_message_to_row(message, self._clock()))

    @property
    def connected(self) -> bool:
        return bool(self._stream is not None and getattr(self._stream, "_running", False))

    def poll(self) -> Batch:
        items: list[SourceItem] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return Batch(tuple(items))

    def close(self) -> None:
        stream, thread = self._stream, self._thread
        loop = getattr(stream, "_loop", None)
        if stream is not None and loop is not None and loop.is_running():
            try:
                stream.stop()  # tells the SDK loop to end ...
                # ... and dropping the socket wakes its pending recv at once (else up to 5 s).
                transport = getattr(getattr(stream, "_ws", None), "transport", None)
                if transport is not None:
                    loop.call_soon_threadsafe(transport.close)
            except RuntimeError:  # the loop ended meanwhile: nothing left to stop
                pass
        if thread is not None:
            thread.join(timeout=10)
        self._thread = None

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "url": self._url or "default",
            "feed": self._feed,
            "asset_class": self._asset_class,
            "messages": self.messages,
            "last_error": self.last_error,
        }
