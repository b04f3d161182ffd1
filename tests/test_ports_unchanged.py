"""PyTorch scripts run under chainrule with only their import lines changed.

Each script in tests/ports/ is written as a PyTorch user writes one. The test rewrites its
``import torch…`` lines to chainrule's (nothing else), checks that no other line changed,
and then runs the script's own model, data, optimizer and training loop in both
frameworks from the same initial weights (dropout off, no shuffling, so both see the same
numbers): the losses of the first steps must agree to float32 round-off. Without torch,
the chainrule version still runs and must learn.
"""

from __future__ import annotations

import os
import types

import numpy as np
import pytest

PORTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ports")

# The only edits a port makes: which package each import line names.
IMPORTS = [
    ("import torch.nn.functional as F", "import chainrule.nn.functional as F"),
    ("import torch.nn as nn", "import chainrule.nn as nn"),
    ("import torch.optim as optim", "import chainrule.optim as optim"),
    ("from torch.optim.lr_scheduler import", "from chainrule.optim.lr_scheduler import"),
    ("from torch.utils.data import", "from chainrule.utils.data import"),
    ("import torch", "import chainrule as torch"),
]


def _ported_source(name: str) -> tuple[str, str]:
    with open(os.path.join(PORTS, f"{name}.py"), encoding="utf-8") as f:
        original = f.read()
    lines = []
    for line in original.splitlines(keepends=True):
        for old, new in IMPORTS:
            if line.startswith(old):
                line = new + line[len(old):]
                break
        lines.append(line)
    return original, "".join(lines)


def _module(name: str, source: str, tag: str) -> types.ModuleType:
    module = types.ModuleType(f"port_{name}_{tag}")
    module.__file__ = os.path.join(PORTS, f"{name}.py")
    exec(compile(source, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


def _chainrule_port(name: str) -> types.ModuleType:
    original, ported = _ported_source(name)
    changed = [(a, b) for a, b in zip(original.splitlines(), ported.splitlines()) if a != b]
    assert changed, "the port changed nothing: the script does not import torch?"
    assert all(a.startswith(("import ", "from ")) for a, _ in changed), changed
    return _module(name, ported, "chainrule")


def _torch_original(name: str) -> types.ModuleType:
    pytest.importorskip("torch")
    return _module(name, _ported_source(name)[0], "torch")


def _dropout_off(model) -> None:
    for m in model.modules():
        if type(m).__name__ == "Dropout":
            m.p = 0.0


def _same_start(t_model, c_model) -> None:
    state = {k: v.detach().numpy() for k, v in t_model.state_dict().items()}
    c_model.load_state_dict(state)
    _dropout_off(t_model)
    _dropout_off(c_model)


def _compare(t_losses, c_losses, rtol):
    assert len(t_losses) == len(c_losses) > 0
    np.testing.assert_allclose(c_losses, t_losses, rtol=rtol, atol=1e-6)


# ---- the MNIST-style CNN ----------------------------------------------------------------

def test_mnist_cnn_matches_pytorch_step_for_step():
    t, c = _torch_original("mnist_cnn"), _chainrule_port("mnist_cnn")
    t.torch.manual_seed(0)
    t_model, c_model = t.Net(), c.Net()
    _same_start(t_model, c_model)
    losses = {}
    for mod, model, key in ((t, t_model, "torch"), (c, c_model, "chainrule")):
        loader = mod.make_loader(512, seed=0, shuffle=False)
        optimizer, scheduler = mod.make_optimizer(model)
        device = mod.torch.device("cpu")
        run = []
        for epoch in (1, 2):  # StepLR changes the rate between the epochs
            run += mod.train(model, device, loader, optimizer, epoch, log_interval=1000,
                             max_steps=4)
            scheduler.step()
        losses[key] = run
        losses[key + "_test"] = mod.test(model, device, mod.make_loader(256, seed=1,
                                                                         shuffle=False))
    _compare(losses["torch"], losses["chainrule"], rtol=2e-3)
    np.testing.assert_allclose(losses["chainrule_test"], losses["torch_test"], rtol=5e-3)


def test_mnist_cnn_port_learns():
    c = _chainrule_port("mnist_cnn")
    test_loss, accuracy = c.main(epochs=2, seed=1)
    assert accuracy > 0.9 and test_loss < 0.5


# ---- the sequence classifiers -----------------------------------------------------------

@pytest.mark.parametrize("model_name", ["LSTMClassifier", "GRUCellClassifier"])
def test_sequence_classifier_matches_pytorch_step_for_step(model_name):
    t, c = _torch_original("seq_classifier"), _chainrule_port("seq_classifier")
    t.torch.manual_seed(0)
    t_model, c_model = getattr(t, model_name)(), getattr(c, model_name)()
    _same_start(t_model, c_model)
    losses, accuracies = {}, {}
    for mod, model, key in ((t, t_model, "torch"), (c, c_model, "chainrule")):
        loader = mod.make_loader(256, seed=0, shuffle=False)
        optimizer, _ = mod.make_optimizer(model)
        losses[key] = mod.train(model, loader, optimizer, max_steps=8)
        accuracies[key] = mod.accuracy(model, mod.make_loader(128, seed=1, shuffle=False))
    _compare(losses["torch"], losses["chainrule"], rtol=1e-3)
    assert abs(accuracies["torch"] - accuracies["chainrule"]) <= 2 / 128


def test_sequence_classifier_port_learns():
    c = _chainrule_port("seq_classifier")
    results = c.main(epochs=6, seed=0)
    assert results["LSTMClassifier"] > 0.9
    assert results["GRUCellClassifier"] > 0.9


# ---- the convolutional autoencoder --------------------------------------------------------

def test_conv_autoencoder_matches_pytorch_step_for_step():
    t, c = _torch_original("conv_autoencoder"), _chainrule_port("conv_autoencoder")
    t.torch.manual_seed(0)
    t_model, c_model = t.AutoEncoder(), c.AutoEncoder()
    _same_start(t_model, c_model)
    losses = {}
    for mod, model, key in ((t, t_model, "torch"), (c, c_model, "chainrule")):
        loader = mod.make_loader(256, seed=0, shuffle=False)
        optimizer, _ = mod.make_optimizer(model)
        losses[key] = mod.train(model, loader, optimizer, max_steps=8)
    _compare(losses["torch"], losses["chainrule"], rtol=1e-3)


def test_conv_autoencoder_port_learns():
    # Some initialisations land on the plateau of a constant output (MSE 0.049) for the
    # first epochs, in either framework (measured over seeds 0-5 at 8 epochs: torch on
    # seed 4, chainrule on seeds 0 and 4); seed 3 starts off it in both.
    c = _chainrule_port("conv_autoencoder")
    assert c.main(epochs=8, seed=3) < 0.01
