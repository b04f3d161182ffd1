"""Two agents learn to balance CartPole-v1, their networks trained by chainrule.

    pip install "chainrule[gym]"                   # Gymnasium (optional, see below)
    python examples/cartpole.py --agent pg         # advantage actor-critic
    python examples/cartpole.py --agent dqn        # deep Q-network
    chainrule predict cartpole_pg.safetensors observations.csv

A pole stands on a cart; each step the agent pushes the cart left or right and earns 1
point while the pole is within 12° of upright and the cart within 2.4 units of the centre.
An episode ends when either fails, or after 500 steps: 500 is the best possible return. A
random agent keeps the pole up for about 22 steps. An agent is *solved* here when its
greedy policy (always the action the network rates best) scores 500 in each of 20
evaluation episodes.

The environment is Gymnasium's ``CartPole-v1`` when Gymnasium is installed; otherwise
``CartPole`` below, a NumPy re-implementation of the same equations, constants, time limit
and seeding, which gives the same observations step for step (a test checks it against
Gymnasium). The quick mode (the tests) always uses the NumPy one.

- ``--agent pg``: advantage actor-critic (A2C). An actor (Standardize → 4-64-64-2, tanh)
  gives the action probabilities, a critic (same shape, one output) the state value V(s).
  8 environments run side by side; every 64 steps (512 transitions) one update with
  advantages from generalised advantage estimation (γ = 0.99, λ = 0.95, normalised),
  loss = −log π(a|s)·A − 0.01·entropy + 0.5·(V(s) − return)², Adam (lr 1e-3), gradients
  clipped to norm 0.5. An episode cut off at 500 steps bootstraps from V of its last
  observation (it did not fail).
- ``--agent dqn``: deep Q-network (Mnih et al. 2015) with a double-DQN target. The network
  (Standardize → 4-128-128-2, ReLU) rates both actions; ε-greedy exploration from ε = 1
  to 0.05 over the first 10,000 steps; every step a batch of 64 transitions from a replay
  buffer of 100,000 (every transition of a run) is fitted to
  r + γ·Q_target(s', argmax_a Q(s', a)) with the Huber loss (Adam, lr 5e-4, gradients
  clipped to norm 10); the target network copies the online one every 500 steps.

Both evaluate the greedy policy on 20 episodes (seeds 1,000,000…1,000,019) every few
thousand training steps and stop once all 20 score 500; the policy is then checked on
100 fresh episodes and saved as a model file that ``chainrule predict`` reads: its input
columns are the four observations (``cart_position, cart_velocity, pole_angle,
pole_angular_velocity``, raw values as the environment gives them: the first layer scales
them), its classes the two actions (``left``, ``right``). For the DQN file the
``prob_*`` columns are a softmax of the Q-values, not a trained distribution; the
``prediction`` column is the greedy action either way.

MEASURED on a shared 2-core machine (so the times are rough), Gymnasium 1.4.0, seeds 0-9.
"steps": training steps until the greedy policy first scored 500 in all 20 evaluation
episodes (evaluated every 2,048 steps for pg, at the first episode end after every 1,000
for dqn); "check": the mean return of that policy over 100 further episodes:

    agent  seed 0                 seeds 0-9: steps, median (range)   check = 500   time
    pg     8,192 steps, 0.5 s     8,192 (2,048 - 184,320)            6 of 10 (*)   0.2-7.5 s
    dqn    7,223 steps, 6.5 s     5,746 (2,042 - 17,673)             9 of 10 (**)  1.1-15 s

(*) the other four 490.7, 495.0, 495.8, 499.95; (**) the other 455.6. Every run solved;
two actor-critic runs took long (seed 6: 184,320 steps, seed 8: 137,216). The greedy
policy often balances long before the sampled (pg) or ε-greedy (dqn) training episodes
do: at the solving evaluation the last 20 training episodes averaged 26 to 392. The
evaluations take steps too (not learnt from): 37,390 (pg) and 27,268 (dqn) for seed 0.
The same run on the NumPy CartPole (``--env numpy``) gives the same curve and bit-for-bit
the same weights.

``main(quick=True)`` trains for a few thousand steps on the NumPy CartPole (a few seconds;
the tests, tests/test_examples.py) and returns the figures as a dict.
"""

