"""Attention: the fused scaled-dot-product op against central differences and PyTorch,
MultiheadAttention against PyTorch (names, masks, weights, gradients), and the decoder-only
transformer (the causal mask really hides the future; it learns)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
from chainrule.backend import Generator
from chainrule.losses import cross_entropy
from chainrule.nn.attention import MultiheadAttention
from chainrule.nn.transformer import (
    DecoderOnlyTransformer,
    PositionalEmbedding,
    TransformerBlock,
    sinusoidal_table,
)
from chainrule.ops.attention import scaled_dot_product_attention as sdpa
from helpers import check_grads

# ---- helpers ------------------------------------------------------------------------------


def t64(a: np.ndarray, grad: bool = True) -> cr.Tensor:
    return cr.tensor(np.array(a, dtype=np.float64), requires_grad=grad, dtype="float64")


def randn(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


# ---- scaled_dot_product_attention: central differences ---------------------------------


def qkv(seed: int, batch: tuple = (2,), L: int = 4, S: int = 5, E: int = 3, Ev: int = 2):
    return (t64(randn(*batch, L, E, seed=seed)), t64(randn(*batch, S, E, seed=seed + 1)),
            t64(randn(*batch, S, Ev, seed=seed + 2)))


def test_sdpa_gradients_without_mask() -> None:
    q, k, v = qkv(0)
    r = randn(2, 4, 2, seed=9)
    check_grads(lambda: (sdpa(q, k, v) * r).sum(), [q, k, v])


def test_sdpa_gradients_with_causal_mask() -> None:
    q, k, v = qkv(3, L=5, S=5)
    r = randn(2, 5, 2, seed=10)
    check_grads(lambda: (sdpa(q, k, v, is_causal=True) * r).sum(), [q, k, v])


def test_sdpa_gradients_with_boolean_and_learned_float_masks() -> None:
    q, k, v = qkv(6, batch=(2, 3))
    keep = np.random.default_rng(11).random((4, 5)) > 0.3
    keep[:, 0] = True
    bias = t64(randn(3, 1, 5, seed=12))  # broadcast over batch and queries
    r = randn(2, 3, 4, 2, seed=13)
    check_grads(lambda: (sdpa(q, k, v, attn_mask=keep) * r).sum(), [q, k, v])
    check_grads(lambda: (sdpa(q, k, v, attn_mask=bias) * r).sum(), [q, k, v, bias])


def test_sdpa_gradients_with_dropout_and_fixed_generator() -> None:
    q, k, v = qkv(14)
    r = randn(2, 4, 2, seed=15)
    check_grads(lambda: (sdpa(q, k, v, dropout_p=0.3, generator=Generator(0)) * r).sum(),
                [q, k, v])


def test_sdpa_broadcasts_batch_axes() -> None:
    q = t64(randn(2, 3, 4, 3, seed=16))
    k, v = t64(randn(1, 5, 3, seed=17)), t64(randn(5, 2, seed=18))
    r = randn(2, 3, 4, 2, seed=19)
    check_grads(lambda: (sdpa(q, k, v) * r).sum(), [q, k, v])


def test_fully_masked_rows_give_zeros_not_nan() -> None:
    q, k, v = qkv(20)
    keep = np.ones((4, 5), dtype=bool)
    keep[1] = False
    out = sdpa(q, k, v, attn_mask=keep)
    out.sum().backward()
    assert np.all(np.isfinite(out.numpy())) and np.all(out.numpy()[:, 1] == 0)
    assert np.all(np.isfinite(q.grad)) and np.all(q.grad[:, 1] == 0)
    f32 = cr.float32
    huge = sdpa(cr.tensor(np.full((1, 3, 2), 1e4), dtype=f32),
                cr.tensor(np.full((1, 3, 2), 1e4), dtype=f32),
                cr.tensor(np.ones((1, 3, 2)), dtype=f32), is_causal=True)
    assert np.all(np.isfinite(huge.numpy())) and huge.dtype == np.float32


def test_sdpa_rejects_bad_arguments() -> None:
    q, k, v = qkv(21)
    with pytest.raises(ValueError, match="same last axis"):
        sdpa(q, t64(randn(2, 5, 4, seed=0)), v)
    with pytest.raises(ValueError, match="not both"):
        sdpa(q, k, v, attn_mask=np.ones((4, 5), bool), is_causal=True)
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, k, v, attn_mask=np.ones((4, 4), bool))


@pytest.mark.torch
@pytest.mark.parametrize("mask", ["none", "causal", "bool", "float"])
def test_sdpa_matches_pytorch(mask: str) -> None:
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    q, k, v = qkv(22, batch=(2, 3), L=5, S=5, E=4, Ev=3)
    rng = np.random.default_rng(23)
    kwargs, tkwargs = {}, {}
    if mask == "causal":
        kwargs = tkwargs = {"is_causal": True}
    elif mask == "bool":
        keep = rng.random((2, 1, 5, 5)) > 0.4
        keep[..., 0] = True
        kwargs, tkwargs = {"attn_mask": keep}, {"attn_mask": torch.from_numpy(keep)}
    elif mask == "float":
        add = rng.standard_normal((5, 5))
        kwargs, tkwargs = {"attn_mask": add}, {"attn_mask": torch.from_numpy(add)}
    r = rng.standard_normal((2, 3, 5, 3))
    out = sdpa(q, k, v, **kwargs)
    (out * r).sum().backward()
    tq, tk, tv = (torch.tensor(t.numpy(), requires_grad=True) for t in (q, k, v))
    tout = F.scaled_dot_product_attention(tq, tk, tv, **tkwargs)
    (tout * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-10)
    for ours, theirs in ((q, tq), (k, tk), (v, tv)):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), atol=1e-10)


# ---- MultiheadAttention -------------------------------------------------------------------


def test_mha_parameters_follow_pytorch() -> None:
    cr.manual_seed(0)
    mha = MultiheadAttention(8, 2)
    shapes = {k: v.shape for k, v in mha.state_dict().items()}
    assert shapes == {"in_proj_weight": (24, 8), "in_proj_bias": (24,),
                      "out_proj.weight": (8, 8), "out_proj.bias": (8,)}
    assert np.all(mha.in_proj_bias.numpy() == 0) and np.all(mha.out_proj.bias.numpy() == 0)
    assert np.abs(mha.in_proj_weight.numpy()).max() <= np.sqrt(6 / (8 + 24))
    with pytest.raises(ValueError, match="multiple of num_heads"):
        MultiheadAttention(10, 3)


def _mha_pair(torch, embed: int, heads: int, batch_first: bool, bias: bool = True):
    cr.manual_seed(1)
    ours = MultiheadAttention(embed, heads, bias=bias, batch_first=batch_first).double()
    theirs = torch.nn.MultiheadAttention(embed, heads, bias=bias,
                                         batch_first=batch_first).double()
    # non-zero biases so that their gradients are tested too
    state = {k: v + 0.1 * np.random.default_rng(2).standard_normal(v.shape) if v.ndim == 1
             else v for k, v in ours.state_dict().items()}
    ours.load_state_dict(state)
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in state.items()})
    return ours, theirs


def _compare_grads(ours, theirs, pairs) -> None:
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs.get_parameter(k).grad.numpy(), atol=1e-5,
                                   err_msg=k)
    for a, b in pairs:
        np.testing.assert_allclose(a.grad, b.grad.numpy(), atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("masks", ["none", "causal_bool", "float_and_padding"])
@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
def test_mha_self_attention_matches_pytorch(batch_first: bool, masks: str) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _mha_pair(torch, 8, 2, batch_first)
    L, N = 5, 3
    x = randn(*((N, L, 8) if batch_first else (L, N, 8)), seed=3)
    kwargs: dict = {}
    tkwargs: dict = {}
    if masks == "causal_bool":
        blocked = np.triu(np.ones((L, L), bool), 1)
        kwargs = {"attn_mask": blocked}
        tkwargs = {"attn_mask": torch.from_numpy(blocked)}
    elif masks == "float_and_padding":
        add = randn(N * 2, L, L, seed=4)
        pad = np.zeros((N, L), bool)
        pad[0, -2:] = True
        kwargs = {"attn_mask": add, "key_padding_mask": pad}
        tkwargs = {"attn_mask": torch.from_numpy(add), "key_padding_mask": torch.from_numpy(pad)}
    X, tx = t64(x), torch.tensor(x, requires_grad=True)
    out, w = ours(X, X, X, **kwargs)
    tout, tw = theirs(tx, tx, tx, **tkwargs)
    r = randn(*out.shape, seed=5)
    (out * r).sum().backward()
    (tout * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), atol=1e-5)
    assert w.shape == (N, L, L)
    _compare_grads(ours, theirs, [(X, tx)])


@pytest.mark.torch
@pytest.mark.parametrize("shared_kv", [False, True])
def test_mha_cross_attention_matches_pytorch(shared_kv: bool) -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _mha_pair(torch, 12, 3, batch_first=True)
    q, k, v = randn(2, 4, 12, seed=6), randn(2, 6, 12, seed=7), randn(2, 6, 12, seed=8)
    Q, K = t64(q), t64(k)
    V = K if shared_kv else t64(v)
    tq, tk = torch.tensor(q, requires_grad=True), torch.tensor(k, requires_grad=True)
    tv = tk if shared_kv else torch.tensor(v, requires_grad=True)
    out, w = ours(Q, K, V, average_attn_weights=False)
    tout, tw = theirs(tq, tk, tv, average_attn_weights=False)
    r = randn(2, 4, 12, seed=9)
    (out * r).sum().backward()
    (tout * torch.from_numpy(r)).sum().backward()
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), atol=1e-5)
    assert w.shape == (2, 3, 4, 6)
    pairs = [(Q, tq), (K, tk)] + ([] if shared_kv else [(V, tv)])
    _compare_grads(ours, theirs, pairs)


@pytest.mark.torch
def test_mha_unbatched_without_bias_matches_pytorch() -> None:
    torch = pytest.importorskip("torch")
    ours, theirs = _mha_pair(torch, 6, 2, batch_first=False, bias=False)
    x = randn(4, 6, seed=10)
    X, tx = t64(x), torch.tensor(x, requires_grad=True)
    out, w = ours(X, X, X)
    tout, tw = theirs(tx, tx, tx)
    assert out.shape == (4, 6) and w.shape == (4, 4)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), atol=1e-5)
    out.sum().backward()
    tout.sum().backward()
    _compare_grads(ours, theirs, [(X, tx)])


def test_mha_gradients_match_central_differences_with_causal_hint() -> None:
    cr.manual_seed(3)
    mha = MultiheadAttention(4, 2, batch_first=True).double()
    x = t64(randn(2, 3, 4, seed=11))
    r = randn(2, 3, 4, seed=12)

    def loss() -> cr.Tensor:
        out, w = mha(x, x, x, is_causal=True, need_weights=False)
        assert w is None
        return (out * r).sum()

    check_grads(loss, [x, mha.in_proj_weight, mha.out_proj.weight])


# ---- transformer --------------------------------------------------------------------------


def test_positional_embeddings() -> None:
    table = sinusoidal_table(10, 6)
    assert table.shape == (10, 6) and table.dtype == np.float32
    np.testing.assert_allclose(table[0], [0, 1, 0, 1, 0, 1])
    np.testing.assert_allclose(table[3, 0], np.sin(3.0), rtol=1e-6)
    fixed = PositionalEmbedding(10, 6, kind="sinusoidal")
    assert list(fixed.state_dict()) == [] and list(fixed.parameters()) == []
    learned = PositionalEmbedding(10, 6)
    assert list(learned.state_dict()) == ["weight"]
    out = learned(cr.zeros(2, 4, 6))
    np.testing.assert_array_equal(out.numpy()[1], learned.weight.numpy()[:4])
    with pytest.raises(ValueError, match="longer than the context"):
        learned(cr.zeros(1, 11, 6))


def test_transformer_block_gradients_match_central_differences() -> None:
    cr.manual_seed(4)
    block = TransformerBlock(4, 2, 8).double()
    x = t64(randn(2, 3, 4, seed=13))
    r = randn(2, 3, 4, seed=14)
    # GELU's erf is a 1e-7 approximation, so finite differences agree to about that
    check_grads(lambda: (block(x) * r).sum(), [x, block.attn.in_proj_weight,
                                                 block.mlp[0].weight], rtol=1e-4, atol=1e-6)


def test_causal_mask_hides_the_future() -> None:
    cr.manual_seed(5)
    model = DecoderOnlyTransformer(vocab_size=11, context=8, d_model=16, num_heads=4,
                                   num_layers=2, d_ff=32)
    ids = np.array([[1, 5, 2, 7, 3, 9, 4, 6]])
    changed = ids.copy()
    changed[0, 5] = 10
    with cr.no_grad():
        a = model(ids).numpy()
        b = model(changed).numpy()
    assert a.shape == (1, 8, 11) and a.dtype == np.float32
    np.testing.assert_array_equal(a[:, :5], b[:, :5])  # positions before 5 never see it
    assert np.abs(a[:, 5:] - b[:, 5:]).min() > 0  # positions from 5 on do

    # and no gradient flows from an early logit to a later token's embedding
    model.tok_emb.weight.grad = None
    model(ids)[0, 2].sum().backward()
    np.testing.assert_array_equal(model.tok_emb.weight.grad[[7, 3, 9, 4, 6]], 0)
    assert np.abs(model.tok_emb.weight.grad[[1, 5, 2]]).max() > 0


def test_transformer_options_and_errors() -> None:
    cr.manual_seed(6)
    model = DecoderOnlyTransformer(13, 6, 8, 2, 1, 16, positional="sinusoidal",
                                   tie_weights=True)
    assert model.head.weight is model.tok_emb.weight
    names = [k for k, _ in model.named_parameters()]
    assert "head.weight" not in names and "tok_emb.weight" in names
    assert model(np.zeros((3, 6), np.int64)).shape == (3, 6, 13)
    with pytest.raises(ValueError, match="exceed the context"):
        model(np.zeros((1, 7), np.int64))
    with pytest.raises(ValueError, match="batch, time"):
        model(np.zeros(5, np.int64))
    out = model.generate(np.array([[1, 2]]), 9, generator=Generator(0))
    assert out.shape == (1, 11) and out.min() >= 0 and out.max() < 13
    greedy = model.generate([[1, 2]], 3, temperature=0)
    np.testing.assert_array_equal(greedy, model.generate([[1, 2]], 3, temperature=0))


def test_tiny_transformer_learns_a_pattern() -> None:
    cr.manual_seed(7)
    model = DecoderOnlyTransformer(vocab_size=6, context=12, d_model=32, num_heads=4,
                                   num_layers=2, d_ff=64)
    params = list(model.parameters())
    m = [np.zeros_like(p.numpy()) for p in params]
    v = [np.zeros_like(p.numpy()) for p in params]
    rng = np.random.default_rng(0)
    losses = []
    for step in range(1, 61):
        # sequences count up modulo 6 from a random start: next token = current + 1
        starts = rng.integers(0, 6, (8, 1))
        seq = (starts + np.arange(13)) % 6
        for p in params:
            p.grad = None
        logits = model(seq[:, :-1])
        loss = cross_entropy(logits.reshape(-1, 6), seq[:, 1:].reshape(-1))
        loss.backward()
        for p, mp, vp in zip(params, m, v):  # Adam, written out to stay self-contained
            mp += 0.1 * (p.grad - mp)
            vp += 0.001 * (p.grad**2 - vp)
            p.data -= 3e-3 * (mp / (1 - 0.9**step)) / (np.sqrt(vp / (1 - 0.999**step)) + 1e-8)
        losses.append(loss.item())
    assert np.mean(losses[-5:]) < 0.2 * np.mean(losses[:3]), losses
