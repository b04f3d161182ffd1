"""Interleaved A/B of chainrule's compiled path (numba) against its NumPy path, one process.

    python benchmarks/fast_ab.py                      # kernels, layers and workloads
    python benchmarks/fast_ab.py --only layers --rounds 9

Every pair is timed in alternating rounds (NumPy then fast, fast then NumPy, ...), so a
neighbour's load or a clock change hits both sides alike; each round times ``reps`` calls
and the table gives the median over rounds and its ratio (>1: the fast path is faster).

* kernels: one step's element-wise work alone (the NumPy calls the layer makes against
  the numba kernel that replaces them), the exact GELU's forward and LeNet's first
  convolution's forward;
* layers: one LSTM / GRU / RNN layer at char_lstm's size (batch 32, seq 64, input 64,
  hidden 128, batch_first), forward + backward and forward alone under ``no_grad``;
* workloads: a whole training step of ``char_lstm``, ``lenet`` and ``tiny_transformer`` from
  ``workloads.build``, and LeNet's forward in eval mode under ``no_grad``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import chainrule as cr  # noqa: E402
from chainrule import fast  # noqa: E402

Pair = tuple[str, Callable[[], None], Callable[[], None], int]  # name, numpy, fast, reps


def _with(on: bool, fn: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        fast.use_fast(on)
        fn()
    return run


def kernel_pairs() -> list[Pair]:
    from chainrule.fast import convolution as fconv
    from chainrule.fast import recurrent as frec
    from chainrule.ops.convolution import _convolve, _convolve_direct
    from chainrule.ops.recurrent import _lstm_factors

    rng = np.random.default_rng(0)
    H, B = 128, 32

    def arr(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    rec, proj, c_prev = arr(4 * H, B), arr(4 * H, B), arr(H, B)
    c, h, ig = np.empty_like(c_prev), np.empty_like(c_prev), np.empty_like(c_prev)
    act, q, sq = np.empty((1, 5 * H, B), np.float32), np.empty((1, 6 * H, B), np.float32), \
        np.empty((1, 2 * H, B), np.float32)
    a = act[0]
    gates, sig = a[:4 * H], a[:3 * H]
    f, i, o, g, tanh_c = a[:H], a[H:2 * H], a[2 * H:3 * H], a[3 * H:4 * H], a[4 * H:]

    def lstm_numpy(grad: bool) -> None:  # LSTMLayer.forward's calls for one step
        np.add(rec, proj, out=gates)
        np.tanh(gates, out=gates)
        np.multiply(sig, 0.5, out=sig)
        np.add(sig, 0.5, out=sig)
        np.multiply(f, c_prev, out=c)
        np.multiply(i, g, out=ig)
        np.add(c, ig, out=c)
        np.tanh(c, out=tanh_c)
        np.multiply(o, tanh_c, out=h)
        if grad:
            _lstm_factors(act, c_prev[None], q, sq)

    lstm = frec.build_lstm_step()

    # reverse LSTM step: LSTMLayer.backward's calls
    qs = np.abs(arr(6 * H, B))
    dh_rec, gstep, dc0 = arr(H, B), arr(H, B), arr(H, B)
    dc, dh, d = dc0.copy(), np.empty_like(dc0), np.empty((5 * H, B), np.float32)
    q5, d5 = qs.reshape(6, H, B), d.reshape(5, H, B)

    def back_numpy() -> None:
        dc[...] = dc0
        np.add(dh_rec, gstep, out=dh)
        np.multiply(q5[3:5], dh, out=d5[3:])
        np.add(dc, d5[4], out=dc)
        np.multiply(q5[:3], dc, out=d5[:3])
        np.multiply(dc, qs[5 * H:], out=dc)

    back = frec.build_lstm_back_step()

    def back_fast() -> None:
        dc[...] = dc0
        back(dh_rec, gstep, qs, dc, d)

    # GRU step: GRULayer.forward's calls
    grec, ga0, hprev, b_hn = arr(3 * H, B), arr(3 * H, B), arr(H, B), arr(H, 1)
    ga, hn, hg, tmp = ga0.copy(), np.empty_like(hprev), np.empty_like(hprev), \
        np.empty_like(hprev)

    def gru_numpy() -> None:
        ga[...] = ga0
        np.add(grec[2 * H:], b_hn, out=hn)
        rz = ga[:2 * H]
        np.add(rz, grec[:2 * H], out=rz)
        np.tanh(rz, out=rz)
        np.multiply(rz, 0.5, out=rz)
        np.add(rz, 0.5, out=rz)
        n = ga[2 * H:]
        np.multiply(ga[:H], hn, out=tmp)
        np.add(n, tmp, out=n)
        np.tanh(n, out=n)
        np.subtract(hprev, n, out=tmp)
        np.multiply(tmp, ga[H:2 * H], out=tmp)
        np.add(n, tmp, out=hg)

    gru = frec.build_gru_step()

    def gru_fast() -> None:
        ga[...] = ga0
        gru(grec, ga, b_hn, hprev, hn, hg)

    # reverse GRU step: GRULayer.backward's calls
    fac, gru_gates = np.abs(arr(3 * H, B)), np.abs(arr(3 * H, B))
    pn, pz, pr = fac[:H], fac[H:2 * H], fac[2 * H:]
    rg, zg = gru_gates[:H], gru_gates[H:2 * H]
    gx3, gh3, dgr = np.empty((3 * H, B), np.float32), np.empty((3 * H, B), np.float32), \
        np.empty((4 * H, B), np.float32)
    carry = np.zeros((H, B), np.float32)

    def gru_back_numpy() -> None:
        np.add(dh_rec, gstep, out=dh)
        dn = gx3[2 * H:]
        np.multiply(dh, pn, out=dn)
        np.multiply(dh, pz, out=gh3[H:2 * H])
        np.multiply(dn, pr, out=gh3[:H])
        np.multiply(dn, rg, out=gh3[2 * H:])
        np.multiply(dh, zg, out=tmp)

    gru_back = frec.build_gru_back_step()

    # LeNet's first convolution, forward (what eval / a frozen first layer runs)
    x, w, bias = arr(64, 1, 28, 28), arr(6, 1, 5, 5), arr(6)
    pads = ((2, 2), (2, 2))
    conv = fconv.build_conv2d_direct()

    # GELU over tiny_transformer's MLP activations (forward, keeping the derivative)
    from chainrule.ops.activations import GELU

    mlp = cr.tensor(arr(32, 64, 512), requires_grad=True)

    def gelu() -> None:
        GELU.apply(mlp, approximate="none")

    return [
        ("GELU fwd 32x64x512", gelu, gelu, 10),
        ("LSTM step, no grad (H128 B32)", lambda: lstm_numpy(False),
         lambda: lstm(rec, proj, c_prev, c, h, rec, False), 400),
        ("LSTM step + factors q", lambda: lstm_numpy(True),
         lambda: lstm(rec, proj, c_prev, c, h, q[0], True), 400),
        ("LSTM reverse step", back_numpy, back_fast, 400),
        ("GRU step", gru_numpy, gru_fast, 400),
        ("GRU reverse step", gru_back_numpy,
         lambda: gru_back(dh_rec, carry, gstep, fac, gru_gates, dgr), 400),
        ("conv 64x1x28x28 * 6x1x5x5 fwd",
         lambda: _convolve(x, w, bias, (1, 1), pads, (1, 1), 1, (28, 28)),
         lambda: _convolve_direct(conv, x, w, bias, pads, (1, 1), (28, 28)), 20),
    ]


def layer_pairs() -> list[Pair]:
    from chainrule.ops.recurrent import gru_layer, lstm_layer, rnn_layer

    rng = np.random.default_rng(0)
    T, B, n_in, H = 64, 32, 64, 128
    x = cr.tensor(rng.standard_normal((B, T, n_in)).astype(np.float32))
    pairs: list[Pair] = []
    for name, gates, layer in (("LSTM", 4, lstm_layer), ("GRU", 3, gru_layer),
                               ("RNN", 1, rnn_layer)):
        ws = [cr.tensor((rng.standard_normal(s) * 0.1).astype(np.float32),
                        requires_grad=True)
              for s in ((gates * H, n_in), (gates * H, H), (gates * H,), (gates * H,))]
        extra = (None,) if name == "LSTM" else ()

        def train(layer: Callable = layer, ws: list = ws, extra: tuple = extra) -> None:
            y = layer(x, None, *extra, *ws, batch_first=True)[0]
            y.sum().backward()

        def infer(layer: Callable = layer, ws: list = ws, extra: tuple = extra) -> None:
            with cr.no_grad():
                layer(x, None, *extra, *ws, batch_first=True)

        pairs.append((f"{name} layer fwd+bwd", train, train, 5))
        pairs.append((f"{name} layer fwd (no_grad)", infer, infer, 5))
    return pairs


def workload_pairs() -> list[Pair]:
    from workloads import _API, SPECS, _data, _model, build

    pairs: list[Pair] = []
    for name, reps in (("char_lstm", 3), ("lenet", 5), ("tiny_transformer", 1)):
        step = build("chainrule", name)
        pairs.append((f"{name} training step", step, step, reps))
    model = _model(_API("chainrule"), "lenet")
    model.eval()
    x = cr.tensor(_data("lenet")["x"])
    assert SPECS["lenet"]["batch"] == x.shape[0]

    def lenet_eval() -> None:
        with cr.no_grad():
            model(x)

    pairs.append(("lenet forward, eval + no_grad", lenet_eval, lenet_eval, 10))
    return pairs


def measure(pairs: list[Pair], rounds: int) -> list[tuple[str, float, float, float, float]]:
    """Median seconds per call (wall clock, then this process's CPU time) of each side."""
    wall: dict[tuple[str, bool], list[float]] = {}
    cpu: dict[tuple[str, bool], list[float]] = {}
    for _name, off, on, _ in pairs:  # warm up: compiles, caches, allocator
        _with(False, off)()
        _with(True, on)()
    for r in range(rounds):
        for name, off, on, reps in pairs:
            order = (False, True) if r % 2 == 0 else (True, False)
            for flag in order:
                fn = on if flag else off
                fast.use_fast(flag)
                t0, c0 = time.perf_counter(), time.process_time()
                for _ in range(reps):
                    fn()
                wall.setdefault((name, flag), []).append((time.perf_counter() - t0) / reps)
                cpu.setdefault((name, flag), []).append((time.process_time() - c0) / reps)
    fast.use_fast(False)
    return [(name, *(float(np.median(d[(name, flag)])) for d in (wall, cpu)
                     for flag in (False, True)))
            for name, *_ in pairs]


def _machine() -> str:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in out.splitlines()
                      if ln.startswith("Model name")), model)
    except OSError:
        pass
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["kernels", "layers", "workloads"], action="append")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if not fast.use_fast(True):
        sys.exit("the fast path is unavailable (numba missing?)")
    groups = args.only or ["kernels", "layers", "workloads"]
    print(f"# {_machine()}; {fast.status()}; OPENBLAS_NUM_THREADS="
          f"{os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    builders = {"kernels": kernel_pairs, "layers": layer_pairs, "workloads": workload_pairs}
    print("wall clock and CPU time (all threads of this process), median per call; "
          "ratio = numpy / fast")
    print(f"{'what':34s} {'numpy':>9s} {'fast':>9s} {'ratio':>6s} | {'cpu numpy':>9s} "
          f"{'fast':>9s} {'ratio':>6s}")
    for group in groups:
        for name, off, on, c_off, c_on in measure(builders[group](), args.rounds):
            unit, k = ("us", 1e6) if off < 1e-3 else ("ms", 1e3)
            print(f"{name:34s} {off * k:7.2f}{unit} {on * k:7.2f}{unit} {off / on:5.2f}x | "
                  f"{c_off * k:7.2f}{unit} {c_on * k:7.2f}{unit} {c_off / c_on:5.2f}x",
                  flush=True)
    print(f"# end: load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