from __future__ import annotations

import argparse
import copy
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.losses import huber_loss, mse_loss

FEATURES = ["cart_position", "cart_velocity", "pole_angle", "pole_angular_velocity"]
ACTIONS = ["left", "right"]
# typical spread of each observation while balancing: the network's first layer divides
# by it so that all four inputs are of order one
OBS_SCALE = [1.0, 1.0, 0.1, 1.0]
EVAL_SEED = 1_000_000   # evaluation episodes use seeds EVAL_SEED + i, never seen in training
CHECK_SEED = 2_000_000  # the final check on 100 more episodes


# ---- the environment ---------------------------------------------------------------------

class CartPole:
    """CartPole-v1 in NumPy, with Gymnasium's API (``reset``, ``step``).

    The classic cart-pole equations (Barto, Sutton & Anderson 1983, as Gymnasium writes
    them): gravity 9.8, cart mass 1.0, pole mass 0.1, half-length 0.5, force ±10, explicit
    Euler steps of 0.02 s. The episode terminates when the pole leaves ±12° or the cart
    ±2.4, and is truncated after 500 steps. The start state is uniform in ±0.05, drawn
    from ``np.random.default_rng(seed)`` as Gymnasium draws it, so a seed gives the same
    episode here and in ``gymnasium.make("CartPole-v1")``.

    Example:
        >>> env = CartPole()
        >>> obs, info = env.reset(seed=0)
        >>> obs.shape, obs.dtype
        ((4,), dtype('float32'))
        >>> obs, reward, terminated, truncated, info = env.step(1)
        >>> reward, terminated, truncated
        (1.0, False, False)
    """

    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    total_mass = masspole + masscart
    polemass_length = masspole * length
    theta_limit = 12 * 2 * math.pi / 360
    x_limit = 2.4
    max_episode_steps = 500

    def __init__(self) -> None:
        self.rng: np.random.Generator | None = None
        self.state: np.ndarray | None = None
        self.steps = 0
        self.done = True

    def reset(self, *, seed: int | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``seed`` re-seeds the start-state generator (as Gymnasium)."""
        if seed is not None or self.rng is None:
            self.rng = np.random.default_rng(seed)
        self.state = self.rng.uniform(low=-0.05, high=0.05, size=(4,))
        self.steps, self.done = 0, False
        return self.state.astype(np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Push left (0) or right (1) for 0.02 s: ``(obs, reward, terminated, truncated,
        info)``."""
        if self.done:
            raise RuntimeError("CartPole.step: the episode has ended; call reset() first")
        if action not in (0, 1):
            raise ValueError(f"CartPole.step: action must be 0 (left) or 1 (right), "
                             f"got {action!r}")
        x, x_dot, theta, theta_dot = self.state
        force = self.force_mag if action == 1 else -self.force_mag
        cos, sin = np.cos(theta), np.sin(theta)
        # the operations in Gymnasium's order, so the floats agree to the last bit
        temp = (force + self.polemass_length * np.square(theta_dot) * sin) / self.total_mass
        theta_acc = (self.gravity * sin - cos * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(cos) / self.total_mass))
        x_acc = temp - self.polemass_length * theta_acc * cos / self.total_mass
        x, x_dot = x + self.tau * x_dot, x_dot + self.tau * x_acc
        theta, theta_dot = theta + self.tau * theta_dot, theta_dot + self.tau * theta_acc
        self.state = np.array((x, x_dot, theta, theta_dot), dtype=np.float64)
        self.steps += 1
        terminated = bool(abs(x) > self.x_limit or abs(theta) > self.theta_limit)
        truncated = self.steps >= self.max_episode_steps
        self.done = terminated or truncated
        return self.state.astype(np.float32), 1.0, terminated, truncated, {}


