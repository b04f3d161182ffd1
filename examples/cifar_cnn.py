"""A CIFAR-10 CNN: conv-BatchNorm-ReLU blocks, crops and flips in the loader, one-cycle SGD.

    python examples/cifar_cnn.py                      # CIFAR-10 (downloaded once, 163 MiB)
    python examples/cifar_cnn.py --data-dir DIR       # DIR holds cifar-10-binary.tar.gz
    python examples/cifar_cnn.py --quick              # synthetic 32×32 images, seconds
    python examples/cifar_cnn.py --synthetic 50000 --epochs 2   # CIFAR-sized, for timing

The data: ``chainrule.data.load("cifar10")`` reads the binary archive (never the pickled
python version) from ``--data-dir`` or the cache (``$CHAINRULE_CACHE``, else
``~/.cache/chainrule``), downloading and checking it (SHA-256) on first use. 50,000
training and 10,000 test images, (3, 32, 32) uint8. ``--quick`` and ``--synthetic N``
train on ``make_synthetic_images`` instead: ten classes, each a shape (stripes, disc,
ring, cross, …) drawn at a random place in a colour near its class's hue, on a noisy
background of random tint, so a model must look at shapes, not just colour.

The pipeline, as torchvision's ``Compose([RandomCrop(32, padding=4),
RandomHorizontalFlip(), Normalize(mean, std)])`` but per batch, in NumPy::

    AugmentedImages(X, y, transform)  --get_batch-->  DataLoader(shuffle, seed)  -->  model

Every random draw (the order, each image's crop offset and flip) comes from generators
seeded by ``--seed``, so two runs with one seed train on the same batches.

The model (``build_cnn``, widths ``c1, c2, c3`` = 16, 32, 64 by default; ``--widths 32 64
128`` is a wider one, about 2.5× the time per batch)::

    [Conv3×3 → BatchNorm → ReLU] × 2 at c1            32×32
    MaxPool2d(2) → [Conv-BN-ReLU] × 2 at c2           16×16
    MaxPool2d(2) → [Conv-BN-ReLU] × 2 at c3            8×8
    global average pool → Linear(c3, 10)

Training: SGD with Nesterov momentum (0.9) and weight decay 5e-4, the one-cycle learning
rate schedule (peak 0.1, stepped every batch), cross-entropy with label smoothing 0.1,
batches of 128; the test split is evaluated after every epoch (BatchNorm in eval mode).

MEASURED: see examples/README.md (quick mode's accuracy, and the time per epoch of a
CIFAR-sized run on synthetic data; the real CIFAR-10 could not be downloaded where this
was written, so no CIFAR-10 accuracy is claimed).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader, Dataset
from chainrule.tensor import raw

# ---- the transform pipeline (per batch, NumPy) ----------------------------------------


class RandomCrop:
    """Pad each image by ``padding`` zeros on every side, then cut a ``size``×``size``
    window at an offset drawn per image (torchvision's ``RandomCrop(size, padding)``).

    Example:
        >>> x = np.ones((2, 3, 32, 32), np.float32)
        >>> RandomCrop(32, 4)(x, np.random.default_rng(0)).shape
        (2, 3, 32, 32)
    """

    def __init__(self, size: int = 32, padding: int = 4) -> None:
        self.size, self.padding = size, padding

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        p, s = self.padding, self.size
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
        n, room = len(x), padded.shape[-1] - s
        dy, dx = rng.integers(0, padded.shape[-2] - s + 1, n), rng.integers(0, room + 1, n)
        rows = (dy[:, None] + np.arange(s))[:, None, :, None]   # (N, 1, s, 1)
        cols = (dx[:, None] + np.arange(s))[:, None, None, :]   # (N, 1, 1, s)
        return padded[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[:, None, None],
                      rows, cols]


class RandomHorizontalFlip:
    """Mirror each image left-right with probability ``p``.

    Example:
        >>> x = np.arange(4, dtype=np.float32).reshape(1, 1, 1, 4)
        >>> RandomHorizontalFlip(1.0)(x, np.random.default_rng(0)).ravel().tolist()
        [3.0, 2.0, 1.0, 0.0]
    """

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        flip = rng.random(len(x)) < self.p
        x = x.copy()
        x[flip] = x[flip, :, :, ::-1]
        return x


class Normalize:
    """uint8 (or float) pixels → float32 ``(x/255 − mean) / std`` per channel."""

    def __init__(self, mean: np.ndarray, std: np.ndarray) -> None:
        self.mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
        self.std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)

    def __call__(self, x: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        return ((x.astype(np.float32) / 255 - self.mean) / self.std).astype(np.float32)


class Compose:
    """Apply transforms in order, each drawing from the same generator."""

    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms

    def __call__(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        for t in self.transforms:
            x = t(x, rng)
        return x


class AugmentedImages(Dataset):
    """Images and labels whose batches pass through ``transform`` as they are fetched.

    ``DataLoader`` calls ``get_batch(indices)`` once per batch (one NumPy pass for the
    whole batch instead of a Python loop per image); the transform draws from this
    dataset's own generator, seeded by ``seed``, so the augmentation is reproducible.

    Example:
        >>> X, y = np.zeros((10, 3, 32, 32), np.uint8), np.arange(10)
        >>> ds = AugmentedImages(X, y, Compose([RandomCrop(32, 4), RandomHorizontalFlip()]))
        >>> xb, yb = next(iter(DataLoader(ds, batch_size=4, shuffle=True, seed=0)))
        >>> tuple(xb.shape), len(ds)
        ((4, 3, 32, 32), 10)
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, transform: Any, seed: int = 0) -> None:
        self.X, self.y, self.transform = X, y, transform
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.X)

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.int64]:
        return self.transform(self.X[i:i + 1], self.rng)[0], self.y[i]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.transform(self.X[indices], self.rng), self.y[indices]


