"""Data for the Arrow and Parquet reader tests, and NumPy's counts of it.

Writes, under DIR, each column's values as raw little-endian bytes
(raw/FILE.COLUMN.bin, observations in order) with its per-row list lengths,
and DIR/spec.json, which tells make_arrow.mjs (apache-arrow and
parquet-wasm on Node.js, an independent writer) which files to write from
them. Prints, as JSON, per file the layers actprof must find and, per
layer, NumPy's counts (x > 0) and statistics (min, max, sum over finite
values) per unit.

Usage: make_arrow_ref.py DIR
"""
import json
import os
import sys

import numpy as np

out = sys.argv[1]
raw = os.path.join(out, "raw")
os.makedirs(raw, exist_ok=True)
rng = np.random.default_rng(20261207)
spec, want = [], {}


def values(n, h, dtype):
    x = rng.standard_normal((n, h)).astype(np.float64)
    x[:, : h // 4] = np.maximum(x[:, : h // 4], 0)  # ReLU units
    x[:, h // 4] = 0  # a dead unit
    x[rng.random((n, h)) < 0.05] = 0
    return x.astype(dtype)


def column(fname, name, kind, dtype, h, rows, tmax=0):
    """A column of rows; nested kinds get 0..tmax observations a row."""
    if kind in ("fsl", "list"):
        t = [1] * rows
    else:
        t = [int(v) for v in rng.integers(0, tmax + 1, rows)]
    x = values(sum(t), h, dtype)
    path = os.path.join(raw, f"{fname.replace('/', '_')}.{name}.bin")
    x.tofile(path)
    return {"name": name, "kind": kind, "dtype": np.dtype(dtype).name, "h": h, "t": t, "raw": path}, x


def ref(x):
    f = x.astype(np.float64)
    fin = np.where(np.isfinite(f), f, np.nan)
    return {
        "counts": (f > 0).sum(0).tolist(),
        "min": np.nanmin(fin, 0).tolist(),
        "max": np.nanmax(fin, 0).tolist(),
        "sum": np.nansum(fin, 0).tolist(),
    }


def add(fname, fmt, batches, cols, layers=None):
    """A file of record batches (row counts; row groups for Parquet)."""
    rows = sum(batches)
    entry = {"out": fname, "format": fmt, "batches": batches, "columns": []}
    for c in cols:
        kind, name = c[1], c[0]
        if kind in ("int32", "utf8", "nullfsl"):
            entry["columns"].append({"name": name, "kind": kind, "h": 4, "t": [1] * rows})
            continue
        col, x = column(fname, name, kind, c[2], c[3], rows, c[4] if len(c) > 4 else 0)
        entry["columns"].append(col)
        if layers is None or name in layers:
            want.setdefault(fname.split("/")[0], {})[name] = ref(x)
    spec.append(entry)


for ext, fmt in (("arrows", "stream"), ("arrow", "file"), ("parquet", "parquet")):
    # one observation a row: fixed-size lists, float32 and float16, three batches
    add(f"fsl.{ext}", fmt, [100, 120, 80], [("mlp", "fsl", np.float32, 37), ("attn", "fsl", np.float16, 16)])
    # [T, H] blocks of varying T: lists of lists, lists of fixed-size lists
    add(f"nested.{ext}", fmt, [40, 1, 25, 30],
        [("resid", "list_list", np.float32, 20, 9), ("f64", "list_fsl", np.float64, 8, 5), ("seq", "list", np.float32, 11)])
    # columns that are not activations, left out by --layer acts
    add(f"mixed.{ext}", fmt, [50, 50], [("acts", "fsl", np.float32, 24), ("ids", "int32"), ("text", "utf8")], layers={"acts"})

# a Hugging Face datasets folder (save_to_disk): two stream shards, an
# Array2D-style column, a float16 one and token ids
hf = os.path.join(out, "hf")
os.makedirs(hf, exist_ok=True)
shards = ["data-00000-of-00002.arrow", "data-00001-of-00002.arrow"]
hook, h16 = [], []
for i, s in enumerate(shards):
    batches = [60, 40] if i == 0 else [30, 30, 17]
    rows = sum(batches)
    a, x = column("hf/" + s, "blocks.0.hook_resid_post", "list_list", np.float32, 32, rows, 12)
    b, y = column("hf/" + s, "h16", "fsl", np.float16, 12, rows)
    hook.append(x)
    h16.append(y)
    spec.append({"out": "hf/" + s, "format": "stream", "batches": batches,
                 "columns": [a, b, {"name": "token_ids", "kind": "int32", "h": 4, "t": [1] * rows}]})
want["hf"] = {"blocks.0.hook_resid_post": ref(np.concatenate(hook)), "h16": ref(np.concatenate(h16))}
with open(os.path.join(hf, "state.json"), "w") as f:
    json.dump({"_data_files": [{"filename": s} for s in shards], "_fingerprint": "0123456789abcdef",
               "_format_columns": None, "_format_kwargs": {}, "_format_type": None, "_output_all_columns": False,
               "_split": None}, f, indent=2)
with open(os.path.join(hf, "dataset_info.json"), "w") as f:
    json.dump({"citation": "", "description": "", "features": {
        "blocks.0.hook_resid_post": {"shape": [None, 32], "dtype": "float32", "_type": "Array2D"},
        "h16": {"feature": {"dtype": "float16", "_type": "Value"}, "length": 12, "_type": "Sequence"},
        "token_ids": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"}}}, f, indent=2)

# bad inputs
bad = [("nulls", "nullfsl"), ("strings", "utf8")]
for ext, fmt in (("arrow", "file"), ("parquet", "parquet")):
    for name, kind in bad:
        col, _ = column(f"bad_{name}.{ext}", "acts", "fsl", np.float32, 8, 20)
        spec.append({"out": f"bad/{name}.{ext}", "format": fmt, "batches": [10, 10],
                     "columns": [col, {"name": name, "kind": kind, "h": 4, "t": [1] * 20}]})

with open(os.path.join(out, "spec.json"), "w") as f:
    json.dump(spec, f)
json.dump(want, sys.stdout)