def make_env(backend: str = "auto") -> Any:
    """A CartPole-v1 environment: ``'gymnasium'``, ``'numpy'`` (``CartPole``) or ``'auto'``
    (Gymnasium when installed)."""
    if backend not in ("auto", "gymnasium", "numpy"):
        raise ValueError(f"env backend must be 'auto', 'gymnasium' or 'numpy', got "
                         f"{backend!r}")
    if backend != "numpy":
        try:
            import gymnasium
        except ImportError:
            if backend == "gymnasium":
                raise ImportError('Gymnasium is not installed: pip install "chainrule[gym]" '
                                  "(or gymnasium>=1.0), or use the NumPy CartPole "
                                  "(--env numpy)") from None
        else:
            return gymnasium.make("CartPole-v1")
    return CartPole()


def env_backend(env: Any) -> str:
    return "numpy" if isinstance(env, CartPole) else "gymnasium"


# ---- networks, acting, evaluating, saving ----------------------------------------------------

def mlp(outputs: int, hidden: int, activation: type[nn.Module]) -> nn.Sequential:
    """Standardize(raw observations) → Linear(4, h) → act → Linear(h, h) → act →
    Linear(h, outputs)."""
    return nn.Sequential(
        nn.Standardize(mean=[0.0] * 4, std=OBS_SCALE),
        nn.Linear(4, hidden), activation(),
        nn.Linear(hidden, hidden), activation(),
        nn.Linear(hidden, outputs))


def outputs(net: nn.Module, obs: np.ndarray) -> np.ndarray:
    """The network's outputs for a batch of observations (N, 4), without a graph."""
    with cr.no_grad():
        return net(cr.tensor(np.asarray(obs, np.float32))).numpy()


def greedy(net: nn.Module, obs: np.ndarray) -> np.ndarray:
    """The greedy actions (N,) for observations (N, 4): the largest output."""
    return outputs(net, obs).argmax(axis=1)


def evaluate(net: nn.Module, backend: str, episodes: int = 20,
             seed: int = EVAL_SEED) -> np.ndarray:
    """Returns of ``episodes`` greedy episodes (seeds ``seed``, ``seed + 1``, …), run side
    by side so that each step is one forward pass."""
    envs = [make_env(backend) for _ in range(episodes)]
    obs = np.stack([env.reset(seed=seed + i)[0] for i, env in enumerate(envs)])
    returns = np.zeros(episodes)
    live = np.ones(episodes, bool)
    while live.any():
        idx = np.flatnonzero(live)
        for i, a in zip(idx, greedy(net, obs[idx])):
            obs[i], reward, terminated, truncated, _ = envs[i].step(int(a))
            returns[i] += reward
            live[i] = not (terminated or truncated)
    return returns


def save_policy(net: nn.Module, path: str, agent: str, info: dict[str, Any]) -> None:
    """Write ``net`` as a model file that ``chainrule predict`` reads: four observation
    columns in, one of the two actions out."""
    from chainrule.io import save
    from chainrule.train.run import METADATA_FORMAT

    metadata = {
        # the keys `chainrule predict` reads from a model it can feed from a CSV
        "format": METADATA_FORMAT, "task": "classification", "classes": ACTIONS,
        "num_classes": 2, "num_outputs": 2, "feature_names": FEATURES, "input_shape": [4],
        "environment": "CartPole-v1", "agent": agent,
        "outputs": "action logits" if agent == "pg" else "Q-values (prob_* is their softmax)",
        **info,
    }
    save(net, path, metadata=metadata)


class Curve:
    """Episode returns as they finish, their moving average, and the printed curve."""

    def __init__(self, window: int, print_every: int, log: Callable[..., None]) -> None:
        self.returns: list[float] = []
        self.averages: list[float] = []
        self.window, self.print_every, self.log = window, print_every, log

    def add(self, ret: float, steps: int) -> None:
        self.returns.append(float(ret))
        self.averages.append(float(np.mean(self.returns[-self.window:])))
        n = len(self.returns)
        if n % self.print_every == 0:
            self.log(f"  episode {n:5d}  steps {steps:7,d}  return {ret:5.0f}  "
                     f"average of last {self.window} {self.averages[-1]:6.1f}")


