"""What the PyTorch side of a benchmark ran with: the fields of bench/environment.ts's RanWith, from this process.

BLAS is the resolved library mapped into the process (Debian's torch calls libblas.so.3, which is the reference BLAS
or OpenBLAS depending on what is installed: torch.__config__.show() only says BLAS_INFO=generic); malloc is what the
environment sets (the benches start both sides with lwi's thresholds, bench/environment.ts sameEnvironment).
"""
import os, platform

import numpy
import torch


def mapped(word):
    """Resolved paths of mapped files whose name contains `word`."""
    with open("/proc/self/maps") as f:
        files = {line[line.index("/"):].strip() for line in f if "/" in line and word in line.rsplit("/", 1)[-1]}
    return sorted({os.path.realpath(p) for p in files if os.path.exists(p)})


def blas():
    return ", ".join(mapped("blas")) or "none"


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ran_with():
    malloc = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("MALLOC_") or k == "GLIBC_TUNABLES")
    return {
        "blas": blas(),
        "malloc": "; ".join(malloc) or "glibc defaults",
        "threads": torch.get_num_threads(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "numpy": numpy.__version__},
        "peakRssMiB": peak_rss_mib(),
    }
