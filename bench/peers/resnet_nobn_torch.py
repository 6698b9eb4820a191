#!/usr/bin/env python3
"""PyTorch peer of the main job (pipelines/resnet-nobn.ts): its heuristic experiments, end to end, in PyTorch.

Same data files (Fashion-MNIST IDX), sizes and roles: --subset training images (0 = all) of which --validation are
held out and scored after every epoch, --test-subset test images (0 = all) scored at the end in batches of 256 (as
lwi's evaluate). Which images: a seeded numpy permutation, not lwi's own sampler (same sizes and source, not the
same indices). Normalization (x/255 - 0.286) / 0.353. Same model (shared/models/resnet.ts: ResNet18, ImageNet or
small stem, no BN with conv biases, or BN without), same init (Kaiming normal fan-in gain sqrt(2), or N(0, 1), on
every conv and dense kernel, biases 0, BN gamma 1 beta 0), same optimizer (SGD momentum 0.9, lr 0.01, batch 32,
constant schedule, samples reshuffled every epoch, the last partial batch kept, the loss read back every step) and
epochs.

The LW rows are skipped: their layers are learned by lwi (the LW step itself is lwi's work, with no PyTorch twin);
bench/main-job.ts shows lwi's time for them alone. Prints one JSON line: per experiment its seconds (init, training
with per-epoch validation, test evaluation), test accuracy and whether it diverged; the data handling time; and
what the process ran with.

    /usr/bin/python3 bench/peers/resnet_nobn_torch.py --epochs 1 --subset 2000 --test-subset 500 --threads 1
"""
import argparse, json, math, time

T0 = time.perf_counter()

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from peer_env import ran_with
from train_throughput_torch import ResNet18, load_fmnist

# The main job's heuristic experiments (pipelines/resnet-nobn.ts experimentsPlan), in its order.
EXPERIMENTS = [
    {"key": "rae1", "id": "RAE1: Kaiming (no BN)", "init": "kaiming", "bn": False},
    {"key": "rae2", "id": "RAE2: N(0,1) (no BN)", "init": "normal", "bn": False},
    {"key": "kaiming-bn", "id": "Kaiming + BN", "init": "kaiming", "bn": True},
]


def initialize(model, how, seed):
    torch.manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if how == "kaiming":
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, 0.0, 1.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def evaluate(model, x, y, batch=256):
    """Mean loss and accuracy, in batches of 256; the model in eval mode (BN on its running statistics)."""
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for s in range(0, x.shape[0], batch):
            logits = model(x[s:s + batch])
            loss += F.cross_entropy(logits, y[s:s + batch], reduction="sum").item()
            correct += (logits.argmax(1) == y[s:s + batch]).sum().item()
    model.train()
    return loss / x.shape[0], correct / x.shape[0]


def train(model, data, a, seed):
    x, y = data["train"]
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    rng = np.random.default_rng(seed)
    history, diverged = [], None
    for epoch in range(a.epochs):
        order = torch.from_numpy(rng.permutation(x.shape[0]))
        total, correct = 0.0, 0
        for b in range(math.ceil(x.shape[0] / a.batch)):
            idx = order[b * a.batch:(b + 1) * a.batch]
            opt.zero_grad(set_to_none=True)
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            loss.backward()
            opt.step()
            value = loss.item()  # read back every step, as lwi does (divergence check, epoch loss)
            if not math.isfinite(value):
                diverged = {"epoch": epoch, "batch": b}
                break
            total += value * idx.shape[0]
            correct += (logits.argmax(1) == y[idx]).sum().item()
        if diverged:
            break
        val_loss, val_acc = evaluate(model, *data["validation"])
        history.append({"trainLoss": total / x.shape[0], "trainAccuracy": correct / x.shape[0], "validationLoss": val_loss, "validationAccuracy": val_acc})
    return history, diverged


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--subset", type=int, default=0, help="training images (0 = all)")
    p.add_argument("--test-subset", type=int, default=0, help="test images (0 = all)")
    p.add_argument("--validation", type=int, default=200)
    p.add_argument("--stem", default="imagenet", choices=["imagenet", "small"])
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--experiments", default=",".join(e["key"] for e in EXPERIMENTS), help="rae1,rae2,kaiming-bn")
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    wanted = a.experiments.split(",")
    unknown = [w for w in wanted if w not in {e["key"] for e in EXPERIMENTS}]
    if unknown:
        raise SystemExit(f"--experiments: unknown {unknown}; choose from {[e['key'] for e in EXPERIMENTS]}")

    t = time.perf_counter()
    rng = np.random.default_rng(a.seed)
    x, y = load_fmnist(a.data, None, "train")
    order = torch.from_numpy(rng.permutation(x.shape[0]))
    n = a.subset if a.subset > 0 else x.shape[0]
    if n <= a.validation:
        raise SystemExit(f"--subset {a.subset}: need more than --validation {a.validation} training images")
    val_idx, train_idx = order[:a.validation], order[a.validation:n]
    tx, ty = load_fmnist(a.data, None, "test")
    test_idx = torch.from_numpy(rng.permutation(tx.shape[0])[:a.test_subset or tx.shape[0]])
    data = {"train": (x[train_idx].contiguous(), y[train_idx]), "validation": (x[val_idx].contiguous(), y[val_idx]), "test": (tx[test_idx].contiguous(), ty[test_idx])}
    data_seconds = time.perf_counter() - t

    results = []
    for e in [e for e in EXPERIMENTS if e["key"] in wanted]:
        t = time.perf_counter()
        model = ResNet18(a.stem, bn=e["bn"])
        initialize(model, e["init"], a.seed)
        init_seconds = time.perf_counter() - t
        history, diverged = train(model, data, a, a.seed)
        train_seconds = time.perf_counter() - t - init_seconds
        test_loss, test_acc = evaluate(model, *data["test"])
        seconds = time.perf_counter() - t
        results.append({
            "id": e["id"], "seconds": seconds, "initSeconds": init_seconds, "trainSeconds": train_seconds,
            "evaluateSeconds": seconds - init_seconds - train_seconds, "testAccuracy": test_acc,
            "testLoss": test_loss if math.isfinite(test_loss) else None, "diverged": diverged, "history": history,
        })
    print(json.dumps({
        "bench": "main-job", "impl": "pytorch", "epochs": a.epochs, "stem": a.stem, "batch": a.batch,
        "train": int(train_idx.shape[0]), "validation": a.validation, "test": int(test_idx.shape[0]),
        "dataSeconds": data_seconds, "experiments": results, "processSeconds": time.perf_counter() - T0,
        "skipped": "LW rows: the layers are learned by lwi; no PyTorch twin of the LW step",
        "ranWith": ran_with(),
    }))


if __name__ == "__main__":
    main()
