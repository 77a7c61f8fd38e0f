"""Exp3-IX (Neu, 2015), one bandit per horizon and one arm per model family (MATH.md s.2 Decision).

Kept in log space: ``p = softmax(log u)``; a reward in bps is clipped to +-``reward_clip`` and mapped
to a loss in [0, 1], ``loss = 0.5 - reward / (2 reward_clip)``; the implicit-exploration estimate
``loss_hat = loss / (p_i + gamma)`` is at most ``1 / gamma``, and ``log u_i -= eta loss_hat`` with
``eta = min(eta_max, sqrt(ln K / (K t)))``. Each step is bounded and the log-weights are shifted so
their maximum is 0, so no reward, however extreme, can overflow (the original ``exp(eta r / p)`` on
raw bps did).

**Which arm is updated (decision).** As published, one arm ``I_t ~ p`` is played per round and only
its loss is estimated, ``loss / (p_I + gamma)``. A blended trade has every family contributing, and
dividing *every* contributing family's loss by its own ``p_i + gamma`` is not that estimator: an
arm's loss is then seen with probability 1, not ``p_i``, so unlikely arms are over-penalised and
the bandit locks onto whichever arm led first (on the synthetic sequence of the tests, an early
lure keeps probability 1 forever while the best arm's falls to 0). So each realised outcome is one
round: the played arm is drawn among the families that contributed to the trade, from the bandit's
probabilities when the signal was made (renormalised over them), by a deterministic hash of the
outcome (horizon, client order id), so replays draw the same arm; that family's reward is its
contribution share of the realised net return.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def reward_to_loss(reward_bps: float, clip_bps: float) -> float:
    """Clipped reward -> loss in [0, 1]: +clip -> 0, 0 -> 0.5, -clip -> 1."""
    r = min(max(reward_bps, -clip_bps), clip_bps)
    return min(max(0.5 - r / (2.0 * clip_bps), 0.0), 1.0)


def softmax(log_u: FloatArray) -> FloatArray:
    if log_u.size == 0:
        return log_u.copy()
    z = np.exp(log_u - log_u.max())
    return np.asarray(z / z.sum(), dtype=float)


class Exp3IX:
    __slots__ = ("_log_u", "_probabilities", "arms", "eta_max", "gamma", "reward_clip", "t")
    _probabilities: FloatArray | None

    def __init__(
        self, arms: Sequence[str], gamma: float = 0.05, eta_max: float = 0.07, reward_clip: float = 100.0
    ) -> None:
        self.arms: list[str] = list(arms)
        self.gamma, self.eta_max, self.reward_clip = gamma, eta_max, reward_clip
        self.log_u = np.zeros(len(self.arms))
        self.t = 0

    @property
    def log_u(self) -> FloatArray:
        """The log-weights; replace them whole (assignment), never in place, or the cached
        probabilities go stale (:meth:`step` is the one in-place writer and clears them)."""
        return self._log_u

    @log_u.setter
    def log_u(self, value: FloatArray) -> None:
        self._log_u = value
        self._probabilities = None

    def eta(self, t: int) -> float:
        k = len(self.arms)
        if k < 2 or t < 1:
            return 0.0
        return min(self.eta_max, math.sqrt(math.log(k) / (k * t)))

    def probabilities(self) -> FloatArray:
        """``softmax(log u)``, cached until the next update (it changes only when an outcome
        matures, while every tick reads it): a read-only array, shared by all readers."""
        if self._probabilities is None:
            p = softmax(self._log_u)
            p.flags.writeable = False
            self._probabilities = p
        return self._probabilities

    def probabilities_of(self, arms: Sequence[str]) -> FloatArray:
        """The distribution restricted to ``arms`` (those able to play now), renormalised."""
        if list(arms) == self.arms:
            # The same softmax of the same values (bit for bit): the cached one.
            return self.probabilities()
        index = {a: i for i, a in enumerate(self.arms)}
        return softmax(self._log_u[[index[a] for a in arms]])

    def add_arm(self, arm: str) -> None:
        """A family that appears later starts as likely as the current best arm (optimistic)."""
        top = float(self.log_u.max()) if self.log_u.size else 0.0
        arms = sorted([*self.arms, arm])
        old = dict(zip(self.arms, self.log_u.tolist(), strict=True))
        self.arms = arms
        self.log_u = np.array([old.get(a, top) for a in arms], dtype=float)

    def step(self, arm: str, reward_bps: float, p_arm: float) -> None:
        """One Exp3-IX update of the played ``arm`` whose probability was ``p_arm``."""
        i = self.arms.index(arm)
        loss_hat = reward_to_loss(reward_bps, self.reward_clip) / (p_arm + self.gamma)
        self.t += 1
        log_u = self._log_u
        log_u[i] -= self.eta(self.t) * loss_hat
        log_u -= log_u.max()
        self._probabilities = None

    def play(self, rewards_bps: Mapping[str, float], p_played: Mapping[str, float], key: str) -> str | None:
        """One round from a realised outcome: draw the played arm among the contributing ones
        (``rewards_bps``) from ``p_played`` renormalised over them, then :meth:`step` it.

        Unknown arms and NaN rewards are left out (+-inf are clipped like any large reward).
        Returns the arm played, None when no arm could be.
        """
        known = set(self.arms)
        arms = sorted(a for a, r in rewards_bps.items() if a in known and not math.isnan(r))
        if not arms:
            return None
        current = dict(zip(self.arms, self.probabilities().tolist(), strict=True))
        weights = [max(p_played.get(a, current[a]), 0.0) for a in arms]
        total = sum(weights)
        probs = [w / total for w in weights] if total > 0 else [1.0 / len(arms)] * len(arms)
        arm = arms[draw(probs, key)]
        self.step(arm, rewards_bps[arm], probs[arms.index(arm)])
        return arm

    def to_dict(self) -> dict[str, Any]:
        """State only; the parameters come from configuration on restore."""
        return {"arms": self.arms, "log_u": self.log_u.tolist(), "t": self.t}

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], gamma: float = 0.05, eta_max: float = 0.07, reward_clip: float = 100.0
    ) -> Exp3IX:
        bandit = cls(data["arms"], gamma, eta_max, reward_clip)
        bandit.log_u = np.asarray(data["log_u"], dtype=float)
        bandit.t = int(data["t"])
        return bandit


def uniform(key: str) -> float:
    """A uniform number in [0, 1) fixed by ``key``: the same draw on every host and replay."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2.0**64


def draw(probabilities: Sequence[float], key: str) -> int:
    """Index drawn from ``probabilities`` by inverse CDF at :func:`uniform` of ``key``."""
    u, cumulative = uniform(key), 0.0
    for i, p in enumerate(probabilities):
        cumulative += p
        if u < cumulative:
            return i
    return len(probabilities) - 1