# ---- data -----------------------------------------------------------------------------

# (hue in RGB, shape) per class: the shape carries the class, the colour only hints at it
_HUES = np.array([[0.9, 0.2, 0.2], [0.2, 0.8, 0.2], [0.2, 0.3, 0.9], [0.9, 0.8, 0.1],
                  [0.8, 0.2, 0.8], [0.1, 0.8, 0.8], [0.9, 0.5, 0.1], [0.5, 0.5, 0.5],
                  [0.6, 0.3, 0.1], [0.9, 0.9, 0.9]], np.float32)


def _shape_mask(kind: int, size: int = 14) -> np.ndarray:
    """A ``size``×``size`` 0/1 mask of shape ``kind`` (0-9)."""
    r, c = np.mgrid[0:size, 0:size] - (size - 1) / 2
    d = np.hypot(r, c)
    half = size / 2
    masks = [
        (np.abs(r) % 4 < 2),                              # horizontal stripes
        (np.abs(c) % 4 < 2),                              # vertical stripes
        d < half * 0.8,                                   # disc
        (d < half * 0.9) & (d > half * 0.5),              # ring
        (np.abs(r) < 2) | (np.abs(c) < 2),                # plus
        (np.abs(np.abs(r) - np.abs(c)) < 1.5),            # X
        (np.maximum(np.abs(r), np.abs(c)) > half - 3),    # square outline
        ((r // 3 + c // 3) % 2 == 0),                     # checkerboard
        (r > -half / 2) & (np.abs(c) < (r + half) / 2),   # triangle
        (np.abs(r % 6 - 3) < 1.5) & (np.abs(c % 6 - 3) < 1.5),  # grid of dots
    ]
    return masks[kind].astype(np.float32)


def make_synthetic_images(n_train: int = 2000, n_test: int = 500, seed: int = 0
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A CIFAR-shaped, learnable image set: ``(X_train, y_train, X_test, y_test)``,
    uint8 ``(N, 3, 32, 32)`` and int64 labels 0-9 in equal numbers.

    Class ``k`` is shape ``k`` (14×14, placed at a random spot) in a colour near hue ``k``
    (each channel jittered by ±0.25), on a randomly tinted background with Gaussian
    pixel noise (sd 0.12 of the range).

    Example:
        >>> X, y, Xt, yt = make_synthetic_images(20, 10)
        >>> X.shape, X.dtype, sorted(set(y.tolist())) == list(range(10))
        ((20, 3, 32, 32), dtype('uint8'), True)
    """
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    y = np.arange(n) % 10
    rng.shuffle(y)
    masks = np.stack([_shape_mask(k) for k in range(10)])
    X = np.empty((n, 3, 32, 32), np.float32)
    X[:] = rng.uniform(0.0, 0.5, (n, 3, 1, 1))                       # background tint
    colour = np.clip(_HUES[y] + rng.uniform(-0.25, 0.25, (n, 3)), 0, 1)
    top, left = rng.integers(0, 32 - 14 + 1, (2, n))
    for i in range(n):
        window = X[i, :, top[i]:top[i] + 14, left[i]:left[i] + 14]
        m = masks[y[i]]
        window[:] = window * (1 - m) + colour[i, :, None, None] * m
    X += rng.normal(0, 0.12, X.shape).astype(np.float32)
    X = (np.clip(X, 0, 1) * 255).round().astype(np.uint8)
    return X[:n_train], y[:n_train].astype(np.int64), X[n_train:], y[n_train:].astype(np.int64)


def load_cifar10(data_dir: str | None = None, progress: bool | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CIFAR-10 from ``data_dir`` (the folder holding ``cifar-10-binary.tar.gz``) or the
    cache, downloaded there first when missing: uint8 ``(N, 3, 32, 32)``, int64 labels."""
    from chainrule.data import load

    (X, y), (X_test, y_test) = load("cifar10", root=data_dir, progress=progress)
    return X, y, X_test, y_test


# ---- model ----------------------------------------------------------------------------


def conv_bn_relu(c_in: int, c_out: int) -> list[nn.Module]:
    """3×3 convolution (no bias: BatchNorm's shift replaces it), BatchNorm, ReLU."""
    return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]


def build_cnn(widths: tuple[int, int, int] = (16, 32, 64), classes: int = 10
              ) -> nn.Sequential:
    """The CNN above for (N, 3, 32, 32) images; ``widths`` = channels of the 3 stages."""
    c1, c2, c3 = widths
    return nn.Sequential(
        *conv_bn_relu(3, c1), *conv_bn_relu(c1, c1),
        nn.MaxPool2d(2), *conv_bn_relu(c1, c2), *conv_bn_relu(c2, c2),
        nn.MaxPool2d(2), *conv_bn_relu(c2, c3), *conv_bn_relu(c3, c3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c3, classes),
    )


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray, normalize: Normalize,
             batch_size: int = 500) -> float:
    """Accuracy on ``(X, y)`` with BatchNorm in eval mode, no augmentation."""
    model.eval()
    correct = 0
    with cr.no_grad():
        for start in range(0, len(X), batch_size):
            logits = raw(model(cr.tensor(normalize(X[start:start + batch_size]))))
            correct += int((logits.argmax(1) == y[start:start + batch_size]).sum())
    model.train()
    return correct / len(X)


# ---- training -------------------------------------------------------------------------


def main(quick: bool = False, epochs: int | None = None, seed: int = 0,
         data_dir: str | None = None, synthetic: int | None = None,
         widths: tuple[int, int, int] | None = None, batch_size: int | None = None,
         max_lr: float = 0.1, verbose: bool = True) -> dict[str, Any]:
    """Train the CNN and report its test accuracy.

    Args:
        quick: synthetic images (1,000 train / 300 test), a narrow CNN (8, 16, 32), 3
            epochs of batches of 50, tested once at the end: seconds, for the tests.
        epochs: override the number of epochs (default 10; 3 when ``quick``).
        seed: seed of the weights, the batch order and the augmentation.
        data_dir: folder holding ``cifar-10-binary.tar.gz`` (default: the cache).
        synthetic: train on this many synthetic images (plus 10,000 test) instead of
            CIFAR-10, e.g. 50,000 to time a CIFAR-sized epoch.
        widths: channels of the three stages (default (16, 32, 64)).
        batch_size: default 128 (50 when ``quick``).
        max_lr: the one-cycle schedule's peak learning rate.
        verbose: print progress and the summary.

    Returns:
        ``{'data', 'train_size', 'test_size', 'parameters', 'epochs', 'test_accuracy',
        'train_accuracy', 'history' (per-epoch dicts; ``test_accuracy`` None where not
        tested), 'seconds', 'seconds_per_epoch' (training only, mean over epochs),
        'cpu_seconds_per_epoch' (this process's CPU time, all threads)}``.
    """
    log = print if verbose else (lambda *a, **k: None)
    if quick:
        epochs = epochs or 3
        widths = widths or (8, 16, 32)
        batch_size = batch_size or 50
        X, y, X_test, y_test = make_synthetic_images(1000, 300, seed=seed)
        data = "synthetic (quick)"
    elif synthetic:
        X, y, X_test, y_test = make_synthetic_images(synthetic, 10_000, seed=seed)
        data = f"synthetic {synthetic} (CIFAR-sized)"
    else:
        X, y, X_test, y_test = load_cifar10(data_dir)
        data = "CIFAR-10"
    epochs = epochs or 10
    widths = widths or (16, 32, 64)
    batch_size = batch_size or 128

    # per-channel statistics of the training images, as the usual CIFAR recipes use
    mean = X.mean(axis=(0, 2, 3), dtype=np.float64) / 255
    std = X.std(axis=(0, 2, 3), dtype=np.float64) / 255
    normalize = Normalize(mean, std)
    train_set = AugmentedImages(X, y, Compose([RandomCrop(32, padding=4),
                                               RandomHorizontalFlip(), normalize]), seed=seed)
    loader = DataLoader(train_set, batch_size=batch_size, shuffle=True, seed=seed,
                        num_workers=1)  # one thread prepares the next batch meanwhile
    log(f"{data}: {len(X)} train / {len(X_test)} test images of {X.shape[1:]}")

    cr.manual_seed(seed)
    model = build_cnn(widths)
    params = sum(p.numel() for p in model.parameters())
    opt = optim.SGD(model.parameters(), lr=max_lr, momentum=0.9, nesterov=True,
                    weight_decay=5e-4)
    sched = optim.OneCycleLR(opt, max_lr=max_lr, epochs=epochs, steps_per_epoch=len(loader))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    log(f"CNN {widths}: {params:,} parameters, {epochs} epochs of {len(loader)} batches")

    history: list[dict[str, float]] = []
    started = time.perf_counter()
    for epoch in range(epochs):
        t0, cpu0 = time.perf_counter(), time.process_time()
        total, correct, seen = 0.0, 0, 0
        for xb, yb in loader:
            opt.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            opt.step()
            sched.step()
            labels = raw(yb)
            total += float(raw(loss)) * len(labels)
            correct += int((raw(logits).argmax(1) == labels).sum())
            seen += len(labels)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        tested = not quick or epoch + 1 == epochs  # quick mode tests once, at the end
        test_acc = evaluate(model, X_test, y_test, normalize) if tested else None
        history.append({"epoch": epoch + 1, "loss": total / seen, "train_accuracy":
                        correct / seen, "test_accuracy": test_acc, "seconds": seconds,
                        "cpu_seconds": cpu})
        shown = f"test acc {test_acc:.1%}" if test_acc is not None else ""
        log(f"  epoch {epoch + 1:3d}  loss {total / seen:.3f}  train acc {correct / seen:.1%}  "
            f"{shown}  {seconds:.0f} s ({cpu:.0f} s CPU)")
    elapsed = time.perf_counter() - started
    result = {"data": data, "train_size": len(X), "test_size": len(X_test),
              "parameters": params, "epochs": epochs,
              "test_accuracy": history[-1]["test_accuracy"],
              "train_accuracy": history[-1]["train_accuracy"], "history": history,
              "seconds": elapsed,
              "seconds_per_epoch": float(np.mean([h["seconds"] for h in history])),
              "cpu_seconds_per_epoch": float(np.mean([h["cpu_seconds"] for h in history]))}
    log(f"\n{data}: test accuracy {result['test_accuracy']:.2%} after {epochs} epochs, "
        f"{elapsed:.0f} s ({result['seconds_per_epoch']:.0f} s per epoch of training)")
    return result


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="synthetic images, narrow CNN, seconds")
    p.add_argument("--epochs", type=int, default=None, help="default 10 (quick: 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=None,
                   help="folder holding cifar-10-binary.tar.gz (default: the cache)")
    p.add_argument("--synthetic", type=int, default=None, metavar="N",
                   help="train on N synthetic images instead of CIFAR-10 (timing)")
    p.add_argument("--widths", type=int, nargs=3, default=None, metavar=("C1", "C2", "C3"))
    p.add_argument("--batch-size", type=int, default=None, help="default 128 (quick: 50)")
    p.add_argument("--max-lr", type=float, default=0.1)
    return p.parse_args(argv)


if __name__ == "__main__":
    a = _parse(None)
    try:
        main(a.quick, a.epochs, a.seed, a.data_dir, a.synthetic,
             tuple(a.widths) if a.widths else None, a.batch_size, a.max_lr)
    except OSError as e:  # DownloadError (offline) or a missing --data-dir
        sys.exit(f"error: {e}\n(--quick trains on synthetic images with no download)")
