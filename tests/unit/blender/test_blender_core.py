"""The pure core end to end: real bars, synthetic predictions and executions -> Signals."""

from __future__ import annotations

import math
import random
from datetime import timedelta

import numpy as np
import pytest
from blender_helpers import (
    FAMILIES,
    HORIZONS,
    entry,
    execution,
    paper_fill,
    predictions,
    random_entries,
    real_bars,
)

from ridgeline_blender.bandit import Exp3IX
from ridgeline_blender.config import BanditConfig, BlenderConfig, CostConfig
from ridgeline_blender.core import Blender
from ridgeline_blender.costs import horizon_cost_bps, sigma_horizon_bps
from ridgeline_blender.ridge import apply_temperature, entropy, ridge_risk_parity
from ridgeline_shared.config import MarketConfig
from ridgeline_shared.market import CostModel
from ridgeline_shared.messages import Decision, OrderSide, Signal

pytestmark = pytest.mark.unit

SYMBOLS = ("ADABTC", "ETHBTC", "LTCBTC")
CHEAP = CostConfig(k3=0.0)
# A 1 bps configured spread (the shared market section), so short horizons clear their costs.
CHEAP_MARKET = MarketConfig(default_spread_bps=1.0)


def blender(market: MarketConfig | None = None, **kw: object) -> Blender:
    config = BlenderConfig(**kw)
    return Blender(config, "5m", HORIZONS, market=market or MarketConfig())


class Driver:
    """Feeds ticks in the runtime's order: executions of earlier ticks (lag 1), bars, predictions.

    A paper venue fills every BUY/SELL signal at the next bar's open; the fill reaches the blender
    one tick later, as the executions feedback edge does.
    """

    def __init__(self, core: Blender, symbols: tuple[str, ...] = SYMBOLS, warming: float = 0.0) -> None:
        self.core, self.symbols, self.warming = core, symbols, warming
        self.bars = {s: real_bars(s) for s in symbols}
        self.to_fill: list[Signal] = []
        self.fills_out: list = []
        self.signals: list[list[Signal]] = []

    def tick(self, k: int) -> list[Signal]:
        for e in self.fills_out:
            self.core.on_execution(e)
        self.fills_out = []
        for s in self.symbols:
            self.core.on_bar(self.bars[s][k])
        for sig in self.to_fill:
            self.fills_out.append(paper_fill(sig, self.bars[sig.symbol][k], k))
        rng = random.Random(k)
        for s in reversed(self.symbols):  # arrival order must not matter
            self.core.add_predictions(predictions(self.bars[s][k], random_entries(rng, self.warming)))
        out = self.core.end_tick()
        self.to_fill = [sig for sig in out if sig.decision is not Decision.HOLD]
        self.signals.append(out)
        return out


def test_one_signal_per_symbol_sorted_with_passthrough_fields() -> None:
    d = Driver(blender())
    for k in range(40):
        out = d.tick(k)
    assert [s.symbol for s in out] == sorted(SYMBOLS)
    bar = real_bars("ETHBTC")[39]
    sig = out[1]
    assert sig.event_time == bar.event_time
    assert sig.trace_id == f"pred-ETHBTC-{bar.event_time.isoformat()}"
    assert sig.trace == {"ingest": 1, "predictor": 2}
    assert sig.price == bar.close
    assert (sig.p_peak, sig.p_valley) == (0.3, 0.4)
    assert [h.horizon for h in sig.horizons] == list(HORIZONS)
    assert all([w.family for w in h.weights] == list(FAMILIES) for h in sig.horizons)
    # Nothing without predictions: a bars-only tick emits no signal.
    d.core.on_bar(real_bars("ETHBTC")[40])
    assert d.core.end_tick() == []


