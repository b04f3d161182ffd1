"""examples/cartpole.py: the NumPy CartPole, the two agents' quick runs, the saved policy.

The NumPy CartPole is checked against Gymnasium step for step when Gymnasium is installed
(``pip install "chainrule[gym]"``); everything else runs without it.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from helpers import load_example


@pytest.fixture(scope="module")
def cartpole() -> ModuleType:
    return load_example("cartpole")


def _balance(obs: np.ndarray) -> int:
    """A hand-written controller that keeps the pole up for the full 500 steps."""
    return int(obs[2] + 0.3 * obs[3] + 0.01 * obs[0] + 0.1 * obs[1] > 0)


# ---- the environment ---------------------------------------------------------------------

def test_numpy_cartpole_matches_gymnasium_step_for_step(cartpole: ModuleType) -> None:
    gym = pytest.importorskip("gymnasium", reason='pip install "chainrule[gym]"')
    rng = np.random.default_rng(0)
    lengths = []
    for seed in range(12):
        theirs, ours = gym.make("CartPole-v1"), cartpole.CartPole()
        for episode in range(2):  # the second reset continues the seeded generator
            a, _ = theirs.reset(seed=seed if episode == 0 else None)
            b, _ = ours.reset(seed=seed if episode == 0 else None)
            np.testing.assert_array_equal(a, b)
            steps = 0
            while True:
                # random pushes for some episodes, the balancing controller for others
                action = int(rng.integers(2)) if seed % 3 == 0 else _balance(a)
                ta, tr, tterm, ttrunc, _ = theirs.step(action)
                oa, orew, oterm, otrunc, _ = ours.step(action)
                assert oa.dtype == ta.dtype == np.float32
                np.testing.assert_array_equal(oa, ta)  # to the last bit
                assert (orew, oterm, otrunc) == (tr, tterm, ttrunc), (seed, steps)
                a, steps = ta, steps + 1
                if tterm or ttrunc:
                    break
            lengths.append(steps)
    assert max(lengths) == 500 and min(lengths) < 60  # both ends: truncation and failure


def test_numpy_cartpole_dynamics_limits_and_seeding(cartpole: ModuleType) -> None:
    env = cartpole.CartPole()
    start, _ = env.reset(seed=3)
    assert np.array_equal(start, env.reset(seed=3)[0])
    assert not np.array_equal(start, env.reset(seed=4)[0])
    assert start.dtype == np.float32 and np.all(np.abs(start) <= 0.05)
    # from rest, one push right: the cart accelerates right, the pole tips left
    env.state = np.zeros(4)
    obs, reward, terminated, truncated, _ = env.step(1)
    temp = 10.0 / 1.1                                    # force / total mass
    theta_acc = -temp / (0.5 * (4 / 3 - 0.1 / 1.1))      # pole length 0.5, masses 0.1 + 1.0
    x_acc = temp - 0.05 * theta_acc / 1.1
    np.testing.assert_allclose(obs, [0.0, 0.02 * x_acc, 0.0, 0.02 * theta_acc], rtol=1e-6)
    assert reward == 1.0 and not terminated and not truncated
    # pushing right forever tips the pole past 12 degrees
    env.reset(seed=0)
    steps, terminated = 0, False
    while not terminated and steps < 100:
        obs, reward, terminated, truncated, _ = env.step(1)
        steps += 1
    assert terminated and reward == 1.0 and abs(obs[2]) > 12 * math.pi / 180 and steps < 20
    with pytest.raises(RuntimeError, match="reset"):
        env.step(0)
    # a balancing controller lasts exactly 500 steps: truncated, not terminated
    obs, _ = env.reset(seed=1)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        obs, reward, terminated, truncated, _ = env.step(_balance(obs))
        steps += 1
    assert (steps, terminated, truncated) == (500, False, True)
    env.reset()
    with pytest.raises(ValueError, match="action must be 0"):
        env.step(2)


def test_random_policy_scores_about_22(cartpole: ModuleType) -> None:
    env, rng, returns = cartpole.CartPole(), np.random.default_rng(0), []
    env.reset(seed=0)
    for _ in range(300):
        env.reset()
        total, done = 0.0, False
        while not done:
            _, r, terminated, truncated, _ = env.step(int(rng.integers(2)))
            total, done = total + r, terminated or truncated
        returns.append(total)
    assert 19 < np.mean(returns) < 26  # the baseline the agents' tests compare with


def test_make_env_without_gymnasium(cartpole: ModuleType,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gymnasium", None)  # import gymnasium fails
    assert isinstance(cartpole.make_env("auto"), cartpole.CartPole)
    with pytest.raises(ImportError, match=r"chainrule\[gym\]"):
        cartpole.make_env("gymnasium")
    with pytest.raises(ValueError, match="'auto', 'gymnasium' or 'numpy'"):
        cartpole.make_env("atari")


def test_replay_buffer_keeps_the_last_transitions(cartpole: ModuleType) -> None:
    buf = cartpole.ReplayBuffer(3)
    for i in range(5):
        buf.add(np.full(4, i), i % 2, float(i), np.full(4, i + 1), i == 4)
    assert len(buf) == 3 and sorted(buf.rewards.tolist()) == [2.0, 3.0, 4.0]
    s, a, r, s2, done = buf.sample(64, np.random.default_rng(0))
    assert s.shape == s2.shape == (64, 4) and s.dtype == np.float32 and a.dtype == np.int64
    assert set(r.tolist()) == {2.0, 3.0, 4.0}  # only what is kept, each drawn
    np.testing.assert_array_equal(s[:, 0], r)
    np.testing.assert_array_equal(s2[:, 0], r + 1)
    np.testing.assert_array_equal(done, r == 4.0)
    np.testing.assert_array_equal(a, r % 2)


# ---- the agents ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_run(cartpole: ModuleType, tmp_path_factory: pytest.TempPathFactory
           ) -> tuple[dict[str, Any], Path]:
    path = tmp_path_factory.mktemp("cartpole") / "policy.safetensors"
    return cartpole.main("pg", quick=True, out=str(path), verbose=False), path


def test_actor_critic_quick_learns_to_balance(pg_run: tuple[dict[str, Any], Path]) -> None:
    r, _ = pg_run
    assert r["env"] == "numpy" and r["agent"] == "pg"
    returns = r["returns"]
    assert np.mean(returns[:20]) < 40  # it starts about as a random policy (~22)
    assert r["last_average"] > 80      # the last 20 training episodes, sampled actions
    assert r["eval_mean"] > 200  # the greedy policy, 20 episodes
    assert r["check_mean"] is None  # the 100-episode check is left to full runs
    assert r["evaluations"] == [(r["env_steps"], r["eval_mean"])]  # quick: once, at the end
    assert len(r["moving_average"]) == len(returns)
    assert r["moving_average"][-1] == pytest.approx(np.mean(returns[-20:]))


def test_dqn_quick_learns_to_balance(cartpole: ModuleType) -> None:
    r = cartpole.main("dqn", quick=True, verbose=False)
    assert r["env"] == "numpy" and r["agent"] == "dqn" and r["model"] is None
    assert np.mean(r["returns"][:20]) < 40
    assert r["last_average"] > 60  # ε-greedy still explores in the quick run
    assert r["eval_mean"] > 150


def test_same_seed_same_run(cartpole: ModuleType) -> None:
    runs = [cartpole.main("pg", quick=True, steps=2048, seed=s, verbose=False)
            for s in (5, 5, 6)]
    assert runs[0]["returns"] == runs[1]["returns"]
    assert runs[0]["eval_returns"] == runs[1]["eval_returns"]
    assert runs[0]["returns"] != runs[2]["returns"]


def test_main_rejects_an_unknown_agent(cartpole: ModuleType) -> None:
    with pytest.raises(ValueError, match="'pg' or 'dqn'"):
        cartpole.main("ppo", quick=True)


# ---- the saved policy ----------------------------------------------------------------

def _observations(n: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    return (rng.normal(size=(n, 4)) * [0.5, 0.5, 0.05, 0.5]).astype(np.float32)


def test_saved_policy_loads_with_its_metadata(cartpole: ModuleType,
                                              pg_run: tuple[dict[str, Any], Path]) -> None:
    import chainrule as cr

    r, path = pg_run
    net, meta = cr.io.load_with_metadata(path)
    assert meta["classes"] == ["left", "right"]
    assert meta["feature_names"] == ["cart_position", "cart_velocity", "pole_angle",
                                     "pole_angular_velocity"]
    assert meta["task"] == "classification" and meta["input_shape"] == [4]
    assert meta["agent"] == "pg" and meta["eval_mean_return"] == r["eval_mean"]
    # the file's policy is the one evaluated: same greedy returns on the same seeds
    np.testing.assert_array_equal(cartpole.evaluate(net, "numpy"), r["eval_returns"])


def test_chainrule_predict_prints_the_policy_actions(
        cartpole: ModuleType, pg_run: tuple[dict[str, Any], Path], tmp_path: Path) -> None:
    import chainrule as cr

    _, path = pg_run
    obs = _observations(50)
    # columns by name, in another order than the model's
    order = [2, 0, 3, 1]
    names = [cartpole.FEATURES[i] for i in order]
    csv_path = tmp_path / "observations.csv"
    np.savetxt(csv_path, obs[:, order], delimiter=",", header=",".join(names), comments="")
    done = subprocess.run([sys.executable, "-m", "chainrule", "predict", str(path),
                           str(csv_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == ["prediction", "prob_left", "prob_right"]
    expected = cartpole.greedy(cr.io.load(path), obs)
    assert [row["prediction"] for row in rows] == [cartpole.ACTIONS[a] for a in expected]
    assert 0 < sum(expected) < len(expected)  # both actions occur
    p_right = np.array([float(row["prob_right"]) for row in rows])
    logits = cartpole.outputs(cr.io.load(path), obs)
    np.testing.assert_allclose(p_right, 1 / (1 + np.exp(logits[:, 0] - logits[:, 1])),
                               rtol=1e-5)


def test_example_docstrings(cartpole: ModuleType) -> None:
    import doctest

    assert doctest.testmod(cartpole, verbose=False).failed == 0
