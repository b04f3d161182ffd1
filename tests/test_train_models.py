"""Model specs (``chainrule.models``), run configs (TOML/JSON) and the run building blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import build_model, parse_spec
from chainrule.train.config import TrainConfig, _parse_simple_toml, parse_toml, read_config_file
from chainrule.train.run import build_loss, build_optimizer, build_scheduler


def test_parse_spec() -> None:
    assert parse_spec("mlp:256,128") == ("mlp", [256, 128])
    assert parse_spec(" MLP:8 ") == ("mlp", [8])
    assert parse_spec("linear") == ("linear", [])
    assert parse_spec("cnn:8,16") == ("cnn", [8, 16])
    for bad, match in [("mlp:0", "positive"), ("mlp:a", "positive"), ("resnet", "unknown"),
                       ("linear:3", "no sizes"), ("cnn", "channel counts"),
                       ("mlp", "hidden layer widths"), ("mlp:", "hidden layer widths")]:
        with pytest.raises(ValueError, match=match):
            parse_spec(bad)


def test_mlp_layers_and_options() -> None:
    cr.manual_seed(0)
    m = build_model("mlp:32,32", (4,), 3, activation="tanh", dropout=0.2, batch_norm=True,
                    residual=True)
    kinds = [type(layer).__name__ for layer in m]
    assert kinds == ["Linear", "BatchNorm1d", "Tanh", "Dropout", "Residual", "Linear"]
    out = m(cr.ones(5, 4))
    assert out.shape == (5, 3) and out.dtype == np.float32
    assert m.num_parameters() == (4 * 32 + 32) + 64 + (32 * 32 + 32) + 64 + (32 * 3 + 3)


def test_linear_and_image_inputs_are_flattened() -> None:
    m = build_model("linear", (1, 8, 8), 10)
    assert [type(layer).__name__ for layer in m] == ["Flatten", "Linear"]
    assert m(cr.ones(2, 1, 8, 8)).shape == (2, 10)
    m = build_model("mlp:16", (1, 8, 8), 10)
    assert m(cr.ones(2, 1, 8, 8)).shape == (2, 10)


def test_cnn_builds_when_conv_layers_exist() -> None:
    from chainrule.models import _conv_layers

    if None in _conv_layers():
        with pytest.raises(ValueError, match="Conv2d"):
            build_model("cnn:4,8", (1, 8, 8), 10)
        return
    cr.manual_seed(0)
    m = build_model("cnn:4,8", (1, 8, 8), 10, batch_norm=True, dropout=0.1)
    assert m(cr.ones(3, 1, 8, 8)).shape == (3, 10)
    with pytest.raises(ValueError, match="image"):
        build_model("cnn:4", (64,), 10)


def test_model_errors() -> None:
    with pytest.raises(ValueError, match="activation"):
        build_model("mlp:8", (2,), 2, activation="swishy")
    with pytest.raises(ValueError, match="dropout"):
        build_model("mlp:8", (2,), 2, dropout=1.0)
    with pytest.raises(ValueError, match="output"):
        build_model("mlp:8", (2,), 0)


def test_config_layers_defaults_file_flags(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('epochs = 3\n[train]\nbatch-size = 16\nlr = 1\nmodel = "mlp:8"\n')
    config = TrainConfig().updated(read_config_file(toml), str(toml))
    assert (config.epochs, config.batch_size, config.lr, config.model) == (3, 16, 1.0, "mlp:8")
    assert isinstance(config.lr, float)
    config = config.updated({"epochs": 5, "quiet": True}, "command line")
    assert config.epochs == 5 and "quiet" not in config.experiment()
    js = tmp_path / "config.json"
    config.to_json(js)
    assert TrainConfig().updated(read_config_file(js), str(js)).experiment() == \
        config.experiment()
    with pytest.raises(ValueError, match="unknown setting 'epoch'"):
        TrainConfig().updated({"epoch": 3}, "x.toml")
    with pytest.raises(ValueError, match="whole number"):
        TrainConfig().updated({"epochs": 2.5}, "x.toml")
    with pytest.raises(ValueError, match="true or false"):
        TrainConfig().updated({"monitor": "yes"}, "x.toml")
    with pytest.raises(ValueError, match="invalid TOML"):
        parse_toml("a = [", "x.toml")
    with pytest.raises(ValueError, match="momentum"):
        TrainConfig(momentum=1.5).validate()


def test_fallback_toml_parser_reads_simple_files() -> None:
    text = '# comment\ndata = "csv:a#b.csv"  # trailing\nepochs = 1_000\nlr = 3e-3\n' \
           "batch_norm = true\n[train]\nseed = 7\nname = 'x'\n"
    assert _parse_simple_toml(text, "t") == parse_toml(text)
    with pytest.raises(ValueError, match="tomli"):
        _parse_simple_toml("a = [1, 2]\n", "t")


def test_builders() -> None:
    m = nn.Linear(2, 2)
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        opt = build_optimizer(name, list(m.parameters()), 0.1, 0.0, 0.9)
        assert opt.param_groups[0]["lr"] == 0.1
    opt = build_optimizer("sgd", list(m.parameters()), 0.1)
    for name, interval in (("none", "epoch"), ("step", "epoch"), ("exponential", "epoch"),
                           ("cosine", "epoch"), ("onecycle", "batch"), ("plateau", "epoch"),
                           ("warmup", "batch")):
        sched, got = build_scheduler(name, opt, 10, 5, 0.1)
        assert got == interval and (sched is None) == (name == "none")
    # issue 11: no hidden label smoothing; the default is PyTorch's 0 (it was 0.1)
    assert build_loss(None, "classification").label_smoothing == 0.0
    assert build_loss(None, "classification", 0.1).label_smoothing == 0.1
    assert build_loss("ce", "classification", 0.0).label_smoothing == 0.0
    assert type(build_loss(None, "regression")).__name__ == "MSELoss"
    assert type(build_loss("huber", "regression")).__name__ == "HuberLoss"
    with pytest.raises(ValueError, match="regression"):
        build_loss("cross_entropy", "regression")
    for name in ("bce", "nll", "foo"):  # known to chainrule.losses, but not run losses
        with pytest.raises(ValueError, match="known for classification: cross_entropy, ce\\)"):
            build_loss(name, "classification")
