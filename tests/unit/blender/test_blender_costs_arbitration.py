"""Cost model, net score, horizon penalty, threshold with reserve, and stacking (MATH.md s.2)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline_blender.arbitration import (
    HorizonFigures,
    arbitrate,
    decay_exponential,
    decay_function,
    decay_inverse,
    decay_linear,
    horizon_alpha,
    horizon_score,
    net_alpha,
    stack,
)
from ridgeline_blender.config import StackingConfig
from ridgeline_blender.costs import horizon_cost_bps, sigma_5m_bps, sigma_horizon_bps
from ridgeline_shared.market import CostModel
from ridgeline_shared.messages import Decision

pytestmark = pytest.mark.unit

MINUTES = {"5m": 5, "10m": 10, "15m": 15, "30m": 30, "60m": 60, "1d": 1440}


def fig(
    h: str, alpha: float, cost: float, reserve: float = 0.0, *, eligible: bool = True, sigma: float = 10.0
) -> HorizonFigures:
    return HorizonFigures(h, MINUTES[h], alpha, cost, reserve, sigma, 0.5, eligible)


# -- hand-computed cases -------------------------------------------------------------------


def test_cost_by_hand() -> None:
    # sigma_1 = 10 bps at 5m bars, spread 4, ADV 1e6, price 100, notional 10,000 -> q = 100 shares.
    # 15m: 1.0 x 4 + 0.15 x 10 x sqrt(3) + 1.0 x (10 sqrt(288)) x sqrt(100 / 1e6)
    #    = 4 + 2.598076 + 169.705627 x 0.01 = 8.295132.
    cost = horizon_cost_bps(
        CostModel(),
        spread_bps=4.0,
        sigma_1_bps=10.0,
        interval_minutes=5,
        horizon_minutes=15,
        session_bars=288,
        planned_notional=10_000.0,
        price=100.0,
        adv_shares=1e6,
    )
    assert cost == pytest.approx(4 + 0.15 * 10 * math.sqrt(3) + 10 * math.sqrt(288) * 0.01)
    assert cost == pytest.approx(8.295132, abs=1e-6)


def test_cost_without_volatility_is_the_spread_only() -> None:
    kwargs = {"interval_minutes": 5, "horizon_minutes": 30, "session_bars": 288, "price": 50.0}
    cost = horizon_cost_bps(
        CostModel(), spread_bps=6.0, sigma_1_bps=None, planned_notional=1e4, adv_shares=1e5, **kwargs
    )
    assert cost == 6.0


def test_volatility_scalings_by_hand() -> None:
    # 1m bars with sigma_1 = 4 bps: 5-minute sigma 4 sqrt(5) = 8.944; 15m = 15 bars -> 4 sqrt(15).
    assert sigma_5m_bps(4.0, 1) == pytest.approx(4 * math.sqrt(5))
    assert sigma_horizon_bps(4.0, 15) == pytest.approx(4 * math.sqrt(15))


def test_alpha_net_and_score_by_hand() -> None:
    # blended 0.5, sigma_h 20 -> alpha 10 bps; cost 4 -> net 6; at 20m the score is 6 / sqrt(4) = 3.
    alpha = horizon_alpha(0.5, 20.0)
    assert alpha == 10.0
    assert net_alpha(alpha, 4.0) == 6.0
    assert horizon_score(6.0, 20, 5.0) == 3.0
    # A short pays the cost too: -10 - (-1) x 4 = -6, never -14.
    assert net_alpha(-10.0, 4.0) == -6.0
    assert net_alpha(0.0, 4.0) == 0.0


def test_arbitration_picks_best_edge_and_applies_reserve() -> None:
    figures = [
        fig("5m", alpha=12.0, cost=3.0, reserve=1.5),  # net 9, score 9, needs 4.5
        fig("15m", alpha=20.0, cost=3.0),  # net 17, score 17/sqrt(3) = 9.815
        fig("1d", alpha=-200.0, cost=10.0),  # net -190, score -190/sqrt(288) = -11.196 (a short)
    ]
    choice = arbitrate(figures)
    assert choice.horizon == "1d"
    assert choice.decision is Decision.SELL
    assert choice.score == pytest.approx(-190 / math.sqrt(288))
    assert choice.threshold_bps == 10.0
    assert choice.net_bps == -190.0


def test_arbitration_holds_below_threshold_and_reports_the_best() -> None:
    # 5m: alpha 6, cost 2 -> score 4; threshold 2 + 0.75 x 4 (spread) = 5 -> HOLD.
    choice = arbitrate([fig("5m", 6.0, 2.0, reserve=3.0), fig("10m", 3.0, 2.0, reserve=2.0)])
    assert choice.decision is Decision.HOLD
    assert choice.horizon == "5m"
    assert choice.score == 4.0
    # Without the reserve it clears: 4 >= 2.
    assert arbitrate([fig("5m", 6.0, 2.0)]).decision is Decision.BUY


def test_best_tradable_skips_a_winner_that_cannot_clear_its_threshold() -> None:
    # 1d: edge (300 - 200) / sqrt(288) = 5.89 ranks first but needs 200; 5m: edge 8 - 4 = 4 >= 4.
    figures = [fig("5m", 8.0, 4.0), fig("1d", 300.0, 200.0)]
    assert arbitrate(figures).horizon == "1d"
    assert arbitrate(figures).decision is Decision.HOLD
    choice = arbitrate(figures, pick="best_tradable")
    assert (choice.horizon, choice.decision) == ("5m", Decision.BUY)
    # With nothing tradable both readings agree.
    assert arbitrate([fig("5m", 5.0, 4.0)], pick="best_tradable").decision is Decision.HOLD


def test_negative_edge_never_outranks_a_positive_one() -> None:
    # 5m alpha 1 vs cost 30: |score| = 29 but that is a loss, not a short. 10m has a real edge.
    figures = [fig("5m", 1.0, 30.0), fig("10m", 40.0, 5.0)]
    choice = arbitrate(figures)
    assert choice.horizon == "10m"
    assert choice.decision is Decision.BUY


def test_no_eligible_horizon_is_hold_without_horizon() -> None:
    choice = arbitrate([fig("5m", 50.0, 1.0, eligible=False)])
    assert choice.decision is Decision.HOLD
    assert choice.horizon is None


def test_decays_by_hand() -> None:
    assert decay_exponential(30.0, 30.0) == pytest.approx(0.5)
    assert decay_exponential(60.0, 30.0) == pytest.approx(0.25)
    assert decay_linear(30.0, 120.0) == pytest.approx(0.75)
    assert decay_linear(240.0, 120.0) == 0.0
    assert decay_inverse(4.0, 1.0) == pytest.approx(0.2)
    assert decay_function(StackingConfig(decay="linear", d_max_minutes=60))(15.0) == pytest.approx(0.75)


def test_stacking_by_hand() -> None:
    # Linear decay, d_max 20: v(5) = 0.75, v(10) = 0.5, v(15) = 0.25 (total 1.5).
    figures = [fig("5m", 10.0, 2.0), fig("10m", 16.0, 3.0), fig("15m", -4.0, 4.0)]
    decay = decay_function(StackingConfig(decay="linear", d_max_minutes=20))
    choice = stack(figures, decay)
    alpha = (0.75 * 10 + 0.5 * 16 + 0.25 * -4) / 1.5  # 9.666667
    cost = (0.75 * 2 + 0.5 * 3 + 0.25 * 4) / 1.5  # 2.666667
    penalty = (0.75 * 1 + 0.5 * math.sqrt(2) + 0.25 * math.sqrt(3)) / 1.5
    assert choice.alpha_bps == pytest.approx(alpha)
    assert choice.net_bps == pytest.approx(alpha - cost)
    assert choice.score == pytest.approx((alpha - cost) / penalty)
    assert choice.decision is Decision.BUY
    assert choice.horizon == "10m"  # |0.5 x 16| = 8 > |0.75 x 10| = 7.5


# -- against independent numpy over random inputs -------------------------------------------

horizon_sets = st.lists(st.sampled_from(list(MINUTES)), min_size=1, max_size=6, unique=True)


@settings(max_examples=300, deadline=None)
@given(
    spread=st.floats(0, 50),
    sigma=st.floats(0.1, 200),
    minutes=st.sampled_from([5, 10, 15, 30, 60, 1440]),
    interval=st.sampled_from([1, 5]),
    notional=st.floats(100, 1e7),
    price=st.floats(0.01, 5000),
    adv=st.floats(1, 1e9),
    k=st.tuples(st.floats(0, 2), st.floats(0, 2), st.floats(0, 2)),
)
def test_cost_matches_numpy(
    *,
    spread: float,
    sigma: float,
    minutes: int,
    interval: int,
    notional: float,
    price: float,
    adv: float,
    k: tuple[float, float, float],
) -> None:
    session_bars = 1440 // interval
    got = horizon_cost_bps(
        CostModel(*k),
        spread_bps=spread,
        sigma_1_bps=sigma,
        interval_minutes=interval,
        horizon_minutes=minutes,
        session_bars=session_bars,
        planned_notional=notional,
        price=price,
        adv_shares=adv,
    )
    sig5 = sigma * np.sqrt(5 / interval)
    expected = (
        k[0] * spread
        + k[1] * sig5 * np.sqrt(minutes / 5)
        + k[2] * sigma * np.sqrt(session_bars) * np.sqrt(notional / price / adv)
    )
    assert got == pytest.approx(expected, rel=1e-9)


def numpy_arbitrate(
    alpha: np.ndarray, cost: np.ndarray, reserve: np.ndarray, minutes: np.ndarray, pick: str = "best"
):
    net = alpha - np.sign(alpha) * cost
    score = net / np.sqrt(minutes / 5.0)
    edge = (np.abs(alpha) - cost) / np.sqrt(minutes / 5.0)
    ok = (alpha != 0) & (edge >= cost + reserve)
    if pick == "best_tradable" and ok.any():
        edge = np.where(ok, edge, -np.inf)
    best = int(np.argmax(edge))  # first maximum: the shortest horizon wins ties
    trade = bool(ok[best])
    decision = ("BUY" if alpha[best] > 0 else "SELL") if trade else "HOLD"
    return best, decision, net[best], score[best]


@settings(max_examples=400, deadline=None)
@given(
    hs=horizon_sets,
    pick=st.sampled_from(["best", "best_tradable"]),
    data=st.data(),
)
def test_arbitration_matches_numpy(hs: list[str], pick: str, data: st.DataObject) -> None:
    hs = sorted(hs, key=MINUTES.__getitem__)
    n = len(hs)
    alpha = np.array(data.draw(st.lists(st.floats(-300, 300), min_size=n, max_size=n)))
    cost = np.array(data.draw(st.lists(st.floats(0, 60), min_size=n, max_size=n)))
    reserve = np.array(data.draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)))
    minutes = np.array([MINUTES[h] for h in hs], dtype=float)
    figures = [fig(h, a, c, r) for h, a, c, r in zip(hs, alpha, cost, reserve, strict=True)]
    choice = arbitrate(figures, pick=pick)
    best, decision, net, score = numpy_arbitrate(alpha, cost, reserve, minutes, pick)
    assert choice.horizon == hs[best]
    assert choice.decision.value == decision
    assert choice.net_bps == pytest.approx(net)
    assert choice.score == pytest.approx(score)
    # Costs only ever shrink the magnitude of the expected return.
    assert abs(choice.net_bps) <= abs(choice.alpha_bps) + cost.max() + 1e-9


@settings(max_examples=300, deadline=None)
@given(
    hs=horizon_sets,
    kind=st.sampled_from(["exponential", "linear", "inverse"]),
    data=st.data(),
)
def test_stacking_matches_numpy(hs: list[str], kind: str, data: st.DataObject) -> None:
    n = len(hs)
    alpha = np.array(data.draw(st.lists(st.floats(-300, 300), min_size=n, max_size=n)))
    cost = np.array(data.draw(st.lists(st.floats(0, 60), min_size=n, max_size=n)))
    reserve = np.array(data.draw(st.lists(st.floats(0, 10), min_size=n, max_size=n)))
    minutes = np.array([MINUTES[h] for h in hs], dtype=float)
    cfg = StackingConfig(decay=kind, half_life_minutes=30, d_max_minutes=2000, eps_minutes=1)
    v = {
        "exponential": np.exp(-np.log(2) * minutes / 30),
        "linear": np.maximum(0, 1 - minutes / 2000),
        "inverse": 1 / (minutes + 1),
    }[kind]
    a, c, r = (np.dot(v, x) / v.sum() for x in (alpha, cost, reserve))
    penalty = np.dot(v, np.sqrt(minutes / 5)) / v.sum()
    net = a - np.sign(a) * c
    edge = (abs(a) - c) / penalty
    expected = "HOLD" if a == 0 or edge < c + r else ("BUY" if a > 0 else "SELL")
    choice = stack(
        [fig(h, x, y, z) for h, x, y, z in zip(hs, alpha, cost, reserve, strict=True)], decay_function(cfg)
    )
    assert choice.alpha_bps == pytest.approx(a, abs=1e-9)
    assert choice.net_bps == pytest.approx(net, abs=1e-9)
    assert choice.score == pytest.approx(net / penalty, abs=1e-9)
    if abs(edge - (c + r)) > 1e-9:
        assert choice.decision.value == expected
    assert choice.horizon == hs[int(np.argmax(np.abs(v * alpha)))]


@settings(max_examples=200, deadline=None)
@given(
    alpha=st.floats(-300, 300, allow_subnormal=False),
    cost=st.floats(0, 60),
    reserve=st.floats(0, 10),
    h=st.sampled_from(list(MINUTES)),
)
def test_stacking_one_horizon_is_arbitration(alpha: float, cost: float, reserve: float, h: str) -> None:
    f = [fig(h, alpha, cost, reserve)]
    a, s = arbitrate(f), stack(f, lambda d: 1.0)
    assert (a.decision, a.horizon) == (s.decision, s.horizon)
    assert a.net_bps == pytest.approx(s.net_bps)
    assert a.score == pytest.approx(s.score)