class Evaluator:
    """Evaluates the greedy policy every ``every`` steps; keeps the best weights."""

    def __init__(self, net: nn.Module, backend: str, every: int, episodes: int,
                 log: Callable[..., None]) -> None:
        self.net, self.backend, self.every, self.episodes = net, backend, every, episodes
        self.log = log
        self.next_at = every
        self.best_mean, self.best_state, self.best_returns = -1.0, None, None
        self.solved_at: int | None = None
        self.history: list[tuple[int, float]] = []
        self.env_steps = 0  # steps spent evaluating (not learned from)

    def due(self, steps: int) -> bool:
        return steps >= self.next_at

    def __call__(self, steps: int) -> bool:
        """Evaluate now; True once every episode scores the maximum, 500."""
        self.next_at = steps + self.every
        returns = evaluate(self.net, self.backend, self.episodes)
        mean = float(returns.mean())
        self.env_steps += int(returns.sum())  # one point per step
        self.history.append((steps, mean))
        self.log(f"  eval at {steps:7,d} steps: greedy policy, {self.episodes} episodes: "
                 f"mean {mean:5.1f}, min {returns.min():3.0f}")
        if mean > self.best_mean:
            self.best_mean, self.best_returns = mean, returns
            self.best_state = copy.deepcopy(self.net.state_dict())
        if mean >= CartPole.max_episode_steps:
            self.solved_at = steps
            return True
        return False


# ---- the policy-gradient agent: advantage actor-critic ---------------------------------------

def train_pg(backend: str, seed: int, max_steps: int, curve: Curve,
             evaluator_of: Callable[[nn.Module], Evaluator], n_envs: int = 8,
             rollout: int = 64, hidden: int = 64, lr: float = 1e-3, gamma: float = 0.99,
             lam: float = 0.95, entropy_coef: float = 0.01, value_coef: float = 0.5,
             max_grad_norm: float = 0.5) -> tuple[nn.Module, Evaluator, int]:
    """A2C: ``n_envs`` environments, one update per ``rollout`` steps of each."""
    actor, critic = mlp(2, hidden, nn.Tanh), mlp(1, hidden, nn.Tanh)
    params = list(actor.parameters()) + list(critic.parameters())
    opt = optim.Adam(params, lr=lr)
    evaluator = evaluator_of(actor)
    rng = np.random.default_rng(seed)
    envs = [make_env(backend) for _ in range(n_envs)]
    obs = np.stack([env.reset(seed=1000 * seed + i)[0] for i, env in enumerate(envs)])
    running = np.zeros(n_envs)
    steps = 0
    T, N = rollout, n_envs
    while steps < max_steps:
        S = np.zeros((T, N, 4), np.float32)
        A = np.zeros((T, N), np.int64)
        R = np.zeros((T, N))
        ends = np.zeros((T, N), bool)        # the episode ended after this step
        cut: list[tuple[int, int, np.ndarray]] = []  # truncated: (t, i, last observation)
        for t in range(T):
            logits = outputs(actor, obs)
            p_right = 1.0 / (1.0 + np.exp(logits[:, 0] - logits[:, 1]))
            actions = (rng.random(N) < p_right).astype(np.int64)
            S[t], A[t] = obs, actions
            for i, env in enumerate(envs):
                o, r, terminated, truncated, _ = env.step(int(actions[i]))
                R[t, i] = r
                running[i] += r
                if terminated or truncated:
                    ends[t, i] = True
                    if truncated and not terminated:
                        cut.append((t, i, o))
                    curve.add(running[i], steps + (t + 1) * N)
                    running[i] = 0.0
                    o, _ = env.reset()
                obs[i] = o
        steps += T * N
        # a truncated episode did not fail: its value goes on, estimated by the critic
        if cut:
            v_cut = outputs(critic, np.stack([o for _, _, o in cut]))[:, 0]
            for (t, i, _), v in zip(cut, v_cut):
                R[t, i] += gamma * v
        values = critic(cr.tensor(S.reshape(T * N, 4))).reshape(T, N)
        v = values.detach().numpy().astype(np.float64)
        v_next = outputs(critic, obs)[:, 0].astype(np.float64)
        adv = np.zeros((T, N))
        gae = np.zeros(N)
        for t in reversed(range(T)):  # generalised advantage estimation
            nxt = v_next if t == T - 1 else v[t + 1]
            keep = 1.0 - ends[t]
            delta = R[t] + gamma * nxt * keep - v[t]
            gae = delta + gamma * lam * keep * gae
            adv[t] = gae
        returns = (adv + v).astype(np.float32)
        adv = ((adv - adv.mean()) / (adv.std() + 1e-8)).astype(np.float32)

        logp = actor(cr.tensor(S.reshape(T * N, 4))).log_softmax(dim=1)
        logp_a = logp.gather(1, cr.tensor(A.reshape(-1, 1))).squeeze(1)
        entropy = -(logp.exp() * logp).sum(dim=1).mean()
        policy_loss = -(logp_a * cr.tensor(adv.reshape(-1))).mean()
        value_loss = mse_loss(values.reshape(-1), cr.tensor(returns.reshape(-1)))
        loss = policy_loss - entropy_coef * entropy + value_coef * value_loss
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        if evaluator.due(steps) and evaluator(steps):
            break
    return actor, evaluator, steps


