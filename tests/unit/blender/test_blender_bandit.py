"""Exp3-IX: the published update in log space, convergence on an adversarial sequence, no overflow."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ridgeline_blender.bandit import Exp3IX, draw, reward_to_loss, uniform

pytestmark = pytest.mark.unit

ARMS = ["gbt", "linear", "mlp"]


def test_reward_to_loss_by_hand() -> None:
    assert reward_to_loss(100.0, 100.0) == 0.0
    assert reward_to_loss(0.0, 100.0) == 0.5
    assert reward_to_loss(-100.0, 100.0) == 1.0
    assert reward_to_loss(50.0, 100.0) == 0.25
    assert reward_to_loss(1e300, 100.0) == 0.0
    assert reward_to_loss(-math.inf, 100.0) == 1.0


def test_one_step_by_hand() -> None:
    # p = 1/3 each; reward +50 -> loss 0.25; loss_hat = 0.25 / (1/3 + 0.05) = 0.652174;
    # t = 1: eta = min(0.07, sqrt(ln 3 / 3)) = 0.07 -> log u = -0.0456522 for the played arm.
    bandit = Exp3IX(ARMS, gamma=0.05, eta_max=0.07, reward_clip=100.0)
    bandit.step("linear", 50.0, 1 / 3)
    assert bandit.t == 1
    assert bandit.log_u.tolist() == pytest.approx([0.0, -0.07 * 0.25 / (1 / 3 + 0.05), 0.0])
    p = bandit.probabilities()
    e = math.exp(-0.0456522)
    assert p == pytest.approx([1 / (2 + e), e / (2 + e), 1 / (2 + e)], abs=1e-7)
    # eta decays as sqrt(ln K / (K t)) once below eta_max: t = 1000 -> 0.0191366.
    assert bandit.eta(1000) == pytest.approx(math.sqrt(math.log(3) / 3000))


def test_draw_is_inverse_cdf_of_a_hash() -> None:
    key = "ETHBTC|5m|RL-abc"
    u = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") / 2**64
    assert uniform(key) == u
    assert draw([0.2, 0.3, 0.5], key) == int(np.searchsorted(np.cumsum([0.2, 0.3, 0.5]), u, side="right"))
    # Frequencies follow the probabilities.
    counts = np.bincount([draw([0.2, 0.3, 0.5], f"k{i}") for i in range(20_000)], minlength=3)
    assert counts / counts.sum() == pytest.approx([0.2, 0.3, 0.5], abs=0.015)


def reference_run(rounds: list[dict[str, float]], gamma: float, eta_max: float, clip: float, seed: str):
    """Independent numpy Exp3-IX over the same rounds and the same keyed draws."""
    k = len(ARMS)
    log_w = np.zeros(k)
    t = 0
    for n, rewards in enumerate(rounds):
        p = np.exp(log_w - log_w.max())
        p /= p.sum()
        arms = sorted(a for a in rewards if not math.isnan(rewards[a]))
        if not arms:
            continue
        idx = [ARMS.index(a) for a in arms]
        q = p[idx] / p[idx].sum()
        digest = hashlib.blake2b(f"{seed}|{n}".encode(), digest_size=8).digest()
        u = int.from_bytes(digest, "big") / 2**64
        j = min(int(np.searchsorted(np.cumsum(q), u, side="right")), len(arms) - 1)
        r = np.clip(rewards[arms[j]], -clip, clip)
        loss = np.clip(0.5 - r / (2 * clip), 0, 1)
        t += 1
        eta = min(eta_max, np.sqrt(np.log(k) / (k * t)))
        log_w[idx[j]] -= eta * loss / (q[j] + gamma)
        log_w -= log_w.max()
    p = np.exp(log_w - log_w.max())
    return p / p.sum(), t


reward_values = st.one_of(
    st.floats(-500, 500), st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308, 0.0])
)


@settings(max_examples=150, deadline=None)
@given(
    rounds=st.lists(st.dictionaries(st.sampled_from(ARMS), reward_values, max_size=3), max_size=60),
    gamma=st.floats(0.01, 0.5),
    eta_max=st.floats(0.01, 1.0),
    clip=st.floats(10, 500),
)
def test_exp3ix_matches_numpy(
    rounds: list[dict[str, float]], gamma: float, eta_max: float, clip: float
) -> None:
    bandit = Exp3IX(ARMS, gamma, eta_max, clip)
    for n, rewards in enumerate(rounds):
        played = dict(zip(ARMS, bandit.probabilities().tolist(), strict=True))
        bandit.play(rewards, played, f"seed|{n}")
    expected, t = reference_run(rounds, gamma, eta_max, clip, "seed")
    assert bandit.t == t
    assert bandit.probabilities() == pytest.approx(expected, abs=1e-9)


def adversarial_reward(arm: str, t: int) -> float:
    """An oblivious adversary: a lure (mlp pays +100 for 500 rounds, then -40 for ever), a
    switching arm (gbt alternates +-100 every 50 rounds) and a steady +20 (linear, the best
    arm in hindsight)."""
    if arm == "gbt":
        return 100.0 if (t // 50) % 2 == 0 else -100.0
    if arm == "linear":
        return 20.0
    return 100.0 if t < 500 else -40.0


@pytest.mark.parametrize("seed", range(4))
def test_converges_to_the_best_arm_on_an_adversarial_sequence(seed: int) -> None:
    bandit = Exp3IX(ARMS)
    for t in range(4000):
        played = dict(zip(ARMS, bandit.probabilities().tolist(), strict=True))
        bandit.play({a: adversarial_reward(a, t) for a in ARMS}, played, f"{seed}|{t}")
        if t == 499:
            assert bandit.probabilities()[2] > 0.5  # it did chase the lure
    p = bandit.probabilities()
    assert int(np.argmax(p)) == ARMS.index("linear")
    assert p[1] > 0.6


def test_updating_every_contributing_arm_by_its_own_p_locks_onto_the_lure() -> None:
    """Why only the drawn arm is updated: the alternative reading never recovers."""
    log_w = np.zeros(3)
    for t in range(1, 4001):
        p = np.exp(log_w - log_w.max())
        p /= p.sum()
        losses = np.array([reward_to_loss(adversarial_reward(a, t - 1), 100.0) for a in ARMS])
        log_w -= min(0.07, math.sqrt(math.log(3) / (3 * t))) * losses / (p + 0.05)
        log_w -= log_w.max()
    p = np.exp(log_w)
    assert p[2] / p.sum() > 0.99


def test_never_overflows_on_extreme_rewards() -> None:
    bandit = Exp3IX(ARMS)
    extremes = [1e308, -1e308, math.inf, -math.inf, math.nan, 5e-324, -1e6]
    for t in range(20_000):
        rewards = {a: extremes[(t + i) % len(extremes)] for i, a in enumerate(ARMS)}
        bandit.play(rewards, dict(zip(ARMS, bandit.probabilities().tolist(), strict=True)), f"x{t}")
        # An always-worst arm as well: -inf every round for gbt.
        bandit.play({"gbt": -math.inf}, {"gbt": 1e-300}, f"y{t}")
    p = bandit.probabilities()
    assert np.isfinite(bandit.log_u).all()
    assert np.isfinite(p).all()
    assert p.sum() == pytest.approx(1.0)
    assert bandit.log_u.max() == 0.0


def test_nan_rewards_do_not_count_and_unknown_arms_are_ignored() -> None:
    bandit = Exp3IX(ARMS)
    assert bandit.play({"gbt": math.nan, "xgb": 10.0}, {}, "k") is None
    assert bandit.t == 0


def test_new_arm_starts_as_likely_as_the_best_and_restore_is_exact() -> None:
    bandit = Exp3IX(["gbt", "mlp"])
    for t in range(50):
        bandit.play({"gbt": 30.0, "mlp": -30.0}, {}, f"{t}")
    bandit.add_arm("linear")
    assert bandit.arms == ["gbt", "linear", "mlp"]
    log_u = bandit.log_u.tolist()
    assert log_u[1] == max(log_u)
    copy = Exp3IX.from_dict(bandit.to_dict())
    assert np.array_equal(copy.log_u, bandit.log_u)
    assert copy.t == bandit.t
    bandit.play({"mlp": 5.0}, {}, "z")
    copy.play({"mlp": 5.0}, {}, "z")
    assert np.array_equal(copy.probabilities(), bandit.probabilities())
