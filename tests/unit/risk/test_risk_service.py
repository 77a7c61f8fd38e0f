"""RiskService driven tick by tick as the worker drives it, over real bars, with a paper venue
standing in for the executor: guardrail halts, the kill switch, commands, every denial reason,
gross normalisation, and rebuilding the same state from the same streams."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from risk_kit import (
    Replay,
    Tick,
    aligned_bars,
    bars_of,
    commands,
    events,
    make_service,
    orders,
    run_tick,
    signal_for,
    start,
)

from ridgeline_risk.service import RiskService
from ridgeline_shared.messages import (
    Bar,
    Decision,
    DenialReason,
    ExecutorCommandKind,
    Message,
    OrderSide,
    RiskEvent,
    RiskEventKind,
    Signal,
    TradingState,
)
from ridgeline_shared.runtime.service import CommandError, Outbox

pytestmark = pytest.mark.unit

D = Decimal
G = 0.9 * math.sqrt(0.75)  # barrier gate at P_peak 0.1, P_valley 0.5 (risk_kit's default signal)
STATE_KEY = "ridgeline:{s0}:risk:trading_state"
LIMITS_KEY = "ridgeline:{s0}:risk:limits"


def denials(messages: list[Message]) -> list[RiskEvent]:
    return [e for e in events(messages) if e.kind is RiskEventKind.DENIAL]


# -- guardrails in a replay ----------------------------------------------------------------------


def test_a_drawdown_breach_during_a_replay_halts_trading_and_flattens() -> None:
    # ADA/BTC on 2018-01-11 from 01:00 UTC: it falls ~21 % within four hours. A wide no-trade
    # band keeps the one position (its weight drifts down with the price and would be topped up),
    # so the equity is checkable by hand.
    service = make_service(
        max_weight=0.2,
        no_trade_band=0.05,
        limits={
            "max_drawdown": 0.02,
            "daily_loss": 0.5,
            "max_concentration": 0.25,
            "max_order_notional": 100,
        },
    )
    replay = Replay(service)
    bars = bars_of("ADABTC", 240, 60)
    for bar in bars:
        replay.step([bar], [signal_for(bar, alpha_bps=40.0, sigma_bps=10.0)])

    first = orders(replay.outputs[0])
    # z = clip(40 / 10, -3, 3) = 3 -> weight 0.2; x g = 0.9 x sqrt(0.75) -> 0.155885;
    # shares = floor(0.155885 x 100 / 5.149e-5) = floor(302747.2)
    assert [(o.side, o.quantity, o.reason) for o in first] == [(OrderSide.BUY, D(302747), "signal")]
    assert first[0].reference_price == D("0.00005149")
    assert first[0].trace_id == "sig-ADABTC-2018-01-11T01:00:00+00:00"

    breach_at = next(i for i, out in enumerate(replay.outputs) if events(out))
    out = replay.outputs[breach_at]
    kinds = [(type(m).__name__, getattr(m, "kind", None) or getattr(m, "command", None)) for m in out]
    assert kinds[:4] == [
        ("RiskEvent", RiskEventKind.GUARDRAIL_BREACH),
        ("RiskEvent", RiskEventKind.STATE_CHANGE),
        ("ExecutorCommand", ExecutorCommandKind.CANCEL_ALL),
        ("OrderRequest", None),
    ]
    breach, change = events(out)[:2]
    assert breach.data["guardrail"] == "max_drawdown"
    assert change.trading_state is TradingState.HALTED
    assert change.data == {"from": "ACTIVE", "to": "HALTED", "reason": "guardrail: max_drawdown"}
    flatten = orders(out)
    assert [(o.side, o.quantity, o.reason, o.target_position) for o in flatten] == [
        (OrderSide.SELL, D(302747), "flatten", D(0))
    ]
    # By hand: the equity at the breach and one tick earlier, against the peak.
    entry = D(repr(bars[1].open))  # filled at the next bar's open
    peak = max(D(100), *(D(100) + D(302747) * (D(repr(b.close)) - entry) for b in bars[1:breach_at]))

    def equity(i: int) -> Decimal:
        return D(100) + D(302747) * (D(repr(bars[i].close)) - entry)

    assert (peak - equity(breach_at)) / peak > D("0.02")
    assert (peak - equity(breach_at - 1)) / peak <= D("0.02")
    assert breach.data["value"] == pytest.approx(float((peak - equity(breach_at)) / peak), rel=1e-12)
    # The state is written to its Redis key in the tick's transaction.
    assert json.loads(replay.store.data[STATE_KEY])["state"] == "HALTED"

    # Flattened and halted: nothing new afterwards, each attempt denied and reported.
    after = replay.outputs[breach_at + 1 :]
    assert not [o for out in after for o in orders(out)]
    assert all(d.reason_code is DenialReason.TRADING_HALTED for out in after for d in denials(out))
    assert len([d for out in after for d in denials(out)]) == len(after)
    status = service.status()
    assert status["trading_state"] == "HALTED"
    assert status["positions"] == {}
    assert status["denials"]["TRADING_HALTED"] == len(after) + 1


def test_daily_loss_uses_the_start_of_day_value() -> None:
    service = make_service(
        max_weight=0.2,
        limits={
            "max_drawdown": 0.5,
            "daily_loss": 0.02,
            "max_concentration": 0.25,
            "max_order_notional": 100,
        },
        on_halt="hold",
    )
    replay = Replay(service)
    bars = bars_of("ADABTC", 240, 60)
    for bar in bars:
        replay.step([bar], [signal_for(bar, alpha_bps=40.0, sigma_bps=10.0)])
    at = next(i for i, out in enumerate(replay.outputs) if events(out))
    breach = events(replay.outputs[at])[0]
    assert (breach.kind, breach.data["guardrail"]) == (RiskEventKind.GUARDRAIL_BREACH, "daily_loss")
    # The whole run is one UTC session: the start-of-day value is the initial cash.
    status = service.status()
    assert status["start_of_day"] == "100" and status["session"] == "2018-01-11"
    # By hand, as risk saw it at that tick: fills of orders up to two ticks back (an order of
    # tick k fills at bar k+1's open, reported at k+1 and read by risk at k+2), marked at the close.
    known = [(i, o.quantity) for i, out in enumerate(replay.outputs[: at - 1]) for o in orders(out)]
    cash = D(100) - sum(q * D(repr(bars[i + 1].open)) for i, q in known)
    equity = cash + sum(q for _, q in known) * D(repr(bars[at].close))
    assert breach.data["value"] == pytest.approx(float((100 - equity) / 100), rel=1e-12)
    assert breach.data["value"] > 0.02
    # on_halt = hold: CANCEL_ALL but no closing order; the position is kept as it was.
    assert [type(m).__name__ for m in replay.outputs[at]][:3] == ["RiskEvent", "RiskEvent", "ExecutorCommand"]
    assert not [o for out in replay.outputs[at:] for o in orders(out)]
    bought = sum(o.quantity for out in replay.outputs[:at] for o in orders(out))
    assert status["positions"] == {"ADABTC": str(bought)}
    assert D(status["daily_pnl"]) == D(status["equity"]) - 100


# -- sizing across the portfolio -------------------------------------------------------------------


def test_weights_are_normalised_to_the_gross_target_across_symbols() -> None:
    symbols = ["ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC"]
    ticks = aligned_bars(symbols, 0, 3)
    service = make_service(max_weight=0.2, limits={"max_concentration": 0.25})
    replay = Replay(service)

    def no_barrier(bars: list[Bar]) -> list[Signal]:
        return [signal_for(b, alpha_bps=30.0, p_peak=None, p_valley=None) for b in bars]

    out = replay.step(ticks[0], no_barrier(ticks[0]))
    # Each weight is 3 x 0.2 / 3 = 0.2, the sum 1.0 > 0.5: all scaled by 0.5 to 0.1.
    expected = [int(D("0.1") * 100 / D(repr(b.close))) for b in ticks[0]]
    assert [o.symbol for o in orders(out)] == symbols  # sorted by symbol
    assert [int(o.quantity) for o in orders(out)] == expected
    assert all(o.reason == "signal+gross_scale" for o in orders(out))
    assert sum(o.quantity * o.reference_price for o in orders(out)) <= D(50)
    # The same signals again: the working orders already make the target; nothing new.
    out = replay.step(ticks[1], no_barrier(ticks[1]))
    assert orders(out) == []
    out = replay.step(ticks[2], no_barrier(ticks[2]))
    assert service.status()["exposure"]["gross_pct"] == pytest.approx(0.5, abs=0.02)


def test_stale_market_data_blocks_trading() -> None:
    bar = bars_of("ETHBTC", 0, 1)[0]
    late = bar.model_copy(update={"received_at": bar.event_time + timedelta(milliseconds=250)})
    service = make_service()
    out = run_tick(service, Tick(bar.event_time, [], [late], [signal_for(bar)]))
    assert orders(out) == []
    fresh = make_service()
    ontime = bar.model_copy(update={"received_at": bar.event_time + timedelta(milliseconds=200)})
    assert len(orders(run_tick(fresh, Tick(bar.event_time, [], [ontime], [signal_for(bar)])))) == 1


# -- the kill switch and the other commands ------------------------------------------------------


def two_symbol_replay(n: int = 4, **risk: Any) -> tuple[Replay, list[list[Bar]]]:
    ticks = aligned_bars(["ETHBTC", "LTCBTC"], 10, n + 6)
    replay = Replay(make_service(**risk))
    for bars in ticks[:n]:
        replay.step(bars, [signal_for(b) for b in bars])
    return replay, ticks


def test_the_kill_switch_stops_new_orders_and_survives_a_restart() -> None:
    replay, ticks = two_symbol_replay(4)
    held = replay.service.engine.portfolio
    positions = {s: held.ledger.quantity(s) for s in ("ETHBTC", "LTCBTC")}
    assert all(q > 0 for q in positions.values())
    result, out = replay.command("kill", {"reason": "operator test"})
    assert result["trading_state"] == "HALTED"
    assert [c.command for c in commands(out)] == [ExecutorCommandKind.CANCEL_ALL]
    # Between ticks the tick's watermark is already out: the cancel acts on receipt and the
    # closing orders follow at the next ticks, stamped with them (never late for the executor).
    assert commands(out)[0].immediate
    assert orders(out) == []
    assert events(out)[0].actor == "control"
    assert json.loads(replay.store.data[STATE_KEY]) == {
        "state": "HALTED",
        "flattening": True,
        "event_time": ticks[3][0].event_time.isoformat(),
        "reason": "",
    }

    # Restart: a new service from the snapshot the worker wrote with the command.
    snapshot = replay.service.snapshot()
    restarted = make_service()
    restarted.restore(snapshot)
    start(restarted, replay.store)
    assert restarted.status()["trading_state"] == "HALTED"
    replay.service = restarted
    closing = []
    for bars in ticks[4:7]:
        out = replay.step(bars, [signal_for(b) for b in bars])
        assert not [o for o in orders(out) if o.reason != "flatten"]
        closing += orders(out)
    assert all(o.side is OrderSide.SELL and o.event_time > ticks[3][0].event_time for o in closing)
    assert restarted.status()["positions"] == {}  # flattened
    assert restarted.status()["denials"]["TRADING_HALTED"] >= 2

    # Only a confirmed reset lifts it.
    with pytest.raises(CommandError, match="confirm"):
        restarted.apply_command("reset", {}, Outbox())
    with pytest.raises(CommandError):
        restarted.apply_command("reset", {"confirm": True, "typo": 1}, Outbox())
    with pytest.raises(CommandError, match="HALTED"):
        restarted.apply_command("reducing", {}, Outbox())
    result, _ = replay.command("reset", {"confirm": True})
    assert result["trading_state"] == "ACTIVE"
    out = replay.step(ticks[7], [signal_for(b) for b in ticks[7]])
    assert len(orders(out)) == 2
    assert json.loads(replay.store.data[STATE_KEY])["state"] == "ACTIVE"


def test_the_redis_key_wins_over_an_older_snapshot() -> None:
    replay, _ = two_symbol_replay(2)
    before_kill = replay.service.snapshot()
    replay.command("kill", {"flatten": False})
    restarted = make_service()
    restarted.restore(before_kill)  # a snapshot older than the kill
    assert restarted.status()["trading_state"] == "ACTIVE"
    start(restarted, replay.store)
    assert restarted.status()["trading_state"] == "HALTED"
    fresh = make_service()
    fresh.restore(None)  # no snapshot at all
    start(fresh, replay.store)
    assert fresh.status()["trading_state"] == "HALTED"
    replay.store.data[STATE_KEY] = b"{not json"
    broken = make_service()
    start(broken, replay.store)
    assert broken.status()["trading_state"] == "HALTED"  # fails closed


def test_kill_without_flatten_only_cancels() -> None:
    replay, _ = two_symbol_replay(2)
    _, out = replay.command("kill", {"flatten": False})
    assert orders(out) == []
    assert [c.command for c in commands(out)] == [ExecutorCommandKind.CANCEL_ALL]
    assert replay.service.status()["flattening"] is False


def test_reducing_admits_only_reducing_orders() -> None:
    replay, ticks = two_symbol_replay(3)
    replay.command("reducing", {"reason": "end of day"})
    assert replay.service.status()["trading_state"] == "REDUCING"
    # LTCBTC: a SELL that cuts the long is admitted; XLMBTC-like new exposure is not (ETHBTC short).
    bars = ticks[3]
    eth, ltc = bars
    signals = [
        signal_for(eth, Decision.SELL, alpha_bps=-30.0, p_peak=0.5, p_valley=0.1, alpha_5m_bps=0.0),
        signal_for(ltc, Decision.SELL, alpha_bps=-30.0, p_peak=0.5, p_valley=0.1, alpha_5m_bps=0.0),
    ]
    position = replay.service.engine.portfolio.effective_quantity("ETHBTC")
    out = replay.step(bars, signals)
    # Each target is a short, crossing zero: denied; the reason is reported per symbol.
    assert [d.reason_code for d in denials(out)] == [DenialReason.REDUCING_ONLY] * 2
    assert position > 0
    signals = [signal_for(b, Decision.HOLD, alpha_bps=0.0, alpha_5m_bps=-1.0) for b in ticks[4]]
    out = replay.step(ticks[4], signals)  # the exit rule closes the longs: reducing, admitted
    assert [(o.symbol, o.side, o.reason) for o in orders(out)] == [
        ("ETHBTC", OrderSide.SELL, "exit"),
        ("LTCBTC", OrderSide.SELL, "exit"),
    ]
    assert denials(out) == []


def test_limits_are_validated_applied_and_audited() -> None:
    replay, _ = two_symbol_replay(1)
    service = replay.service
    for bad in ({}, {"daily_loss": 2.0}, {"max_order_notional": -1}, {"nonsense": 1}, {"max_drawdown": "x"}):
        with pytest.raises(CommandError):
            service.apply_command("limits", bad, Outbox())
    assert service.engine.limits == service.risk_settings.risk.limits
    result, out = replay.command("limits", {"max_drawdown": 0.05, "allowed_symbols": "ETHBTC, LTCBTC"})
    assert result["limits"]["max_drawdown"] == 0.05
    (event,) = events(out)
    assert event.kind is RiskEventKind.LIMITS_CHANGED
    assert event.data == {
        "changed": {"allowed_symbols": [[], ["ETHBTC", "LTCBTC"]], "max_drawdown": [0.1, 0.05]}
    }
    assert json.loads(replay.store.data[LIMITS_KEY])["max_drawdown"] == 0.05
    restarted = make_service()
    start(restarted, replay.store)
    assert restarted.engine.limits.max_drawdown == 0.05
    with pytest.raises(CommandError, match="unknown"):
        service.apply_command("explode", {}, Outbox())


# -- every denial reason, through the service ------------------------------------------------------


def _scenario_limit(**limits: object) -> list[RiskEvent]:
    replay, _ = two_symbol_replay(1, limits=limits)
    return [d for out in replay.outputs for d in denials(out)]


def _scenario_collar() -> list[RiskEvent]:
    bar = bars_of("ETHBTC", 0, 1)[0]
    return denials(
        run_tick(make_service(), Tick(bar.event_time, [], [bar], [signal_for(bar, price=bar.close * 1.06)]))
    )


def _scenario_no_price() -> list[RiskEvent]:
    bar = bars_of("ETHBTC", 0, 1)[0]
    return denials(
        run_tick(make_service(), Tick(bar.event_time, [], [bar], [signal_for(bar, symbol="XLMBTC")]))
    )


def _scenario_duplicate() -> list[RiskEvent]:
    # A tick delivered again after a later one (a producer that broke its watermark promise):
    # the same (symbol, event time, intent) gives the same client order id, refused.
    t1, t2 = bars_of("ETHBTC", 0, 2)
    service = make_service()
    run_tick(service, Tick(t1.event_time, [], [t1], [signal_for(t1)]))
    run_tick(service, Tick(t2.event_time, [], [t2], [signal_for(t2, Decision.HOLD, alpha_bps=0.0)]))
    sell = signal_for(t1, Decision.SELL, alpha_bps=-30.0, p_peak=0.5, p_valley=0.1)
    return denials(run_tick(service, Tick(t1.event_time, [], [], [sell])))


def _scenario_command(command: str) -> list[RiskEvent]:
    replay, ticks = two_symbol_replay(0)
    replay.command(command, {})
    return denials(replay.step(ticks[0], [signal_for(b) for b in ticks[0]]))


SCENARIOS: dict[DenialReason, Callable[[], list[RiskEvent]]] = {
    DenialReason.MAX_QUANTITY: lambda: _scenario_limit(max_order_quantity=10),
    DenialReason.MAX_NOTIONAL: lambda: _scenario_limit(max_order_notional="0.5"),
    DenialReason.PRICE_COLLAR: _scenario_collar,
    DenialReason.ORDER_RATE: lambda: _scenario_limit(max_orders_per_second=1),
    DenialReason.DUPLICATE_CLIENT_ORDER_ID: _scenario_duplicate,
    DenialReason.SYMBOL_NOT_ALLOWED: lambda: _scenario_limit(allowed_symbols=["ETHBTC"]),
    DenialReason.TRADING_HALTED: lambda: _scenario_command("kill"),
    DenialReason.REDUCING_ONLY: lambda: _scenario_command("reducing"),
    DenialReason.CONCENTRATION: lambda: _scenario_limit(max_concentration=0.01),
    DenialReason.GROSS_EXPOSURE: lambda: _scenario_limit(max_gross_exposure=0.06),
    DenialReason.NO_PRICE: _scenario_no_price,
}


def test_every_denial_reason_has_a_scenario() -> None:
    assert set(SCENARIOS) == set(DenialReason)


@pytest.mark.parametrize("reason", list(DenialReason))
def test_every_denial_reason_is_reachable_and_reported(reason: DenialReason) -> None:
    found = SCENARIOS[reason]()
    assert reason in {d.reason_code for d in found}
    denial = next(d for d in found if d.reason_code is reason)
    assert denial.client_order_id and denial.symbol and denial.detail
    assert denial.trace_id.startswith("sig-")


def test_a_denied_order_is_never_sent() -> None:
    replay, _ = two_symbol_replay(1, limits={"max_gross_exposure": 0.06})
    out = replay.outputs[0]
    sent = {o.client_order_id for o in orders(out)}
    refused = {d.client_order_id for d in denials(out)}
    assert len(sent) == 1 and len(refused) == 1 and not sent & refused
    assert replay.venue.fills == 0 and len(replay.venue.working) == 1


# -- rebuilding state from the streams -------------------------------------------------------------


def varied_replay(n: int) -> Replay:
    """Five symbols, signals that switch side and strength: trades, exits, flips, holds."""
    symbols = ["ADABTC", "ETHBTC", "LTCBTC", "TRXBTC", "XLMBTC"]
    replay = Replay(make_service())
    replay.venue.commission = D("0.0001")
    for i, bars in enumerate(aligned_bars(symbols, 100, n)):
        signals = []
        for k, bar in enumerate(bars):
            phase = (i // 7 + k) % 4
            decision = [Decision.BUY, Decision.HOLD, Decision.SELL, Decision.HOLD][phase]
            alpha = {Decision.BUY: 10.0 + 5 * k, Decision.SELL: -12.0 - 4 * k, Decision.HOLD: 0.0}[decision]
            signals.append(signal_for(bar, decision, alpha_bps=alpha, sigma_bps=8.0, alpha_5m_bps=alpha))
        replay.step(bars, signals)
    return replay


def test_a_restarted_service_rebuilds_the_same_state_from_the_streams() -> None:
    original = varied_replay(150)
    fills = original.venue.fills
    assert fills > 20  # the scenario trades
    final = original.service.snapshot()

    # From nothing: every recorded input again through a fresh service.
    rebuilt = make_service()
    rebuilt.restore(None)
    replayed = [run_tick(rebuilt, tick) for tick in original.ticks]
    assert replayed == original.outputs
    assert rebuilt.snapshot() == final
    assert rebuilt.status() == original.service.status()

    # From a mid-run snapshot plus the inputs after it.
    midway = make_service()
    for tick in original.ticks[:70]:
        run_tick(midway, tick)
    resumed = make_service()
    resumed.restore(midway.snapshot())
    assert [run_tick(resumed, tick) for tick in original.ticks[70:]] == original.outputs[70:]
    assert resumed.snapshot() == final
    ledger = resumed.engine.portfolio.ledger
    assert ledger.fills == fills
    assert ledger.commissions == D("0.0001") * fills


def test_snapshot_is_canonical_json() -> None:
    replay = varied_replay(20)
    data = json.loads(replay.service.snapshot())
    assert data["state"] == "ACTIVE"
    assert set(data) >= {"portfolio", "guard", "checker", "stats", "limits", "last_tick"}


# -- control plane views ----------------------------------------------------------------------------


def test_status_and_read_routes() -> None:
    replay, _ = two_symbol_replay(3)
    service: RiskService = replay.service
    status = service.status()
    assert status["trading_state"] == "ACTIVE"
    assert set(status) >= {"equity", "cash", "exposure", "positions", "drawdown", "daily_pnl", "denials"}
    assert set(status["positions"]) == {"ETHBTC", "LTCBTC"}
    equity = D(status["equity"])
    gross = D(status["exposure"]["gross"])
    assert status["exposure"]["gross_pct"] == pytest.approx(float(gross / equity))
    app = FastAPI()
    app.include_router(service.router())
    client = TestClient(app)
    assert client.get("/limits").json()["max_drawdown"] == 0.1
    portfolio = client.get("/portfolio").json()
    assert portfolio["equity"] == status["equity"]
    assert set(portfolio["positions"]) == {"ETHBTC", "LTCBTC"}


def test_views_show_the_tick_they_were_captured_at() -> None:
    """Views are built on request from the capture of their tick: later ticks change nothing in
    them, and they equal what a service restored at that tick shows."""
    original = varied_replay(60)
    service = make_service()
    for tick in original.ticks[:30]:
        run_tick(service, tick)
    captured, at_30 = service._views, service.snapshot()
    for tick in original.ticks[30:]:
        run_tick(service, tick)
    restored = make_service()
    restored.restore(at_30)
    assert captured.status() == restored.status() != service.status()
    assert captured.portfolio() == restored._views.portfolio() != service._views.portfolio()
    assert captured.status()["positions"] and captured.portfolio()["working_orders"] is not None
