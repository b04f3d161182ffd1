"""Sequence classifiers written as a PyTorch user writes them: an Embedding + nn.LSTM
model reading the last hidden state, and a GRUCell unrolled by hand; CrossEntropyLoss,
Adam, nn.utils.clip_grad_norm_, a DataLoader over TensorDataset.

The task: does a sequence of tokens contain more 1s than 2s (token 0 pads)?
"""

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class LSTMClassifier(nn.Module):
    def __init__(self, vocab_size=5, embed_dim=8, hidden_dim=16, num_classes=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.lstm = nn.LSTM(embed_dim, hidden_dim, batch_first=True)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, x):
        embedded = self.embedding(x)
        output, (h_n, c_n) = self.lstm(embedded)
        return self.fc(h_n[-1])


class GRUCellClassifier(nn.Module):
    def __init__(self, vocab_size=5, embed_dim=8, hidden_dim=16, num_classes=2):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.cell = nn.GRUCell(embed_dim, hidden_dim)
        self.fc = nn.Linear(hidden_dim, num_classes)

    def forward(self, x):
        embedded = self.embedding(x)
        h = torch.zeros(x.size(0), self.hidden_dim)
        for t in range(x.size(1)):
            h = self.cell(embedded[:, t, :], h)
        return self.fc(h)


def make_sequences(n, length, seed):
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 5, (n, length))
    labels = ((tokens == 1).sum(1) > (tokens == 2).sum(1)).astype(np.int64)
    return tokens.astype(np.int64), labels


def make_loader(n, seed, length=12, batch_size=32, shuffle=True):
    tokens, labels = make_sequences(n, length, seed)
    return DataLoader(TensorDataset(torch.from_numpy(tokens), torch.from_numpy(labels)),
                      batch_size=batch_size, shuffle=shuffle)


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=1e-2), None


def train(model, loader, optimizer, max_steps=None):
    criterion = nn.CrossEntropyLoss()
    model.train()
    losses = []
    for step, (x, y) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        optimizer.zero_grad()
        logits = model(x)
        loss = criterion(logits, y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        optimizer.step()
        losses.append(loss.item())
    return losses


@torch.no_grad()
def accuracy(model, loader):
    model.eval()
    correct = total = 0
    for x, y in loader:
        correct += (model(x).argmax(dim=-1) == y).sum().item()
        total += y.size(0)
    return correct / total


def main(epochs=15, seed=0):
    torch.manual_seed(seed)
    train_loader = make_loader(1024, seed=0)
    test_loader = make_loader(256, seed=1, shuffle=False)
    results = {}
    for cls in (LSTMClassifier, GRUCellClassifier):
        model = cls()
        optimizer, _ = make_optimizer(model)
        for _ in range(epochs):
            losses = train(model, train_loader, optimizer)
        results[cls.__name__] = accuracy(model, test_loader)
        print(f"{cls.__name__}: loss {np.mean(losses):.4f}, "
              f"test accuracy {results[cls.__name__]:.1%}")
    return results


if __name__ == "__main__":
    main()
