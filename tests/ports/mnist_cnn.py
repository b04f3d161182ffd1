"""An MNIST-style CNN, written as a PyTorch user writes one (after PyTorch's
examples/mnist): Conv2d, F.relu, F.max_pool2d, Dropout, torch.flatten, F.log_softmax +
F.nll_loss, Adadelta and StepLR, a DataLoader over TensorDataset, .to(device).

Synthetic 14x14 "digits" (a class-specific stroke pattern plus noise) keep it offline.
"""

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
from torch.optim.lr_scheduler import StepLR
from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, 1)
        self.conv2 = nn.Conv2d(8, 16, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(16 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def make_images(n, seed):
    patterns = np.random.default_rng(1234).random((10, 14, 14)) > 0.7
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    images = patterns[labels] * 1.0 + rng.normal(0, 0.4, (n, 14, 14))
    return images[:, None].astype(np.float32), labels.astype(np.int64)


def make_loader(n, seed, batch_size=64, shuffle=True):
    images, labels = make_images(n, seed)
    dataset = TensorDataset(torch.tensor(images), torch.tensor(labels))
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle)


def train(model, device, train_loader, optimizer, epoch, log_interval=10, max_steps=None):
    model.train()
    losses = []
    for batch_idx, (data, target) in enumerate(train_loader):
        if max_steps is not None and batch_idx >= max_steps:
            break
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if batch_idx % log_interval == 0:
            print(f"Train Epoch: {epoch} [{batch_idx * len(data)}/"
                  f"{len(train_loader.dataset)}]\tLoss: {loss.item():.6f}")
    return losses


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction="sum").item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    accuracy = correct / len(test_loader.dataset)
    print(f"Test set: Average loss: {test_loss:.4f}, Accuracy: {accuracy:.1%}")
    return test_loss, accuracy


def make_optimizer(model):
    optimizer = optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = StepLR(optimizer, step_size=1, gamma=0.7)
    return optimizer, scheduler


def main(epochs=3, seed=1):
    torch.manual_seed(seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    train_loader = make_loader(2048, seed=0)
    test_loader = make_loader(512, seed=1, batch_size=256, shuffle=False)
    model = Net().to(device)
    optimizer, scheduler = make_optimizer(model)
    for epoch in range(1, epochs + 1):
        train(model, device, train_loader, optimizer, epoch)
        result = test(model, device, test_loader)
        scheduler.step()
    return result


if __name__ == "__main__":
    main()
