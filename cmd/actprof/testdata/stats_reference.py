"""NumPy reference of actprof's value statistics (profile --stats).

Usage:
  /usr/bin/python3 stats_reference.py stats DATADIR EDGES PARAMS_JSON
      prints, as JSON, every statistic of each DATADIR/NAME.npy (layer NAME),
      computed from the definitions: sums exactly (math.fsum), extremes,
      counts and histograms with NumPy.
  /usr/bin/python3 stats_reference.py split DATADIR A B
      writes the first half (axis 0) of each layer to A, the rest to B.

PARAMS_JSON: {"threshold": T, "dormant_tau": tau, "saturated_above": f,
"dead_window": N, "saturate": {"NAME": [lo, hi], "": [lo, hi]}} (the key ""
for the layers not named). EDGES is the value histogram's edge file, one
float64 a line. Independent of actprof's code: it reads only the .npy files.
"""

import glob
import json
import math
import os
import sys

import numpy as np


def layers(d):
    for p in sorted(glob.glob(os.path.join(d, "*.npy"))):
        yield os.path.basename(p)[: -len(".npy")], p


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
    for name, path in layers(d):
        a = rows(np.load(path)).astype(np.float64)  # exact for f16, f32
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
        rng = params["saturate"].get(name, params["saturate"].get(""))
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
    for name, path in layers(d):
        x = np.load(path)
        h = x.shape[0] // 2
        np.save(os.path.join(a, name + ".npy"), x[:h])
        np.save(os.path.join(b, name + ".npy"), x[h:])


if __name__ == "__main__":
    if sys.argv[1] == "stats":
        print(json.dumps(stats(sys.argv[2], sys.argv[3], json.loads(sys.argv[4]))))
    elif sys.argv[1] == "split":
        split(*sys.argv[2:5])
    else:
        sys.exit("usage: stats_reference.py stats DATADIR EDGES PARAMS_JSON | split DATADIR A B")
