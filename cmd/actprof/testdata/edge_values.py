"""Values on and next to every boundary of the value statistics.

Usage: /usr/bin/python3 edge_values.py OUTDIR EDGES

Writes layers of 4 units whose first unit holds each histogram edge, its
float64 neighbours on both sides and their negatives, 0 and -0, the
smallest subnormal, +-1 (a saturation range's ends), +-1e8 and +-1e300;
unit 1 is all NaN, unit 2 mixes +-Inf, NaN and one finite value, unit 3
holds 0 and -0 only (constant). As float64 (edges_f64), rounded to float32
(edges_f32, and a Fortran-order copy edges_f32_fortran) and to float16
(edges_f16: large values overflow to +-Inf, small ones to subnormals and 0).
"""

import os
import sys

import numpy as np

outdir, edges_path = sys.argv[1], sys.argv[2]
os.makedirs(outdir, exist_ok=True)
edges = np.array([float(s) for s in open(edges_path).read().split()])

v = []
for e in edges:
    v += [e, np.nextafter(e, 0), np.nextafter(e, np.inf)]
v = np.array(v + [0.0, -0.0, 5e-324, 1.0, 1e8, 1e300])
col0 = np.concatenate([v, -v])
n = col0.size
col1 = np.full(n, np.nan)
col2 = np.resize(np.array([np.inf, -np.inf, np.nan, 0.5]), n)
col3 = np.resize(np.array([0.0, -0.0]), n)
a = np.stack([col0, col1, col2, col3], axis=1)
rng = np.random.default_rng(0)
a = a[rng.permutation(n)]  # edges in no particular order of observations

with np.errstate(over="ignore"):
    np.save(os.path.join(outdir, "edges_f64.npy"), a)
    np.save(os.path.join(outdir, "edges_f32.npy"), a.astype(np.float32))
    np.save(os.path.join(outdir, "edges_f32_fortran.npy"), np.asfortranarray(a.astype(np.float32)))
    np.save(os.path.join(outdir, "edges_f16.npy"), a.astype(np.float16))