@pytest.mark.parametrize("source", ["configured", "estimate"])
def test_quantities_follow_the_formulas(source: str) -> None:
    market = MarketConfig(spread_source=source)
    core = blender(market)
    d = Driver(core)
    for k in range(60):
        out = d.tick(k)
    stats = market.new_stats(288)
    for bar in real_bars("LTCBTC")[:60]:
        stats.update(bar.high, bar.low, bar.close, bar.volume)
    sigma1 = stats.sigma_bps(20)
    spread = stats.spread_bps(5.0, 30) if source == "estimate" else 5.0
    # The Abdi-Ranaldo estimate on these 5-minute BTC-quoted bars is several times the 5 bps.
    assert (spread > 15.0) is (source == "estimate")
    sig = out[2]
    assert sig.symbol == "LTCBTC"
    assert sig.spread_bps == pytest.approx(spread)
    for h, minutes, bars in zip(sig.horizons, (5, 10, 15, 30, 60, 1440), (1, 2, 3, 6, 12, 288), strict=True):
        assert h.sigma_bps == pytest.approx(sigma_horizon_bps(sigma1, bars))
        assert h.alpha_bps == pytest.approx(h.blended_score * h.sigma_bps)
        expected_cost = horizon_cost_bps(
            CostModel(),
            spread_bps=spread,
            sigma_1_bps=sigma1,
            interval_minutes=5,
            horizon_minutes=minutes,
            session_bars=288,
            planned_notional=5.0,
            price=sig.price,
            adv_shares=stats.adv_shares(),
        )
        assert h.cost_bps == pytest.approx(expected_cost)
        assert h.net_bps == pytest.approx(h.alpha_bps - math.copysign(1, h.alpha_bps) * h.cost_bps)
        assert h.score == pytest.approx(h.net_bps / math.sqrt(minutes / 5))
        assert h.reserve_bps == pytest.approx({5: 0.75, 10: 0.5}.get(minutes, 0.0) * spread)
        assert sum(w.final for w in h.weights) == pytest.approx(1.0)
    assert sig.alpha_5m_bps == sig.horizons[0].alpha_bps


def test_ridge_weights_use_pooled_correlation_and_ic() -> None:
    """With cost_lambda 0 (mu = IC), each symbol's weights are the independent ridge solution on
    the correlation of every z-score row seen so far (all symbols pooled), then tempered."""
    core = blender(cost_lambda=0.0)
    d = Driver(core)
    rows: dict[str, list[list[float]]] = {h: [] for h in HORIZONS}
    for k in range(50):
        rng = random.Random(k)
        for _ in SYMBOLS:
            ents = random_entries(rng)
            for h in HORIZONS:
                rows[h].append([e.zscore for e in ents if e.horizon == h])  # type: ignore[misc]
        out = d.tick(k)
    rng = random.Random(49)
    per_symbol = {s: random_entries(rng) for s in reversed(SYMBOLS)}
    for h_index, h in enumerate(HORIZONS):
        sigma = np.corrcoef(np.array(rows[h]), rowvar=False)
        temperature = {"5m": 0.75, "10m": 0.85, "15m": 0.90}.get(h, 1.0)
        for sig in out:
            ic = np.array([e.ic for e in per_symbol[sig.symbol] if e.horizon == h])
            expected = apply_temperature(ridge_risk_parity(sigma, ic, 0.15), temperature)
            got = [w.ridge for w in sig.horizons[h_index].weights]
            assert got == pytest.approx(expected, abs=1e-9)
            assert [w.final for w in sig.horizons[h_index].weights] == pytest.approx(expected, abs=1e-9)


def test_temperature_raises_the_entropy_of_the_5m_weights() -> None:
    tempered, plain = Driver(blender(cost_lambda=0.0)), Driver(blender(cost_lambda=0.0, temperature={}))
    for k in range(40):
        a, b = tempered.tick(k), plain.tick(k)
    gains = []
    for sa, sb in zip(a, b, strict=True):
        wa = [w.ridge for w in sa.horizons[0].weights]
        wb = [w.ridge for w in sb.horizons[0].weights]
        gains.append(entropy(np.array(wa)) - entropy(np.array(wb)))
        # The 1d horizon has T = 1 in both: untouched.
        assert [w.ridge for w in sa.horizons[5].weights] == [w.ridge for w in sb.horizons[5].weights]
    assert min(gains) >= -1e-12
    assert max(gains) > 0.01