# ---- the value-based agent: deep Q-network -----------------------------------------------

class ReplayBuffer:
    """The last ``capacity`` transitions (s, a, r, s', terminated) in NumPy arrays; a
    batch is drawn uniformly.

    Example:
        >>> buf = ReplayBuffer(100)
        >>> buf.add(np.zeros(4), 1, 1.0, np.ones(4), False)
        >>> s, a, r, s2, done = buf.sample(8, np.random.default_rng(0))
        >>> s.shape, a.tolist()[:2], len(buf)
        ((8, 4), [1, 1], 1)
    """

    def __init__(self, capacity: int) -> None:
        self.obs = np.zeros((capacity, 4), np.float32)
        self.next_obs = np.zeros((capacity, 4), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.terminated = np.zeros(capacity, np.float32)
        self.capacity, self.size, self.pos = capacity, 0, 0

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray,
            terminated: bool) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, terminated
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
        idx = rng.integers(0, self.size, size=n)
        return (self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx],
                self.terminated[idx])


def train_dqn(backend: str, seed: int, max_steps: int, curve: Curve,
              evaluator_of: Callable[[nn.Module], Evaluator], hidden: int = 128,
              lr: float = 5e-4, gamma: float = 0.99, batch_size: int = 64,
              buffer_size: int = 100_000, learning_starts: int = 1_000,
              train_every: int = 1, gradient_steps: int = 1, target_every: int = 500,
              eps_start: float = 1.0,
              eps_end: float = 0.05, eps_steps: int = 10_000, double: bool = True,
              max_grad_norm: float = 10.0) -> tuple[nn.Module, Evaluator, int]:
    """DQN with a replay buffer, a target network, ε-greedy actions and the Huber loss."""
    q = mlp(2, hidden, nn.ReLU)
    target = copy.deepcopy(q)
    opt = optim.Adam(q.parameters(), lr=lr)
    evaluator = evaluator_of(q)
    rng = np.random.default_rng(seed)
    buffer = ReplayBuffer(buffer_size)
    env = make_env(backend)
    obs, _ = env.reset(seed=1000 * seed)
    running = 0.0
    steps = 0
    while steps < max_steps:
        eps = max(eps_end, eps_start + (eps_end - eps_start) * steps / eps_steps)
        action = int(rng.integers(2)) if rng.random() < eps else int(greedy(q, obs[None])[0])
        next_obs, reward, terminated, truncated, _ = env.step(action)
        # only a failure ends the value; a cut at 500 steps bootstraps like any other step
        buffer.add(obs, action, reward, next_obs, terminated)
        running += reward
        steps += 1
        obs = next_obs
        if terminated or truncated:
            curve.add(running, steps)
            running = 0.0
            obs, _ = env.reset()

        for _ in range(gradient_steps if steps >= learning_starts and
                       steps % train_every == 0 else 0):
            s, a, r, s2, done = buffer.sample(batch_size, rng)
            with cr.no_grad():
                q_next = target(cr.tensor(s2)).numpy()
                if double:  # the online network picks, the target network rates
                    best = q_next[np.arange(batch_size), greedy(q, s2)]
                else:
                    best = q_next.max(axis=1)
            y = (r + gamma * (1.0 - done) * best).astype(np.float32)
            q_sa = q(cr.tensor(s)).gather(1, cr.tensor(a[:, None])).squeeze(1)
            loss = huber_loss(q_sa, cr.tensor(y))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(q.parameters(), max_grad_norm)
            opt.step()
        if steps % target_every == 0:
            target.load_state_dict(q.state_dict())
        if (terminated or truncated) and evaluator.due(steps) and evaluator(steps):
            break
    return q, evaluator, steps


