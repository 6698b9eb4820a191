#!/usr/bin/env python3
"""PyTorch peer of bench/train-throughput.ts: the same architectures, data, optimizer and batch order.

Full SGD steps (forward, cross-entropy, backward, momentum 0.9 update) on the first --samples Fashion-MNIST
training images, normalized (x/255 - 0.286) / 0.353, batches taken in order; prints one JSON line.

    /usr/bin/python3 bench/peers/train_throughput_torch.py --model lenet --batch 32 --threads 1 --data DIR
"""
import argparse, gzip, json, os, platform, struct, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_env import ran_with


def load_fmnist(data_dir, n=None, split="train"):
    """The first n images of a split (all when n is None), normalized (x/255 - 0.286) / 0.353, and their labels."""
    def read(name):
        path = os.path.join(data_dir, name)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            return f.read()
    prefix = "train" if split == "train" else "t10k"
    raw = read(f"{prefix}-images-idx3-ubyte.gz")
    _, count, h, w = struct.unpack(">IIII", raw[:16])
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(count, 1, h, w)[:n]
    labels = np.frombuffer(read(f"{prefix}-labels-idx1-ubyte.gz"), dtype=np.uint8, offset=8)[:n]
    x = torch.from_numpy(((images.astype(np.float32) / 255.0) - 0.286) / 0.353)
    return x.contiguous(), torch.from_numpy(labels.astype(np.int64))


class LeNet5(nn.Module):
    # conv1 6@5x5 pad 2 -> relu -> maxpool 2 -> conv2 16@5x5 -> relu -> maxpool 2 -> 120 -> 84 -> 10 (as shared/models/lenet.ts)
    def __init__(self, classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class Block(nn.Module):
    # BasicBlock as shared/models/resnet.ts: without BN the convs carry a bias; with BN (eps 1e-5, tfjs momentum 0.9 =
    # PyTorch's 0.1) they do not
    def __init__(self, cin, cout, stride, bn=False):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c, eps=1e-5, momentum=0.1)) if bn else (lambda c: nn.Identity())
        self.conv1, self.bn1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn), norm(cout)
        self.conv2, self.bn2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn), norm(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=not bn), norm(cout)) if stride != 1 or cin != cout else None
        )

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet18(nn.Module):
    def __init__(self, stem, in_ch=1, classes=10, bn=False):
        super().__init__()
        self.stem = stem
        self.conv1 = nn.Conv2d(in_ch, 64, 7, 2, 3, bias=not bn) if stem == "imagenet" else nn.Conv2d(in_ch, 64, 3, 1, 1, bias=not bn)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5, momentum=0.1) if bn else nn.Identity()
        layers, cin = [], 64
        for i, c in enumerate([64, 128, 256, 512]):
            layers += [Block(cin, c, 1 if i == 0 else 2, bn), Block(c, c, 1, bn)]
            cin = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        if self.stem == "imagenet":
            x = F.max_pool2d(x, 3, 2, 1)
        x = self.layers(x)
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def sgd_stepper(model, x, y, batch):
    """One SGD step (momentum 0.9, lr 0.01) on the next batch of x, y in order, cycling; the loss is read back."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    batches = max(1, x.shape[0] // batch)
    state = {"b": 0}

    def step():
        s = state["b"] * batch
        xb, yb = x[s:s + batch], y[s:s + batch]
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        loss.item()  # as lwi reads its loss back every step
        state["b"] = (state["b"] + 1) % batches

    return step


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="lenet", choices=["lenet", "resnet18", "resnet18-imagenet"])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = load_fmnist(a.data, a.samples)
    model = LeNet5() if a.model == "lenet" else ResNet18("imagenet" if a.model.endswith("imagenet") else "small")
    step = sgd_stepper(model, x, y, a.batch)

    for _ in range(a.warmup):
        step()
    steps = a.steps
    if steps == 0:
        t = time.perf_counter(); step()
        steps = max(3, round(10.0 / (time.perf_counter() - t)))
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = time.perf_counter() - t0
    print(json.dumps({
        "bench": "train-throughput", "impl": "pytorch", "backend": f"torch {torch.__version__} cpu",
        "model": a.model, "batch": a.batch, "threads": a.threads, "steps": steps, "seconds": seconds,
        "imagesPerSecond": steps * a.batch / seconds, "data": "fashion-mnist train (real batches, in order)",
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "ranWith": ran_with(),
    }))


if __name__ == "__main__":
    main()
