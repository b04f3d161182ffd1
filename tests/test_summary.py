"""``Module.summary()``: qualified layer names, output shapes from one forward pass, the
notebook rendering; and ``chainrule info``'s use of it."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn._summary import ModelSummary


def _rows(summary: ModelSummary) -> dict[str, tuple[str | None, int]]:
    return {r["name"]: (r["output_shape"], r["parameters"]) for r in summary.rows}


def test_mlp_output_shapes_and_totals() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 10))
    s = model.summary(input_size=(5, 64))
    assert isinstance(s, str) and isinstance(s, ModelSummary)
    assert _rows(s) == {"0": ("(5, 32)", 64 * 32 + 32), "1": ("(5, 32)", 0),
                        "2": ("(5, 32)", 0), "3": ("(5, 10)", 32 * 10 + 10)}
    assert s.output_shape == "(5, 10)" and s.input_size == (5, 64)
    assert s.total == s.trainable == 64 * 32 + 32 + 330
    lines = s.splitlines()
    assert lines[0].split() == ["layer", "type", "output", "shape", "parameters"]
    assert "input (5, 64) -> output (5, 10)" in s and "total parameters: 2,410" in s
    assert repr(s) == str(s)  # a notebook cell / the REPL shows the table, not a quoted str
    plain = model.summary()  # no input: the table without shapes, as before
    assert "output shape" not in plain and all(r["output_shape"] is None for r in plain.rows)
    assert "total parameters: 2,410 (trainable: 2,410)" in plain


def test_cnn_output_shapes_with_nested_qualified_names() -> None:
    class Block(nn.Module):
        def __init__(self, cin: int, cout: int) -> None:
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, 3, padding=1)
            self.norm = nn.BatchNorm2d(cout)

        def forward(self, x):
            return self.norm(self.conv(x)).relu()

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = nn.Sequential(Block(1, 4), nn.MaxPool2d(2), Block(4, 8))
            self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 4 * 4, 3))

        def forward(self, x):
            return self.head(self.encoder(x))

    cr.manual_seed(0)
    model = Net()
    s = model.summary(input_size=(2, 1, 8, 8))
    rows = _rows(s)
    assert rows["encoder.0.conv"] == ("(2, 4, 8, 8)", 4 * 9 + 4)
    assert rows["encoder.0.norm"] == ("(2, 4, 8, 8)", 8)
    assert rows["encoder.1"] == ("(2, 4, 4, 4)", 0)
    assert rows["encoder.2.conv"] == ("(2, 8, 4, 4)", 8 * 4 * 9 + 8)
    assert rows["head.0"] == ("(2, 128)", 0) and rows["head.1"] == ("(2, 3)", 128 * 3 + 3)
    assert "encoder.2.conv" in s and s.output_shape == "(2, 3)"


def test_lstm_classifier_with_integer_input_and_tuple_outputs() -> None:
    class Tagger(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = nn.Embedding(50, 8)
            self.lstm = nn.LSTM(8, 16, num_layers=2, batch_first=True)
            self.out = nn.Linear(16, 4)

        def forward(self, tokens):
            seq, (h, c) = self.lstm(self.embed(tokens))
            return self.out(seq[:, -1])

    cr.manual_seed(0)
    s = Tagger().summary(input_size=(3, 7), dtypes=cr.int64)
    rows = _rows(s)
    assert rows["embed"] == ("(3, 7, 8)", 400)
    # LSTM returns (output, (h_n, c_n)): every shape is shown
    assert rows["lstm"][0] == "[(3, 7, 16), [(2, 3, 16), (2, 3, 16)]]"
    assert rows["lstm"][1] == 4 * 16 * (8 + 16 + 2) + 4 * 16 * (16 + 16 + 2)
    assert rows["out"] == ("(3, 4)", 68) and s.output_shape == "(3, 4)"
    # the same through input_data
    tokens = cr.tensor(np.zeros((1, 5), np.int64))
    assert _rows(Tagger().summary(input_data=tokens))["embed"][0] == "(1, 5, 8)"


def test_a_shared_layer_called_twice_and_two_inputs() -> None:
    class Siamese(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.Linear(4, 2)

        def forward(self, a, b):
            return self.enc(a) - self.enc(b)

    s = Siamese().summary(input_size=[(3, 4), (3, 4)])
    assert _rows(s)["enc"] == ("(3, 2) x2", 10)
    assert "input [(3, 4), (3, 4)] -> output (3, 2)" in s


def test_summary_changes_nothing_it_runs_on() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Dropout(0.5),
                          nn.Linear(8, 2))
    model.train()
    state = {k: v.copy() for k, v in model.state_dict().items()}
    cr.manual_seed(3)
    expected = cr.rand(3).numpy()
    cr.manual_seed(3)
    model.summary(input_size=(2, 4))
    assert np.array_equal(cr.rand(3).numpy(), expected)  # no random numbers drawn
    assert all(m.training for m in model.modules())       # modes put back
    assert all(np.array_equal(v, state[k]) for k, v in model.state_dict().items())
    assert not model[0]._forward_hooks                   # hooks removed
    model.eval()
    model.summary(input_size=(2, 4))
    assert not any(m.training for m in model.modules())


def test_float64_model_gets_float64_inputs_and_errors_name_the_layer() -> None:
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh()).double()
    seen = []
    model[0].register_forward_hook(lambda m, args, out: seen.append(args[0].dtype))
    model.summary(input_size=(1, 3))
    assert seen == [np.float64]
    with pytest.raises(ValueError, match=r"layer '0'.*\(1, 5\)"):
        model.summary(input_size=(1, 5))
    with pytest.raises(TypeError, match="input_size"):
        model.summary(input_size="1x3")


def test_repr_html_escapes_and_lists_every_layer() -> None:
    class Odd(nn.Module):  # a leaf layer whose description is hostile
        def extra_repr(self) -> str:
            return "<script>x</script>"

        def forward(self, x):
            return x

    model = nn.Sequential(nn.Sequential(nn.Linear(2, 2), nn.ReLU()), Odd())
    html = model._repr_html_()
    assert html.startswith('<div class="chainrule-summary">') and "<table>" in html
    assert "<script>" not in html and "Odd(&lt;script&gt;x&lt;/script&gt;)" in html
    assert "<code>0.0</code>" in html and "<code>0.1</code>" in html
    assert "<code>1</code>" in html and "6 parameters (6 trainable)" in html
    shaped = model.summary(input_size=(1, 2))._repr_html_()
    assert "<th>output shape</th>" in shaped and "<code>(1, 2)</code>" in shaped


def test_info_shows_output_shapes_of_a_run_model(tmp_path) -> None:
    from chainrule import io
    from chainrule.train.inference import describe_file

    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 3))
    io.save(model, tmp_path / "m.safetensors", metadata={"input_shape": [6]})
    text = describe_file(tmp_path / "m.safetensors")
    assert "output shape" in text and "(1, 4)" in text and "input (1, 6) -> output (1, 3)" \
        in text
    io.save(model, tmp_path / "plain.safetensors")  # no input shape recorded: no shapes
    assert "output shape" not in describe_file(tmp_path / "plain.safetensors")
    io.save(model, tmp_path / "wrong.safetensors", metadata={"input_shape": [5]})
    wrong = describe_file(tmp_path / "wrong.safetensors")  # a shape that does not fit
    assert "output shape" not in wrong and "total parameters: 43" in wrong
