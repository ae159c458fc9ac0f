"""The cost of actprof.torch's hooks on a model's forward pass (CPU).

usage: PYTHONPATH=python /usr/bin/python3 bench/live/overhead.py [ROUNDS]

Two models with two hooked ReLUs each, run under no_grad on fixed batches:
a ReLU MLP (64 -> 1024 -> 1024 -> 10, batches of 256) and a ReLU CNN
(3 -> 32 -> 64 channels on 32x32 maps, batches of 32). The modes:

  none      no hooks
  hand      the hand-written hook users write today: acc += (x > 0).sum(0)
            (over every axis but the units')
  counts    ap.profile (counts)
  stats     ap.profile(stats=True): counted in the hook
  stats-queue ap.profile(stats=True, queue=64 MiB): outputs copied into the
            queue, counted by the library's thread while the model goes on
  patterns  ap.profile(patterns=...): bits appended to a temporary file;
            the store, coded when the block ends, is timed apart

1. hook: each mode's hook function called on the model's own outputs, no
   model: the time a forward pass spends in the hooks, per pass.
2. forward: passes of the whole model in each mode, the modes alternating
   pass by pass, ROUNDS rounds (default 15), the median kept; the overhead
   over none, as a ratio of the hand-written hook's. On a loaded machine
   the forward pass's own variation can exceed the hooks' cost: 1. is the
   exact figure, 2. shows it in place.
"""

import os
import statistics
import sys
import tempfile
import time

import torch
import torch.nn as nn

import actprof.torch as ap

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 15
torch.manual_seed(0)


def mlp():
    return nn.Sequential(nn.Linear(64, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 10))


def cnn():
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))


class Hand:
    """The hand-written hook: acc += (x > 0).sum over every axis but the units'."""

    def __init__(self, model):
        self.acc = {}
        self.hs = [m.register_forward_hook(self.hook(n)) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]

    def hook(self, name):
        def h(m, i, o):
            f = o > 0
            c = f.sum((0, 2, 3)) if o.dim() == 4 else f.reshape(-1, o.shape[-1]).sum(0)
            self.acc[name] = self.acc[name] + c if name in self.acc else c
        return h

    def __enter__(self):
        return self

    def __exit__(self, *a):
        for h in self.hs:
            h.remove()


def modes(model, store):
    return {
        "none": lambda: torch.no_grad(),
        "hand": lambda: Hand(model),
        "counts": lambda: ap.profile(model, modules=(nn.ReLU,)),
        "stats": lambda: ap.profile(model, modules=(nn.ReLU,), stats=True),
        "stats-queue": lambda: ap.profile(model, modules=(nn.ReLU,), stats=True, queue=64 << 20),
        "patterns": lambda: ap.profile(model, modules=(nn.ReLU,), patterns=store),
    }


def hook_cost(model, batches, store, reps=20):
    """Per pass: the time in each mode's hooks, called on the outputs."""
    outs = []
    hs = [m.register_forward_hook(lambda m, i, o, n=n: outs.append((n, o))) for n, m in model.named_modules()
          if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(batches[0])
    for h in hs:
        h.remove()
    cost = {}
    for m, make in modes(model, store).items():
        if m == "none":
            continue
        ctx = make()
        ctx.__enter__()
        hook = {n: (ctx.hook(n) if m == "hand" else ctx._hook(n)) for n, _ in outs}
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            for n, o in outs:
                hook[n](None, (), o)
            ts.append(time.perf_counter() - t)
        ctx.__exit__(None, None, None)  # with the queue: after it is counted
        cost[m] = statistics.median(ts)
    return cost, sum(o.numel() * o.element_size() for _, o in outs)


def forward(model, batches, store):
    per = {m: [] for m in modes(model, store)}
    ends = []
    with torch.no_grad():
        for k in range(ROUNDS + 1):  # round 0 warms up
            for m, make in modes(model, store).items():
                ctx = make()
                ctx.__enter__()
                t = time.perf_counter()
                for x in batches:
                    model(x)
                loop = time.perf_counter() - t
                ctx.__exit__(None, None, None)
                if k:
                    per[m].append(loop / len(batches))
                    if m == "patterns":
                        ends.append(time.perf_counter() - t - loop)
    return {m: statistics.median(v) for m, v in per.items()}, statistics.median(ends)


def bench(label, model, batches, tmp):
    store = os.path.join(tmp, "b.actbits")
    cost, nbytes = hook_cost(model, batches, store)
    print("%s, batches of %s, hooked outputs %.2f MB a pass:" % (label, list(batches[0].shape), nbytes / 1e6))
    print("  1. hooks alone (median of 20), per pass:")
    for m, c in cost.items():
        rel = "" if m == "hand" else "  %.3fx the hand hook's" % (c / cost["hand"])
        print("     %-11s %8.3f ms  (%6.2f GB/s)%s" % (m, c * 1e3, nbytes / c / 1e9, rel))
    med, end = forward(model, batches, store)
    hand = med["hand"] - med["none"]
    print("  2. forward passes (median of %d rounds of %d batches):" % (ROUNDS, len(batches)))
    for m, v in med.items():
        over = v - med["none"]
        rel = "" if m in ("none", "hand") else "  %.2fx the hand hook's overhead" % (over / hand)
        print("     %-11s %8.3f ms/pass  overhead %+7.3f ms (%+6.1f%%)%s" % (m, v * 1e3, over * 1e3, 100 * over / med["none"], rel))
    print("     patterns: the store coded and written at the block's end in %.1f ms" % (end * 1e3))


print("torch %s, %d threads, %d cores" % (torch.__version__, torch.get_num_threads(), os.cpu_count()))
with tempfile.TemporaryDirectory() as tmp:
    bench("MLP 64-1024-1024-10", mlp(), [torch.randn(256, 64) for _ in range(3)], tmp)
    bench("CNN 3-32-64 on 32x32", cnn(), [torch.randn(32, 3, 32, 32) for _ in range(3)], tmp)
