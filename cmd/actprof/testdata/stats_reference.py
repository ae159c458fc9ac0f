"""NumPy reference of actprof's value statistics (profile --stats).

Usage:
  /usr/bin/python3 stats_reference.py stats DATADIR EDGES PARAMS_JSON
      prints, as JSON, every statistic of each layer in DATADIR (NAME.npy, or
      the BF16 tensors of a .safetensors file),
      computed from the definitions: sums exactly (math.fsum), extremes,
      counts and histograms with NumPy.
  /usr/bin/python3 stats_reference.py split DATADIR A B
      writes the first half (axis 0) of each layer to A, the rest to B.

PARAMS_JSON: {"threshold": T, "dormant_tau": tau, "saturated_above": f,
"dead_window": N, "saturate": {"PATTERN": [lo, hi], "": [lo, hi]}}: a
layer's range is that of its exact name, else of the one glob pattern that
matches it, else that of "". EDGES is the value histogram's edge file, one
float64 a line. Independent of actprof's code: it reads only the .npy files.
"""

import fnmatch
import glob
import json
import math
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    """The tensors of a .safetensors file (BF16 only), as float32 arrays."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "BF16", t
        lo, hi = t["data_offsets"]
        bits = np.frombuffer(data[lo:hi], dtype="<u2").astype(np.uint32) << 16
        out[name] = bits.view(np.float32).reshape(t["shape"])  # exact
    return out


def write_bf16(path, name, x):
    """Writes float32 x, whose values are all bfloat16, as a BF16 tensor."""
    b = (x.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    h = json.dumps({name: {"dtype": "BF16", "shape": list(x.shape), "data_offsets": [0, len(b)]}}).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b)


def layers(d):
    """(name, array) of each layer in d."""
    for p in sorted(glob.glob(os.path.join(d, "*.npy"))):
        yield os.path.basename(p)[: -len(".npy")], np.load(p)
    for p in sorted(glob.glob(os.path.join(d, "*.safetensors"))):
        yield from read_safetensors(p).items()


def saturate_for(name, sat):
    if name in sat:
        return sat[name]
    pats = [p for p in sat if p and fnmatch.fnmatchcase(name, p)]
    assert len(pats) <= 1, (name, pats)
    return sat[pats[0]] if pats else sat.get("")


def rows(x):
    """Observations by units, rows in the layer's observation order: units
    on axis 1 for 4-D and 5-D arrays (NCHW), else the last axis."""
    if x.ndim in (4, 5):
        return np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return x.reshape(-1, x.shape[-1])


def value_hist(v, edges):
    """The 133-bin value histogram of finite values v: bin 66 holds zeros;
    |x| falls in magnitude bin m = the number of edges <= |x| (0: below
    1e-8, 65: 1e8 and above); x > 0 goes to 67 + m, x < 0 to 65 - m."""
    m = np.searchsorted(edges, np.abs(v), side="right")
    b = np.where(v > 0, 67 + m, np.where(v < 0, 65 - m, 66))
    return np.bincount(b, minlength=133)


def stats(d, edges_path, params):
    edges = np.array([float(s) for s in open(edges_path).read().split()])
    assert edges.size == 65 and np.all(np.diff(edges) > 0)
    thr, tau, above, window = params["threshold"], params["dormant_tau"], params["saturated_above"], params["dead_window"]
    out = {}
    for name, x in layers(d):
        a = rows(x).astype(np.float64)  # exact for f16, bf16, f32
        obs, units = a.shape
        fired = a > thr
        finite = np.isfinite(a)
        L = {"units": units, "observations": obs}
        L["counts"] = fired.sum(0).tolist()
        L["nan_counts"] = np.isnan(a).sum(0).tolist()
        L["pos_inf"] = np.isposinf(a).sum(0).tolist()
        L["neg_inf"] = np.isneginf(a).sum(0).tolist()
        mins, maxs, sums, sabs, nfin, first, last, const = [], [], [], [], [], [], [], []
        for u in range(units):
            col = a[finite[:, u], u]
            mins.append(float(col.min()) if col.size else None)
            maxs.append(float(col.max()) if col.size else None)
            sums.append(math.fsum(col.tolist()))
            sabs.append(math.fsum(np.abs(col).tolist()))
            nfin.append(int(col.size))
            f = np.flatnonzero(fired[:, u])
            first.append(int(f[0]) if f.size else -1)
            last.append(int(f[-1]) if f.size else -1)
            notnan = a[~np.isnan(a[:, u]), u]
            const.append(np.unique(notnan).size == 1)  # -0 == 0: one value
        L.update(min=mins, max=maxs, sum=sums, sum_abs=sabs, finite=nfin, first=first, last=last)
        rng = saturate_for(name, params["saturate"])
        sat = None
        if rng is not None:
            lo, hi = rng
            sat = ((a <= lo) | (a >= hi)).sum(0)  # NaN never, +-Inf always
            L["saturate"] = [lo, hi]
            L["saturated_counts"] = sat.tolist()
        L["value_hist"] = value_hist(a[finite], edges).tolist()
        w = (units + 1024) // 1024
        L["l0_bin_width"] = w
        L["l0_hist"] = np.bincount(fired.sum(1) // w, minlength=units // w + 1).tolist()
        L["mean_l0"] = int(fired.sum()) / obs
        # the derived lists, by their definitions
        mean_abs = [s / n if n else 0.0 for s, n in zip(sabs, nfin)]
        total = math.fsum(mean_abs)
        dormant, borderline = [], []
        for u, m in enumerate(mean_abs):
            # s_u = E|h_u| / ((1/H) sum_k E|h_k|) <= tau
            lhs, rhs = m * units, tau * total
            if lhs <= rhs:
                dormant.append(u)
            if abs(lhs - rhs) <= 1e-9 * rhs:
                borderline.append(u)  # float rounding could decide it
        L["constant"] = [u for u in range(units) if const[u]]
        L["dormant"] = dormant
        L["dormant_borderline"] = borderline
        if sat is not None:
            L["saturated"] = [u for u in range(units) if float(sat[u]) > above * float(obs)]
        if window > 0:
            L["window_dead"] = [u for u in range(units) if obs <= window or last[u] < obs - window]
        out[name] = L
    return out


def split(d, a, b):
    for dest in (a, b):
        os.makedirs(dest, exist_ok=True)
    for name, x in layers(d):
        h = x.shape[0] // 2
        for dest, part in ((a, x[:h]), (b, x[h:])):
            if os.path.exists(os.path.join(d, name + ".npy")):
                np.save(os.path.join(dest, name + ".npy"), part)
            else:
                write_bf16(os.path.join(dest, name + ".safetensors"), name, part)


if __name__ == "__main__":
    if sys.argv[1] == "stats":
        print(json.dumps(stats(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))
    elif sys.argv[1] == "split":
        split(*sys.argv[2:5])
    else:
        sys.exit("usage: stats_reference.py stats DATADIR EDGES PARAMS_JSON | split DATADIR A B")