def test_warming_up_horizon_is_hold_and_all_warming_is_hold() -> None:
    core = blender(cost=CHEAP, market=CHEAP_MARKET)
    bars = real_bars("ETHBTC")
    for bar in bars[:30]:
        core.on_bar(bar)
    ents = [entry(h, f, 3.0, confidence=1.0, warming_up=(h == "5m")) for h in HORIZONS for f in FAMILIES]
    core.add_predictions(predictions(bars[29], ents))
    (sig,) = core.end_tick()
    five = sig.horizons[0]
    assert (five.alpha_bps, five.confidence, five.blended_score) == (0.0, 0.0, 0.0)
    assert all(w.final == 0.0 for w in five.weights)
    assert sig.chosen_horizon != "5m"
    assert sig.decision is Decision.BUY  # scores of 3 with full confidence clear cheap costs

    core.add_predictions(
        predictions(bars[29], [entry(h, f, 3.0, warming_up=True) for h in HORIZONS for f in FAMILIES])
    )
    (sig,) = core.end_tick()
    assert sig.decision is Decision.HOLD
    assert sig.chosen_horizon is None
    assert sig.alpha_bps == 0.0


def test_hold_until_volatility_is_known() -> None:
    core = blender(cost=CHEAP, market=CHEAP_MARKET)
    bars = real_bars("ETHBTC")
    for bar in bars[:5]:
        core.on_bar(bar)
    core.add_predictions(
        predictions(bars[4], [entry(h, f, 3.0, confidence=1.0) for h in HORIZONS for f in FAMILIES])
    )
    (sig,) = core.end_tick()
    assert sig.decision is Decision.HOLD
    assert sig.chosen_horizon is None
    assert sig.horizons[0].cost_bps == pytest.approx(1.0)  # spread only


SHORT = ("5m", "10m", "15m")


def test_direction_follows_the_scores() -> None:
    core = blender(cost=CHEAP, market=CHEAP_MARKET)
    bars = real_bars("ETHBTC")
    for bar in bars[:30]:
        core.on_bar(bar)
    ents = [entry(h, f, -2.5 if h in SHORT else 0.0, confidence=0.9) for h in HORIZONS for f in FAMILIES]
    core.add_predictions(predictions(bars[29], ents))
    (sig,) = core.end_tick()
    assert sig.decision is Decision.SELL
    assert sig.chosen_horizon in SHORT
    assert sig.alpha_bps < 0
    assert sig.expected_net_bps < 0
    assert abs(sig.expected_net_bps) < abs(sig.alpha_bps)
    chosen = next(h for h in sig.horizons if h.horizon == sig.chosen_horizon)
    assert sig.sigma_bps == chosen.sigma_bps
    assert sig.confidence == pytest.approx(chosen.confidence)
    assert abs(chosen.score) >= chosen.cost_bps + chosen.reserve_bps


@pytest.mark.parametrize(
    ("pick", "decision"), [("best", Decision.HOLD), ("best_tradable", Decision.SELL), (None, Decision.SELL)]
)
def test_equal_conviction_ranks_the_long_horizon_first(pick: str | None, decision: Decision) -> None:
    """MATH.md as written ranks 1d first (its spread amortised over sqrt(288)) and then holds,
    its full cost being out of reach; ``best_tradable`` (the default, None here) trades a horizon
    that clears its own."""
    picked = {} if pick is None else {"arbitration_pick": pick}
    core = blender(CHEAP_MARKET, cost=CHEAP, **picked)
    bars = real_bars("ETHBTC")
    for bar in bars[:30]:
        core.on_bar(bar)
    core.add_predictions(
        predictions(bars[29], [entry(h, f, -2.5, confidence=0.9) for h in HORIZONS for f in FAMILIES])
    )
    (sig,) = core.end_tick()
    assert sig.decision is decision
    if pick == "best":
        assert sig.chosen_horizon == "1d"
        day = sig.horizons[5]
        assert abs(day.score) < day.cost_bps
        five = sig.horizons[0]
        assert abs(five.score) >= five.cost_bps + five.reserve_bps  # 5m alone would have traded
    else:
        assert sig.chosen_horizon != "1d"


