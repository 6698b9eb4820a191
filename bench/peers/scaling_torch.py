#!/usr/bin/env python3
"""PyTorch peer of bench/scaling-throughput.ts: train_throughput_torch.py's models, data and step, plus the MLP,
timed as the best of --repeats windows of about --seconds each.

The MLP is shared/models/mlp.ts: flatten -> [Linear(width) -> ReLU] x depth -> Linear(classes). Full SGD steps
(forward, cross-entropy, backward, momentum 0.9 update, loss read back) on the first --samples Fashion-MNIST
training images, batches in order; prints one JSON line.

    /usr/bin/python3 bench/peers/scaling_torch.py --model mlp --depth 8 --width 512 --batch 32 --threads 1

Debian's python3-torch runs Linear on the system's libblas.so.3 (the reference BLAS unless an optimized one is
installed); LD_LIBRARY_PATH=<dir with another libblas.so.3> swaps it for this process only (bench/scaling.ts
--peer-blas). The JSON names the BLAS that was loaded.
"""
import argparse, json, platform, time

import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_env import blas, ran_with
from train_throughput_torch import LeNet5, ResNet18, load_fmnist, sgd_stepper


def mlp(depth, width, inputs=28 * 28, classes=10):
    layers, n = [nn.Flatten()], inputs
    for _ in range(depth):
        layers += [nn.Linear(n, width), nn.ReLU()]
        n = width
    return nn.Sequential(*layers, nn.Linear(n, classes))


def build(a):
    if a.model == "mlp":
        return mlp(a.depth, a.width)
    if a.model == "lenet":
        return LeNet5()
    return ResNet18("imagenet" if a.model.endswith("imagenet") else "small")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="mlp", choices=["lenet", "resnet18", "resnet18-imagenet", "mlp"])
    p.add_argument("--depth", type=int, default=8)
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=0)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--samples", type=int, default=4096)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    x, y = load_fmnist(a.data, a.samples)
    model = build(a)
    step = sgd_stepper(model, x, y, a.batch)

    for _ in range(a.warmup):
        step()
    steps = a.steps
    if steps == 0:  # as bench/scaling-train.ts timeSteps: size a window from 3 steps, best of --repeats windows
        t = time.perf_counter()
        for _ in range(3):
            step()
        steps = max(3, round(a.seconds * 3 / (time.perf_counter() - t)))
    windows, seconds = [], 0.0
    for _ in range(a.repeats):
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        s = time.perf_counter() - t0
        seconds += s
        windows.append(steps * a.batch / s)
    print(json.dumps({
        "bench": "train-throughput", "impl": "pytorch", "backend": f"torch {torch.__version__} cpu", "blas": blas(),
        "model": a.model,
        **({"depth": a.depth, "width": a.width} if a.model == "mlp" else {}),
        "params": sum(t.numel() for t in model.parameters()), "batch": a.batch, "threads": a.threads,
        "steps": steps, "repeats": a.repeats, "seconds": seconds, "windows": windows,
        "imagesPerSecond": max(windows),
        "data": "fashion-mnist train (real batches, in order)",
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "ranWith": ran_with(),
    }))


if __name__ == "__main__":
    main()
