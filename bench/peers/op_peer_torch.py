#!/usr/bin/env python3
"""PyTorch peer of bench/op-peer.ts: times PyTorch's own kernel for each shim call lwi captured from a training step.

Reads a JSON file of calls ({key, op, shapes, dtypes, ints, floats}; shapes in tfjs's logical layout, NHWC images and
HWIO filters) and times the ATen op a PyTorch training step runs for the same work, on NCHW-contiguous tensors
(PyTorch's default layout), with the same threads; prints one JSON line {times: {key: µs or null}, ranWith}.
Ops without a PyTorch counterpart in a training step (tfjs's one_hot, a float→float cast) are timed as the nearest
op; ops this file does not know get null.

    /usr/bin/python3 bench/peers/op_peer_torch.py --calls FILE --threads 1 [--min-ms 30]
"""
import argparse, json, statistics, time

import torch
import torch.nn.functional as F

from peer_env import ran_with

aten = torch.ops.aten


def nchw(shape):
    """A tfjs NHWC shape as PyTorch's NCHW."""
    return [shape[0], shape[3], shape[1], shape[2]] if len(shape) == 4 else list(shape)


def rand(shape, dtype="float32"):
    if dtype == "int32":
        return torch.randint(0, 10, shape, dtype=torch.int64)
    if dtype == "bool":
        return torch.rand(shape) > 0.5
    return torch.randn(shape)


def window(I):
    """bench/op-peer.ts's window ints: sh sw pt pb pl pr dh dw kh kw oh ow."""
    return dict(stride=[I[0], I[1]], padding=[I[2], I[4]], dilation=[I[6], I[7]], kernel=[I[8], I[9]])


def make(call):
    """A zero-argument function running PyTorch's counterpart of one captured call, or None."""
    op, S, D, I, Fl = call["op"], call["shapes"], call["dtypes"], call["ints"], call["floats"]
    x = [rand(nchw(s), d) for s, d in zip(S, D)]
    if op == "conv2d":
        w = window(I)
        f = S[1]
        weight = torch.randn(f[3], f[2], f[0], f[1])
        bias = x[2] if len(x) > 2 else None
        return lambda: F.conv2d(x[0], weight, bias, w["stride"], w["padding"], w["dilation"])
    if op == "conv2d_backprop_input":
        w = window(I)
        f = S[1]
        weight = torch.randn(f[3], f[2], f[0], f[1])
        inp = torch.empty(I[15], I[18], I[16], I[17])
        return lambda: aten.convolution_backward(x[0], inp, weight, None, w["stride"], w["padding"], w["dilation"],
                                                 False, [0, 0], 1, [True, False, False])
    if op == "conv2d_backprop_filter":
        w = window(I)
        weight = torch.empty(I[22], I[21], I[19], I[20])
        return lambda: aten.convolution_backward(x[1], x[0], weight, None, w["stride"], w["padding"], w["dilation"],
                                                 False, [0, 0], 1, [False, True, False])
    if op == "max_pool":
        w = window(I)
        return lambda: aten.max_pool2d_with_indices(x[0], w["kernel"], w["stride"], w["padding"], w["dilation"])
    if op == "max_pool_grad":
        w = window(I)
        _, idx = aten.max_pool2d_with_indices(x[1], w["kernel"], w["stride"], w["padding"], w["dilation"])
        return lambda: aten.max_pool2d_with_indices_backward(x[0], x[1], w["kernel"], w["stride"], w["padding"],
                                                             w["dilation"], False, idx)
    if op == "step":  # tfjs's ReLU gradient is step(x)·dy; PyTorch's is one threshold_backward(dy, x, 0)
        dy = torch.randn_like(x[0])
        return lambda: aten.threshold_backward(dy, x[0], 0)
    if op == "matmul":
        a = x[0].reshape(x[0].shape[-2:])
        b = x[1].reshape(x[1].shape[-2:])
        a = a.t() if I[0] else a
        b = b.t() if I[1] else b
        if len(x) > 2:
            return lambda: torch.addmm(x[2], a, b)
        return lambda: torch.mm(a, b)
    if op == "sum":
        axes = I[1:1 + I[0]]
        if len(S[0]) == 4:
            axes = [[0, 2, 3, 1][a] for a in axes]
        return lambda: torch.sum(x[0], axes, keepdim=bool(I[1 + I[0]]))
    if op == "one_hot":
        return lambda: F.one_hot(x[0], I[0]).float()
    if op == "cast":
        return lambda: x[0].to(torch.float32 if I[0] == 0 else torch.int32 if I[0] == 1 else torch.bool)
    if op == "sgd_update" and len(x) == 3:  # torch.optim.SGD with momentum, per parameter (foreach off on CPU)
        w, g, v = x
        return lambda: (v.mul_(Fl[1]).add_(g), w.add_(v, alpha=-Fl[0]))
    binary = {"add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div}
    if op in binary and len(x) == 2:
        return lambda: binary[op](x[0], x[1])
    if op in ("log_softmax", "softmax"):
        fn = torch.log_softmax if op == "log_softmax" else torch.softmax
        return lambda: fn(x[0], I[0])
    if op in ("relu", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid") and len(x) == 1:
        return lambda: getattr(torch, op)(x[0])
    return None


def median_us(fn, min_ms):
    for _ in range(3):
        fn()
    times, total = [], 0.0
    while (total < min_ms / 1000 or len(times) < 10) and len(times) < 2000:
        t = time.perf_counter()
        fn()
        dt = time.perf_counter() - t
        times.append(dt)
        total += dt
    return statistics.median(times) * 1e6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--calls", required=True)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--min-ms", type=float, default=30)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    with open(a.calls) as f:
        calls = json.load(f)
    times = {}
    with torch.no_grad():
        for call in calls:
            fn = make(call)
            times[call["key"]] = None if fn is None else median_us(fn, a.min_ms)
    print(json.dumps({"times": times, "ranWith": ran_with()}))


if __name__ == "__main__":
    main()
