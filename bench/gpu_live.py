"""The live path's GPU checks (bench/gpu.sh step 7), on a machine with an
NVIDIA GPU: actprof's library counts device memory in place.

usage: gpu_live.py BUNDLE_DIR   (PYTHONPATH=BUNDLE_DIR/python)

1. Without PyTorch: arrays made with NumPy (float32, float16, bfloat16 as
   uint16, NaNs, a dead unit, rows and 4-D maps, odd and even units) are
   copied to the GPU with the driver (ctypes, libcuda.so.1) and counted
   there by Profile.count_cuda on the default stream; the counts must equal
   NumPy's (x > T).sum and those of the CPU path (Profile.count) of the
   same bytes, and the pattern stores the CPU path's byte for byte.
2. With PyTorch (CUDA build), if installed: ap.profile of an MLP, a CNN and
   a token model on cuda against the CPU path over host copies of the same
   outputs (counts and pattern stores identical; float32, float16,
   bfloat16), stats=True on cuda likewise; then the
   forward pass's time with the live profile, without hooks, and with the
   hand-written hook (x > 0).sum(0), and the counting rate in GB/s against
   a device-to-device copy of the same activations, with and without
   patterns.
Prints one line per check; exit 1 if any fails.
"""
import ctypes
import json
import os
import sys
import tempfile
import time

import numpy as np

from actprof._lib import Profile, Error

fail = 0


def check(ok, what):
    global fail
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        fail = 1


cu = ctypes.CDLL("libcuda.so.1")
cu.cuInit(0)
dev, ctx = ctypes.c_int(), ctypes.c_void_p()
cu.cuDeviceGet(ctypes.byref(dev), 0)
cu.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev)
cu.cuCtxPushCurrent_v2(ctx)


def to_device(a):
    p = ctypes.c_uint64()
    assert cu.cuMemAlloc_v2(ctypes.byref(p), ctypes.c_size_t(max(a.nbytes, 1))) == 0
    assert cu.cuMemcpyHtoD_v2(p, a.ctypes.data_as(ctypes.c_void_p), ctypes.c_size_t(a.nbytes)) == 0
    return p.value


def profile_of(prof):
    """The profile's JSON and the pattern store's bytes."""
    d = tempfile.mkdtemp()
    out, store = os.path.join(d, "p.json"), os.path.join(d, "p.actbits")
    prof.finish(out, store)
    with open(out) as f, open(store, "rb") as g:
        return json.load(f), g.read()


rng = np.random.default_rng(5)
T = 0.25
cases = [("rows f32 odd", np.float32, (1000, 77), 2), ("rows f32 even", np.float32, (513, 128), 2),
         ("rows f32 even misaligned", np.float32, (65, 64), 2), ("rows f16 even misaligned", np.float16, (33, 32), 2),
         ("rows f16", np.float16, (700, 64), 2), ("rows bf16", "bf16", (300, 90), 2),
         ("maps f32", np.float32, (6, 16, 9, 9), 4), ("maps f16", np.float16, (5, 8, 33, 3), 4),
         ("tokens f32", np.float32, (4, 37, 48), 3)]
for what, dt, shape, ndim in cases:
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[::97] = np.nan
    axis = 1 if len(shape) >= 4 else len(shape) - 1
    idx = [slice(None)] * len(shape)
    idx[axis] = 0
    x[tuple(idx)] = -1.0  # a dead unit
    if dt == "bf16":
        bits = (x.view(np.uint32) >> 16).astype(np.uint16)
        ref = (bits.astype(np.uint32) << 16).view(np.float32)
        host, name = bits, "bfloat16"
    else:
        host = x.astype(dt)
        ref = host.astype(np.float32)
        name = {np.float32: "float32", np.float16: "float16"}[dt]
    others = tuple(i for i in range(len(shape)) if i != axis)
    want = (ref > np.float32(T)).sum(axis=others)
    want_nan = np.isnan(ref).sum(axis=others)
    tmp = tempfile.mkdtemp()
    g, c = Profile(threshold=T, patterns=True, pattern_dir=tmp), Profile(threshold=T, patterns=True, pattern_dir=tmp)
    if what.endswith("misaligned"):
        # a view that starts one element into its allocation: the pair
        # kernels must not be used on it
        base = to_device(np.concatenate([np.zeros(1, host.dtype), host.reshape(-1)]))
        ptr = base + host.itemsize
    else:
        base = ptr = to_device(np.ascontiguousarray(host))
    for _ in range(2):  # two batches, the tally accumulates on the device
        g.count_cuda("l", ptr, name, list(shape), 0, 0)
        c.count("l", host.ctypes.data, name, list(shape))
    (jg, sg), (jc, sc) = profile_of(g), profile_of(c)
    pg, pc = jg["layers"][0], jc["layers"][0]
    check(pg["counts"] == [2 * int(v) for v in want] and pg["counts"] == pc["counts"] and pg.get("nan_counts") == pc.get("nan_counts")
          and (pg.get("nan_counts") or [0] * len(want)) == [2 * int(v) for v in want_nan],
          "%s %s: GPU counts equal NumPy's and the CPU path's" % (what, shape))
    check(sg == sc, "%s %s: the pattern store of the GPU path is the CPU path's, byte for byte" % (what, shape))
    g.close()
    c.close()
    cu.cuMemFree_v2(ctypes.c_uint64(base))

try:
    import torch
    if not torch.cuda.is_available():
        raise ImportError("no CUDA in this PyTorch")
except ImportError as e:
    print("skip: the PyTorch checks (%s)" % e)
    sys.exit(fail)

import torch.nn as nn
import actprof.torch as ap

torch.manual_seed(0)


