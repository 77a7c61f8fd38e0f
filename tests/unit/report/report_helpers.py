"""Message builders for the report tests, and one hand-computed run on real ETHBTC bars.

The run (initial cash 100 BTC; bars are ETHBTC 5m from 2018-01-10, event time = close):
  order at 05:00 (15m signal) BUY 100, fills 05:05 @ 0.0995, commission 0.001
  order at 05:15 (no horizon: a risk exit) SELL 100, fills 05:20 @ 0.0990, commission 0.001
  order at 05:20 (10m signal) SELL 50, fills 05:25 @ 0.0989, commission 0.0005
  order at 05:25 (5m signal) BUY 150 (flips to +100), fills 05:30 @ 0.0972, commission 0.0015
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

from ridgeline.report import RunData
from ridgeline_shared.messages import (
    Bar,
    Decision,
    DenialReason,
    Execution,
    FamilyWeight,
    Fill,
    HorizonSignal,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    RiskEvent,
    RiskEventKind,
    Signal,
    TradingState,
)
from tests.support.bars import real_bars

SYMBOL = "ETHBTC"


def bars(limit: int = 8, symbol: str = SYMBOL) -> list[Bar]:
    return list(real_bars(symbol, limit=limit))


def at(hhmm: str) -> datetime:
    return datetime.fromisoformat(f"2018-01-10T{hhmm}:00+00:00")


def signal(
    time: datetime, horizon: str, weights: dict[str, float], decision: Decision, price: float
) -> Signal:
    hs = HorizonSignal(
        horizon=horizon, blended_score=1.0, sigma_bps=20.0, alpha_bps=10.0, cost_bps=3.0, net_bps=7.0,
        score=7.0, reserve_bps=0.0, confidence=0.5,
        weights=[FamilyWeight(family=f, ridge=w, bandit=w, final=w) for f, w in weights.items()],
    )  # fmt: skip
    # A decoy horizon with other weights: the fill's horizon must be the one used.
    decoy = hs.model_copy(
        update={"horizon": "60m", "weights": [FamilyWeight(family="decoy", ridge=1.0, bandit=1.0, final=1.0)]}
    )
    return Signal(
        event_time=time, trace_id=f"sig@{time.isoformat()}", symbol=SYMBOL, interval="5m", price=price,
        horizons=[hs, decoy], decision=decision, chosen_horizon=horizon, alpha_bps=10.0, expected_net_bps=7.0,
        confidence=0.5, alpha_5m_bps=1.0, spread_bps=5.0, sigma_bps=20.0,
    )  # fmt: skip


def order(
    coid: str, time: datetime, side: OrderSide, qty: str, horizon: str | None, ref: str
) -> OrderRequest:
    return OrderRequest(
        event_time=time, trace_id=f"o@{coid}", client_order_id=coid, strategy_id="ridgeline", symbol=SYMBOL,
        side=side, quantity=D(qty), target_position=D(0), reference_price=D(ref), horizon=horizon,
        reason="signal",
    )  # fmt: skip


def execution(
    request: OrderRequest,
    time: datetime,
    price: str | None,
    commission: str = "0",
    *,
    trade_id: str | None = None,
    quantity: str | None = None,
    status: OrderStatus = OrderStatus.FILLED,
    sequence: int = 1,
) -> Execution:
    qty = D(quantity) if quantity is not None else request.quantity
    fill = None
    if price is not None:
        fill = Fill(trade_id=trade_id or f"T-{request.client_order_id}", quantity=qty, price=D(price),
                    commission=D(commission))  # fmt: skip
    return Execution(
        event_time=time, trace_id=request.trace_id, client_order_id=request.client_order_id,
        strategy_id="ridgeline", symbol=request.symbol, side=request.side, order_type=OrderType.MARKET,
        status=status, quantity=request.quantity, filled_quantity=qty if fill else D(0),
        avg_fill_price=D(price) if price else None, fill=fill, horizon=request.horizon,
        order_event_time=request.event_time, sequence=sequence,
    )  # fmt: skip


def risk_event(time: datetime, kind: RiskEventKind, reason: DenialReason | None = None,
               state: TradingState = TradingState.ACTIVE) -> RiskEvent:  # fmt: skip
    return RiskEvent(event_time=time, trace_id=f"r@{time.isoformat()}", kind=kind, trading_state=state,
                     reason_code=reason, symbol=SYMBOL)  # fmt: skip


def hand_run(finished: bool = True) -> RunData:
    b = bars(8)
    o1 = order("O1", at("05:00"), OrderSide.BUY, "100", "15m", "0.0994766")
    o2 = order("O2", at("05:15"), OrderSide.SELL, "100", None, "0.09900001")
    o3 = order("O3", at("05:20"), OrderSide.SELL, "50", "10m", "0.099")
    o4 = order("O4", at("05:25"), OrderSide.BUY, "150", "5m", "0.0971")
    signals = [
        signal(at("05:00"), "15m", {"gbm": 0.5, "ridge": 0.3, "mlp": 0.2}, Decision.BUY, 0.0994766),
        signal(at("05:20"), "10m", {"gbm": 0.25, "ridge": 0.25, "mlp": 0.5}, Decision.SELL, 0.099),
        signal(at("05:25"), "5m", {"gbm": 0.2, "ridge": 0.2, "mlp": 0.6}, Decision.BUY, 0.0971),
    ]
    executions = [
        execution(o1, at("05:05"), None, status=OrderStatus.SUBMITTED, sequence=0),
        execution(o1, at("05:05"), "0.0995", "0.001"),
        execution(o2, at("05:20"), "0.0990", "0.001"),
        execution(o3, at("05:25"), "0.0989", "0.0005"),
        execution(o4, at("05:30"), "0.0972", "0.0015"),
    ]
    events = [
        risk_event(at("05:10"), RiskEventKind.DENIAL, DenialReason.MAX_NOTIONAL),
        risk_event(at("05:15"), RiskEventKind.DENIAL, DenialReason.GROSS_EXPOSURE),
        risk_event(at("05:20"), RiskEventKind.DENIAL, DenialReason.MAX_NOTIONAL),
        risk_event(at("05:30"), RiskEventKind.STATE_CHANGE, state=TradingState.REDUCING),
    ]
    return RunData.from_messages(
        bars=b, signals=signals, orders=[o1, o2, o3, o4], executions=executions, risk_events=events,
        finished=finished,
    )  # fmt: skip


# Hand-computed equity at each close 05:00 .. 05:35: cash + 100 x close while long, the closes as
# the CSV has them (0.09969000000000001 is the bar's close, float noise and all).
HAND_EQUITY = [
    "100",  # no fill yet
    "100.018000000000001",  # cash 90.049 + 100 x 0.09969000000000001
    "100.048000000000001",  # 90.049 + 100 x 0.09999000000000001
    "99.949001",  # 90.049 + 100 x 0.09900001
    "99.948",  # flat: 90.049 + 9.90 - 0.001
    "100.0375",  # short 50: 104.8925 - 50 x 0.0971
    "100.091",  # long 100 after the flip: 90.311 + 100 x 0.0978
    "100.118",  # 90.311 + 100 x 0.09807
]
