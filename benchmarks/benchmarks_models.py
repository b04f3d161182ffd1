"""The sequence workloads' models, written the same way in chainrule and PyTorch."""

from __future__ import annotations

from typing import Any


def char_lstm(nn: Any, s: dict) -> Any:
    """Embedding → LSTM → Linear, in whichever ``nn`` namespace is given (chainrule's or
    PyTorch's: the layer names and arguments are the same)."""

    class CharLSTM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(s["vocab"], s["embed"])
            self.lstm = nn.LSTM(s["embed"], s["hidden"], batch_first=True)
            self.head = nn.Linear(s["hidden"], s["vocab"])

        def forward(self, ids: Any) -> Any:
            out, _ = self.lstm(self.emb(ids))
            return self.head(out)

    return CharLSTM()


def cr_transformer(s: dict) -> Any:
    from chainrule import nn

    return nn.DecoderOnlyTransformer(s["vocab"], s["seq"], s["d_model"], s["heads"],
                                     s["layers"], 4 * s["d_model"])


def torch_transformer(s: dict) -> Any:
    """The same pre-LN decoder as chainrule's DecoderOnlyTransformer, in torch.nn."""
    import torch
    from torch import nn

    d, t = s["d_model"], s["seq"]

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln1 = nn.LayerNorm(d)
            self.attn = nn.MultiheadAttention(d, s["heads"], batch_first=True)
            self.ln2 = nn.LayerNorm(d)
            self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))
            self.register_buffer("mask", torch.triu(torch.ones(t, t, dtype=torch.bool), 1))

        def forward(self, x: Any) -> Any:
            h = self.ln1(x)
            n = x.shape[1]
            a, _ = self.attn(h, h, h, attn_mask=self.mask[:n, :n], need_weights=False,
                             is_causal=True)
            x = x + a
            return x + self.mlp(self.ln2(x))

    class Decoder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.tok_emb = nn.Embedding(s["vocab"], d)
            self.pos = nn.Parameter(torch.randn(t, d) * 0.02)
            self.blocks = nn.ModuleList(Block() for _ in range(s["layers"]))
            self.ln_f = nn.LayerNorm(d)
            self.head = nn.Linear(d, s["vocab"], bias=False)

        def forward(self, ids: Any) -> Any:
            x = self.tok_emb(ids) + self.pos[: ids.shape[1]]
            for block in self.blocks:
                x = block(x)
            return self.head(self.ln_f(x))

    return Decoder()