def models():
    mlp = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    cnn = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2), nn.ReLU())
    tok = nn.Sequential(nn.Embedding(100, 64), nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64))
    return [("mlp", mlp, lambda n: torch.randn(n, 64), (nn.ReLU,)),
            ("cnn", cnn, lambda n: torch.randn(n, 3, 16, 16), (nn.ReLU,)),
            ("tokens", tok, lambda n: torch.randint(0, 100, (n, 11)), (nn.GELU,))]


d = tempfile.mkdtemp()
DT = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16"}


def live_and_host(tag, m, types, batches, dtype, **kw):
    """ap.profile of m on cuda over batches, and the CPU path (Profile.count)
    over host copies of the very outputs it saw, taken by a second hook:
    their JSON profiles and stores (the GPU's and the CPU's arithmetic may
    differ, so the model is not run twice)."""
    seen = []
    hooks = [mod.register_forward_hook(lambda mod, i, o, qn=qn: seen.append((qn, o.detach().cpu())))
             for qn, mod in m.named_modules() if qn and isinstance(mod, types)]
    out, store = os.path.join(d, tag + "-live.json"), os.path.join(d, tag + "-live.actbits")
    with torch.no_grad(), ap.profile(m, modules=types, out=out, patterns=store, **kw):
        for x in batches:
            x = x.cuda()
            m(x if x.dtype == torch.long else x.to(dtype))
    for h in hooks:
        h.remove()
    host = Profile(patterns=True, pattern_dir=d, **kw)
    for qn, t in seen:
        t = t.contiguous()
        host.count(qn, t.data_ptr(), DT[t.dtype], list(t.shape))
    hout, hstore = os.path.join(d, tag + "-host.json"), os.path.join(d, tag + "-host.actbits")
    host.finish(hout, hstore)
    host.close()
    res = []
    for o, st in ((out, store), (hout, hstore)):
        with open(o) as f, open(st, "rb") as g:
            res.append((json.load(f), g.read()))
    return res


for tag, model, make, types in models():
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        if tag == "tokens" and dtype != torch.float32:
            continue
        m = model.cuda()
        if dtype != torch.float32:
            m = m.to(dtype)
        (jg, sg), (jc, sc) = live_and_host("%s-%s" % (tag, DT[dtype]), m, types, [make(n) for n in (7, 32, 5)], dtype)
        same = len(jc["layers"]) > 0 and all(a["counts"] == b["counts"] and a["observations"] == b["observations"]
                                             and a["shape"] == b["shape"] for a, b in zip(jc["layers"], jg["layers"]))
        check(same, "%s %s: ap.profile on cuda equals the CPU path over the same outputs (backend %s)" % (tag, DT[dtype], jg["backend"]))
        check(sc == sg, "%s %s: its pattern store is the CPU path's byte for byte" % (tag, DT[dtype]))

# stats=True on CUDA outputs: counted on the CPU from host copies, with one
# warning; the same profile as the CPU path over the same outputs.
import warnings
tag, model, make, types = models()[0]
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    (jg, _), (jc, _) = live_and_host("stats", model.cuda(), types, [make(n) for n in (7, 32, 5)], torch.float32, stats=True)
check(sum("copied to the host" in str(x.message) for x in w) == 1, "stats=True on cuda: one warning")
check([l["counts"] for l in jc["layers"]] == [l["counts"] for l in jg["layers"]]
      and [l["stats"]["value_hist"] for l in jc["layers"]] == [l["stats"]["value_hist"] for l in jg["layers"]],
      "stats=True on cuda equals the CPU path over the same outputs")

# Overhead and rate on the GPU.
mlp = nn.Sequential(*[m for k in range(4) for m in (nn.Linear(1024, 1024), nn.ReLU())]).cuda()
xs = [torch.randn(4096, 1024, device="cuda") for _ in range(20)]


def timed(f):
    torch.cuda.synchronize()
    best = None
    for _ in range(3):
        s = time.perf_counter()
        f()
        torch.cuda.synchronize()
        t = time.perf_counter() - s
        best = t if best is None else min(best, t)
    return best


def plain():
    with torch.no_grad():
        for x in xs:
            mlp(x)


def live():
    with torch.no_grad(), ap.profile(mlp, modules=(nn.ReLU,)) as p:
        for x in xs:
            mlp(x)
        p.summary()


acc = {}


def hand():
    hs = [m.register_forward_hook(lambda m, i, o, k=k: acc.__setitem__(k, acc.get(k, 0) + (o > 0).sum(0)))
          for k, m in enumerate(mlp) if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        for x in xs:
            mlp(x)
    for h in hs:
        h.remove()


t0, tl, th = timed(plain), timed(live), timed(hand)
print("forward pass, 20 batches of 4096 x 1024, 4 ReLU layers: plain %.4f s, live profile %.4f s (%.2fx), "
      "hand-written hook %.4f s (%.2fx); live overhead / hook overhead %.2f"
      % (t0, tl, tl / t0, th, th / t0, (tl - t0) / max(th - t0, 1e-9)))
a = torch.relu(torch.randn(65536, 4096, device="cuda"))  # 1 GiB
b = torch.empty_like(a)
tc = timed(lambda: b.copy_(a))
p = Profile()


def count():
    p.count_cuda("a", a.data_ptr(), "float32", list(a.shape), 0, torch.cuda.current_stream().cuda_stream)


tk = timed(count)
p.summary()
p.close()
p = Profile(patterns=True, pattern_dir=d)
tp = timed(count)
p.close()
gb = a.numel() * 4 / 1e9
print("counting 1 GiB of float32 activations on the GPU: %.1f GB/s; with patterns (bits copied back, spilled) %.1f GB/s; "
      "device-to-device copy %.1f GB/s of data read; ratios %.2f and %.2f" % (gb / tk, gb / tp, gb / tc, tc / tk, tc / tp))
sys.exit(fail)
