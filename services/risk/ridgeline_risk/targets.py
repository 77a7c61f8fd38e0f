"""From one symbol's signal and current holding to a target weight (MATH.md s.3, per symbol).

Order of the steps, and why:
1. stale data (spread gate): freeze the current weight; nothing is decided on data we cannot trust.
2. HOLD (the blender found no edge after costs): the current weight.
   BUY / SELL: ``z`` weight times the barrier gate of that side.
3. barrier entry block: the new weight may not add exposure on the blocked side (it may still
   reduce an opposite position or keep the current one).
4. wide spread (spread gate): reduce-only, the target is clipped into ``[min(0, w), max(0, w)]``.
5. exit rule: a long with P_peak > exit_prob or alpha_5m < 0 goes to at most 0 (shorts mirror).
Then, across the portfolio (:func:`settle`): gross normalisation, and the no-trade band last.

**Decision:** MATH.md lists the band before the gross normalisation. Applied in that order, the
band compares an unscaled target with a holding that was scaled, so whenever the gross target binds
every symbol trades again on every bar (0.2 vs 0.1 never falls inside a 0.008 band). The band is
therefore applied to the normalised weight; it is what the band is for (no trade for a change
smaller than 0.8 %). Exits skip the band, so a small position is still closed.
"""

from __future__ import annotations

from typing import NamedTuple

from ridgeline_risk.config import RiskConfig
from ridgeline_risk.gates import barrier_gate, entry_block, entry_preferred, exit_triggered, spread_gate
from ridgeline_risk.sizing import within_band, z_weight
from ridgeline_shared.messages import Decision


class SignalView(NamedTuple):
    """What the per-symbol decision needs; built by the engine from a Signal and risk's own data."""

    decision: Decision
    alpha_bps: float
    sigma_bps: float
    alpha_5m_bps: float
    p_peak: float | None
    p_valley: float | None
    spread_bps: float
    data_age_ms: float
    previous_p_peak: float | None = None
    previous_p_valley: float | None = None


class Intent(NamedTuple):
    """Target weight of one symbol. ``keep``: the target is the current holding exactly (so the
    order step does not re-derive shares from a weight and trade a rounding difference);
    ``frozen``: keep it whatever the portfolio step says (stale data)."""

    weight: float
    keep: bool
    reason: str
    gate: float = 1.0
    exit: bool = False
    frozen: bool = False


def _reduce_only(weight: float, current: float) -> float:
    return min(max(weight, min(0.0, current)), max(0.0, current))


def decide(view: SignalView, current: float, cfg: RiskConfig) -> Intent:
    """Steps 1-5: the symbol's own target, before the portfolio step."""
    gate = spread_gate(view.spread_bps, view.data_age_ms, cfg)
    if gate.stale:
        return Intent(current, keep=True, reason="stale", frozen=True)

    weight, reason, g = current, "hold", 1.0
    tradable = view.decision is not Decision.HOLD and view.sigma_bps > 0.0
    # A signal whose alpha disagrees with its own decision is not acted on.
    consistent = (view.alpha_bps > 0.0) if view.decision is Decision.BUY else (view.alpha_bps < 0.0)
    if tradable and consistent:
        raw = z_weight(view.alpha_bps, view.sigma_bps, cfg.max_weight, cfg.z_max)
        long = raw > 0.0
        g = barrier_gate(view.p_peak, view.p_valley, long, cfg)
        weight, reason = raw * g, "signal"
        block = entry_block(view.p_peak, view.p_valley, g, long, cfg)
        if block is not None:
            capped = min(weight, max(current, 0.0)) if long else max(weight, min(current, 0.0))
            if capped != weight:
                weight, reason = capped, f"{block}_block"
        else:
            previous = view.previous_p_valley if long else view.previous_p_peak
            if entry_preferred(view.p_peak, view.p_valley, previous, long, cfg):
                reason = "signal_preferred"

    if gate.wide:
        reduced = _reduce_only(weight, current)
        if reduced != weight:
            weight, reason = reduced, "wide_spread"

    if current != 0.0:
        long_held = current > 0.0
        if exit_triggered(view.p_peak, view.p_valley, view.alpha_5m_bps, long_held, cfg):
            exited = min(weight, 0.0) if long_held else max(weight, 0.0)
            return Intent(exited, keep=False, reason="exit", gate=g, exit=True)
    return Intent(weight, keep=False, reason=reason, gate=g)


def settle(intent: Intent, current: float, scale: float, cfg: RiskConfig) -> Intent:
    """The portfolio step for one symbol: the gross scale, then the no-trade band."""
    if intent.frozen:
        return intent
    weight = intent.weight * scale
    reason = intent.reason if scale == 1.0 else f"{intent.reason}+gross_scale"
    if not intent.exit and within_band(weight, current, cfg.no_trade_band):
        kept = "band" if intent.reason in ("signal", "signal_preferred") else intent.reason
        return Intent(current, True, kept, intent.gate, intent.exit, intent.frozen)
    return Intent(weight, False, reason, intent.gate, intent.exit, intent.frozen)