def test_realised_outcomes_feed_the_bandit_by_contribution_share() -> None:
    core = blender(cost=CHEAP, market=CHEAP_MARKET)
    bars = real_bars("ETHBTC")
    for bar in bars[:30]:
        core.on_bar(bar)
    ents = [
        entry(h, f, z if h in SHORT else 0.0, confidence=1.0)
        for h in HORIZONS
        for f, z in zip(FAMILIES, (2.0, 1.0, -0.5), strict=True)
    ]
    core.add_predictions(predictions(bars[29], ents))
    (sig,) = core.end_tick()
    assert sig.decision is Decision.BUY
    h = sig.chosen_horizon
    hs = next(x for x in sig.horizons if x.horizon == h)
    minutes = {"5m": 5, "10m": 10, "15m": 15, "30m": 30, "60m": 60, "1d": 1440}[h]
    fill_bar = bars[30]
    core.on_bar(fill_bar)
    exe = execution(
        "ETHBTC",
        sig.event_time,
        fill_bar.event_time,
        side=OrderSide.BUY,
        quantity="100",
        price=f"{fill_bar.open}",
        commission="0.0001",
        horizon=h,
        client_order_id="RL-x",
        trade_id="T-x",
    )
    assert core.on_execution(exe)
    bandit_before = Exp3IX.from_dict(core.horizons[h].bandit.to_dict())
    due = fill_bar.event_time + timedelta(minutes=minutes)
    realised = []
    for bar in bars[31:]:
        realised += core.on_bar(bar)
        if bar.event_time >= due:
            break
    (outcome,) = realised
    assert bar.event_time == due
    commission_bps = 0.0001 / (100 * fill_bar.open) * 1e4
    net = (bar.close / fill_bar.open - 1) * 1e4 - commission_bps
    assert outcome.net_bps == pytest.approx(net)
    parts = [w.final * e.score for w, e in zip(hs.weights, [x for x in ents if x.horizon == h], strict=True)]
    assert outcome.rewards == pytest.approx(
        {f: p / sum(parts) * net for f, p in zip(FAMILIES, parts, strict=True)}
    )
    assert core.horizons[h].bandit.t == 1
    # Exactly the update the bandit makes for this outcome from its state before it.
    bandit_before.play(outcome.rewards, outcome.played, f"ETHBTC|{h}|RL-x")
    assert np.array_equal(bandit_before.log_u, core.horizons[h].bandit.log_u)
    assert core.status()["outcomes_realised"] == 1


def test_bandit_weights_enter_the_blend_after_the_warm_start() -> None:
    cfg = {"cost": CHEAP, "bandit": BanditConfig(warm_start_updates=3)}
    d = Driver(blender(CHEAP_MARKET, **cfg))
    mixed = None
    for k in range(200):
        for sig in d.tick(k):
            state = d.core.horizons["5m"].bandit
            h5 = sig.horizons[0]
            ridge = np.array([w.ridge for w in h5.weights])
            bandit = np.array([w.bandit for w in h5.weights])
            final = np.array([w.final for w in h5.weights])
            if state.t < 3:
                assert final == pytest.approx(ridge)
            else:
                assert final == pytest.approx(0.7 * ridge + 0.3 * bandit)
                assert bandit == pytest.approx(state.probabilities())
                mixed = k
    assert mixed is not None
    assert d.core.horizons["5m"].bandit.t >= 3