# ---- the script ----------------------------------------------------------------------

# full runs; the quick mode (the tests) trains briefly, the DQN with less exploration
FULL = {"pg": {"max_steps": 500_000, "eval_every": 2_048},
        "dqn": {"max_steps": 200_000, "eval_every": 1_000}}
QUICK = {"pg": {"max_steps": 10_240, "eval_every": 10**9},
         "dqn": {"max_steps": 4_000, "eval_every": 10**9,
                 "hyper": {"hidden": 64, "eps_steps": 2_000, "learning_starts": 500}}}


def main(agent: str = "pg", quick: bool = False, seed: int = 0, steps: int | None = None,
         env: str = "auto", out: str | None = None, eval_every: int | None = None,
         verbose: bool = True, **hyper: Any) -> dict[str, Any]:
    """Train one agent on CartPole-v1; print the learning curve; save the policy.

    Args:
        agent: ``'pg'`` (advantage actor-critic) or ``'dqn'`` (deep Q-network).
        quick: a few thousand steps on the NumPy CartPole, no evaluation until the end
            (a few seconds, for the tests).
        seed: seeds the weights (``chainrule.manual_seed``), the agent's random choices
            and the training environments (``reset(seed=1000 * seed + i)``).
        steps: the most environment steps to train for (default 500,000 for pg, 200,000
            for dqn; 10,240 / 4,000 when ``quick``, where the DQN is also narrower, 64
            units, and explores for 2,000 steps). Training stops earlier once solved.
        env: ``'auto'`` (Gymnasium's CartPole-v1 when installed), ``'gymnasium'`` or
            ``'numpy'``; ``quick`` defaults to ``'numpy'``.
        out: where to save the policy (default ``cartpole_<agent>.safetensors``; none
            when ``quick`` unless given).
        eval_every: training steps between greedy evaluations (default 2,048 for pg,
            1,000 for dqn; only at the end when ``quick``).
        verbose: print the curve and the summary.
        **hyper: the agent's hyperparameters (see ``train_pg`` / ``train_dqn``).

    Returns:
        ``{'agent', 'env', 'seed', 'returns', 'moving_average', 'last_average',
        'env_steps', 'solved', 'steps_to_solve', 'eval_env_steps', 'evaluations', 'eval_mean',
        'eval_returns', 'check_mean', 'seconds', 'model'}``: the training episodes'
        returns and their moving average over 20 episodes; ``env_steps`` the training
        steps taken, ``steps_to_solve`` those when the greedy policy first scored 500 on
        all 20 evaluation episodes (None if never), ``eval_env_steps`` the steps the
        evaluations took; ``evaluations`` (step, mean greedy return) of each;
        ``eval_*`` the greedy evaluation of the policy kept;
        ``check_mean`` its mean over 100 further episodes (None when ``quick``).
    """
    if agent not in ("pg", "dqn"):
        raise ValueError(f"agent must be 'pg' or 'dqn', got {agent!r}")
    log = print if verbose else (lambda *a, **k: None)
    settings = (QUICK if quick else FULL)[agent]
    max_steps = steps or settings["max_steps"]
    backend = "numpy" if quick and env == "auto" else env
    backend = env_backend(make_env(backend))
    out = out or (None if quick else f"cartpole_{agent}.safetensors")

    # one BLAS thread: these networks are too small to gain from more, spinning threads
    # cost a lot on a busy machine, and the thread count is part of what reproduces a run
    threads = cr.get_num_threads()
    cr.set_num_threads(1)
    try:
        return _run(agent, quick, seed, max_steps, backend, out, eval_every or
                    settings["eval_every"], log, {**settings.get("hyper", {}), **hyper})
    finally:
        cr.set_num_threads(threads)


