"""The library's GPU path against its CPU path, through a stand-in driver
(python/capi/testdata/fakecuda.c, loaded as ACTPROF_LIBCUDA) whose "device"
memory is host memory and whose kernels are naive loops: run by
python/capi's Go test.

usage: fake_cuda_check.py OUT_DIR            the comparisons
       fake_cuda_check.py OUT_DIR --error    one count_cuda; prints its error
For each case, the same bytes are counted twice per profile, with
count_cuda and with count (float32, float16, bfloat16; odd and even units,
4-D maps, token rows; NaNs; views that start mid-pair), with patterns: the
profiles' counts and the pattern stores must be equal byte for byte.
"""
import json
import os
import sys

import numpy as np

from actprof._lib import Error, Profile

out = sys.argv[1]
os.makedirs(out, exist_ok=True)

if sys.argv[2:] == ["--error"]:
    x = np.ones((2, 3), np.float32)
    try:
        Profile().count_cuda("g", x.ctypes.data, "float32", [2, 3], 0, 0)
        print("no error")
    except Error as e:
        print(e)
    sys.exit(0)

rng = np.random.default_rng(3)


def finish(p, tag):
    j, s = os.path.join(out, tag + ".json"), os.path.join(out, tag + ".actbits")
    p.finish(j, s)
    p.close()
    with open(j) as f, open(s, "rb") as g:
        return json.load(f), g.read()


cases = [("rows f32 odd", "float32", (37, 77), False), ("rows f32 even", "float32", (41, 128), False),
         ("rows f16 even", "float16", (29, 64), False), ("rows bf16 odd", "bfloat16", (23, 91), False),
         ("rows f32 even mid-pair", "float32", (19, 64), True), ("rows f16 even mid-pair", "float16", (17, 32), True),
         ("maps f32", "float32", (3, 16, 5, 7), False), ("maps f16", "float16", (2, 8, 33, 3), False),
         ("tokens bf16", "bfloat16", (4, 9, 48), False)]
keep = []
for what, dt, shape, mid in cases:
    x = rng.standard_normal(shape).astype(np.float32)
    x.reshape(-1)[::13] = np.nan
    if dt == "bfloat16":
        host = (x.view(np.uint32) >> 16).astype(np.uint16)
    else:
        host = x.astype(dt)
    if mid:  # a view one element into its buffer
        buf = np.zeros(host.size + 1, host.dtype)
        buf[1:] = host.reshape(-1)
        host = buf[1:].reshape(shape)
    keep.append(host)
    g = Profile(threshold=0.1, patterns=True, pattern_dir=out)
    c = Profile(threshold=0.1, patterns=True, pattern_dir=out)
    for _ in range(2):
        g.count_cuda("l", host.ctypes.data, dt, list(shape), 0, 0)
        c.count("l", host.ctypes.data, dt, list(shape))
    (jg, sg), (jc, sc) = finish(g, "gpu"), finish(c, "cpu")
    lg, lc = jg["layers"][0], jc["layers"][0]
    for k in ("counts", "nan_counts", "observations", "shape", "units"):
        assert lg.get(k) == lc.get(k), (what, k, lg.get(k), lc.get(k))
    assert sum(lg["counts"]) > 0 and sum(lg.get("nan_counts") or [0]) > 0, what
    assert sg == sc, "%s: the stores differ" % what
    assert jg["backend"] == "cuda:0" and jc["backend"] == "cpu", (jg["backend"], jc["backend"])
    print("ok:", what)

# stats are refused for batches counted on a device; float64 too
for kw, dt, want in (({"stats": True}, "float32", "value statistics of a tensor on cuda:0"),
                     ({}, "float64", "float64 tensors on cuda:0 are not counted on the GPU")):
    p = Profile(**kw)
    try:
        p.count_cuda("l", keep[0].ctypes.data, dt, [2, 3], 0, 0)
        raise AssertionError("taken: %r %s" % (kw, dt))
    except Error as e:
        assert want in str(e), e
    p.close()
print("ok: refusals")
