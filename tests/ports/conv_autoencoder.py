"""A small convolutional autoencoder written as a PyTorch user writes one: strided
Conv2d encoder, ConvTranspose2d and nn.Upsample decoder, Sigmoid output, MSELoss, Adam
with weight decay, a DataLoader over TensorDataset.

The images: 16x16 blobs (a Gaussian bump at a random place) that the bottleneck must
learn to redraw.
"""

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import DataLoader, TensorDataset


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 8, 3, stride=2, padding=1),   # 16 -> 8
            nn.ReLU(),
            nn.Conv2d(8, 16, 3, stride=2, padding=1),  # 8 -> 4
            nn.ReLU(),
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),  # 4 -> 8
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),  # 8 -> 16
            nn.Conv2d(8, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def forward(self, x):
        return self.decoder(self.encoder(x))


def make_blobs(n, seed, size=16):
    rng = np.random.default_rng(seed)
    centers = rng.uniform(3, size - 3, (n, 2))
    grid = np.arange(size)
    dy = (grid[None, :, None] - centers[:, 0, None, None]) ** 2
    dx = (grid[None, None, :] - centers[:, 1, None, None]) ** 2
    return np.exp(-(dx + dy) / 8.0)[:, None].astype(np.float32)


def make_loader(n, seed, batch_size=32, shuffle=True):
    images = torch.tensor(make_blobs(n, seed))
    return DataLoader(TensorDataset(images, images), batch_size=batch_size, shuffle=shuffle)


def make_optimizer(model):
    return torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-5), None


def train(model, loader, optimizer, max_steps=None):
    criterion = nn.MSELoss()
    model.train()
    losses = []
    for step, (images, targets) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        optimizer.zero_grad()
        reconstruction = model(images)
        loss = criterion(reconstruction, targets)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def main(epochs=20, seed=0):
    torch.manual_seed(seed)
    loader = make_loader(512, seed=0)
    model = AutoEncoder()
    optimizer, _ = make_optimizer(model)
    for epoch in range(epochs):
        losses = train(model, loader, optimizer)
        print(f"epoch {epoch + 1}: reconstruction MSE {np.mean(losses):.5f}")
    return float(np.mean(losses))


if __name__ == "__main__":
    main()