def _run(agent: str, quick: bool, seed: int, max_steps: int, backend: str, out: str | None,
         eval_every: int, log: Callable[..., None], hyper: dict[str, Any]) -> dict[str, Any]:
    cr.manual_seed(seed)
    curve = Curve(window=20, print_every=10 if quick else 20, log=log)

    def evaluator_of(net: nn.Module) -> Evaluator:
        return Evaluator(net, backend, eval_every, 20, log)

    name = "advantage actor-critic" if agent == "pg" else "DQN"
    log(f"CartPole-v1 ({'Gymnasium' if backend == 'gymnasium' else 'NumPy CartPole'}), "
        f"{name}, seed {seed}, at most {max_steps:,} steps")
    train = train_pg if agent == "pg" else train_dqn
    started = time.perf_counter()
    net, evaluator, used = train(backend, seed, max_steps, curve, evaluator_of, **hyper)
    seconds = time.perf_counter() - started
    if evaluator.solved_at is None:  # out of steps: evaluate the end, keep the best seen
        evaluator(used)
        net.load_state_dict(evaluator.best_state)
    eval_returns = evaluator.best_returns
    # the quick mode skips the check: 100 episodes of up to 500 steps take longer than it
    check = evaluate(net, backend, 100, CHECK_SEED) if not quick else None
    solved = evaluator.solved_at is not None
    results: dict[str, Any] = {
        "agent": agent, "env": backend, "seed": seed, "returns": curve.returns,
        "moving_average": curve.averages,
        "last_average": float(np.mean(curve.returns[-20:])) if curve.returns else 0.0,
        "env_steps": used, "solved": solved, "steps_to_solve": evaluator.solved_at,
        "eval_env_steps": evaluator.env_steps, "evaluations": evaluator.history,
        "eval_mean": float(eval_returns.mean()), "eval_returns": eval_returns.tolist(),
        "check_mean": None if check is None else float(check.mean()), "seconds": seconds,
        "model": out}
    if solved:
        log(f"\nsolved: the greedy policy scored 500 in all 20 evaluation episodes after "
            f"{evaluator.solved_at:,} training steps ({len(curve.returns)} episodes), "
            f"{seconds:.0f} s")
    else:
        log(f"\nnot solved in {used:,} steps ({seconds:.0f} s): best greedy evaluation "
            f"{evaluator.best_mean:.1f} over 20 episodes; last 20 training episodes "
            f"{results['last_average']:.1f}")
    if check is not None:
        log(f"100 further greedy episodes: mean return {check.mean():.1f} (min "
            f"{check.min():.0f})")
    if out:
        save_policy(net, out, agent, {
            "seed": seed, "env_steps": evaluator.solved_at or used,
            "eval_mean_return": results["eval_mean"],
            "check_mean_return": results["check_mean"]})
        log(f"policy saved to {out}: chainrule predict {out} observations.csv")
    return results


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--agent", choices=("pg", "dqn"), default="pg",
                   help="pg: advantage actor-critic; dqn: deep Q-network")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=None, help="most training steps")
    p.add_argument("--env", choices=("auto", "gymnasium", "numpy"), default="auto",
                   help="auto: Gymnasium's CartPole-v1 when installed")
    p.add_argument("--out", default=None, help="model file (default cartpole_AGENT.safetensors)")
    p.add_argument("--quick", action="store_true", help="a few seconds on the NumPy CartPole")
    return p.parse_args(argv)


if __name__ == "__main__":
    a = _parse(None)
    if a.env == "auto" and not a.quick:
        try:
            import gymnasium  # noqa: F401
        except ImportError:
            print('Gymnasium is not installed (pip install "chainrule[gym]"): running on '
                  "the NumPy CartPole, which gives the same episodes")
    main(a.agent, a.quick, a.seed, a.steps, a.env, a.out)