def test_restart_restores_identical_weights_and_signals() -> None:
    cfg = {"cost": CHEAP, "bandit": BanditConfig(warm_start_updates=5)}
    a = Driver(blender(CHEAP_MARKET, **cfg), warming=0.1)
    for k in range(120):
        a.tick(k)
    snap = a.core.snapshot()
    b = Driver(blender(CHEAP_MARKET, **cfg), warming=0.1)
    b.core.restore(snap)
    b.to_fill, b.fills_out = list(a.to_fill), list(a.fills_out)
    assert b.core.snapshot() == snap
    assert b.core.weights_view() == a.core.weights_view()
    for k in range(120, 260):
        sa, sb = a.tick(k), b.tick(k)
        assert [s.model_dump_json() for s in sa] == [s.model_dump_json() for s in sb]
    assert a.core.snapshot() == b.core.snapshot()
    view = a.core.weights_view()
    assert view == b.core.weights_view()
    assert a.core.status()["bandit_updates"] > 50  # the feedback loop did run
    assert any(view["horizons"][h]["bandit"]["in_blend"] for h in HORIZONS)
    assert set(view["horizons"]["5m"]["symbols"]) == set(SYMBOLS)


def test_restore_none_resets() -> None:
    d = Driver(blender())
    for k in range(30):
        d.tick(k)
    d.core.restore(None)
    assert d.core.market == {}
    assert d.core.status()["signals"] == 0


def test_stacking_method() -> None:
    d = Driver(blender(method="stacking", cost=CHEAP, market=CHEAP_MARKET))
    decisions = set()
    for k in range(60):
        for sig in d.tick(k):
            assert sig.method == "stacking"
            decisions.add(sig.decision)
            if sig.chosen_horizon is not None:
                eligible = [h for h in sig.horizons if h.confidence > 0 or h.alpha_bps]
                assert sig.chosen_horizon in {h.horizon for h in eligible}
    assert Decision.HOLD in decisions
    assert decisions & {Decision.BUY, Decision.SELL}


def test_refused_input_changes_nothing() -> None:
    core = blender()
    bar = real_bars("ETHBTC")[0]
    wrong = predictions(bar, [entry("5m", "gbt", 1.0)]).model_copy(update={"interval": "1m"})
    with pytest.raises(ValueError, match="interval"):
        core.add_predictions(wrong)
    repeated = predictions(bar, [entry("5m", "gbt", 1.0), entry("5m", "gbt", 2.0)])
    with pytest.raises(ValueError, match="repeated"):
        core.add_predictions(repeated)
    with pytest.raises(ValueError, match="interval"):
        core.on_bar(bar.model_copy(update={"interval": "1m"}))
    assert core.end_tick() == []
    assert core.market == {}


def test_new_family_extends_every_part() -> None:
    core = blender(cost=CHEAP, market=CHEAP_MARKET)
    bars = real_bars("ETHBTC")
    for k, bar in enumerate(bars[:40]):
        core.on_bar(bar)
        fams = FAMILIES if k < 30 else (*FAMILIES, "tcn")
        core.add_predictions(predictions(bar, [entry(h, f, 1.0) for h in HORIZONS for f in fams]))
        (sig,) = core.end_tick()
    assert [w.family for w in sig.horizons[0].weights] == ["gbt", "linear", "mlp", "tcn"]
    assert core.horizons["5m"].bandit.arms == ["gbt", "linear", "mlp", "tcn"]
    assert sum(w.final for w in sig.horizons[0].weights) == pytest.approx(1.0)


def test_configured_families_filter_entries() -> None:
    core = blender(families=("gbt", "mlp"))
    bar = real_bars("ETHBTC")[0]
    core.on_bar(bar)
    core.add_predictions(predictions(bar, [entry(h, f, 1.0) for h in HORIZONS for f in FAMILIES]))
    (sig,) = core.end_tick()
    assert [w.family for w in sig.horizons[0].weights] == ["gbt", "mlp"]
    assert core.status()["ignored_entries"] == len(HORIZONS)
