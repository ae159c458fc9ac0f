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


def add(fname, fmt, batches, cols, layers=None, parquet=None, key=None):
    """A file of record batches (row counts; row groups for Parquet, the
    first one's rows a group, written as parquet says: compression, data page
    version, dictionary, encoding). key: the name its layers are filed under."""
    rows = sum(batches)
    entry = {"out": fname, "format": fmt, "batches": batches, "columns": []}
    if parquet:
        entry["parquet"] = parquet
    for c in cols:
        kind, name = c[1], c[0]
        if kind in ("int32", "utf8", "nullfsl", "ragged", "ragged2"):
            entry["columns"].append({"name": name, "kind": kind, "h": 4, "t": [1] * rows})
            continue
        col, x = column(fname, name, kind, c[2], c[3], rows, c[4] if len(c) > 4 else 0)
        entry["columns"].append(col)
        if layers is None or name in layers:
            want.setdefault(key or fname.split("/")[0], {})[name] = ref(x)
    spec.append(entry)
    return entry


for ext, fmt in (("arrows", "stream"), ("arrow", "file"), ("parquet", "parquet")):
    # one observation a row: fixed-size lists, float32 and float16, three batches
    add(f"fsl.{ext}", fmt, [100, 120, 80], [("mlp", "fsl", np.float32, 37), ("attn", "fsl", np.float16, 16)])
    # [T, H] blocks of varying T: lists of lists, lists of fixed-size lists
    add(f"nested.{ext}", fmt, [40, 1, 25, 30],
        [("resid", "list_list", np.float32, 20, 9), ("f64", "list_fsl", np.float64, 8, 5), ("seq", "list", np.float32, 11)])
    # columns that are not activations, left out by --layer acts
    add(f"mixed.{ext}", fmt, [50, 50], [("acts", "fsl", np.float32, 24), ("ids", "int32"), ("text", "utf8")], layers={"acts"})

# Parquet as other writers write it: uncompressed, zstd with version 2
# data pages, no dictionaries, BYTE_STREAM_SPLIT floats, gzip, larger pages
add("plain.parquet", "parquet", [64, 64, 7], [("mlp", "fsl", np.float32, 19), ("h64", "fsl", np.float64, 6),
    ("resid", "list_list", np.float32, 10, 6)], parquet={"compression": "uncompressed", "dictionary": False})
add("zstd.parquet", "parquet", [90, 90, 90, 30], [("attn", "fsl", np.float32, 24), ("blocks", "list_fsl", np.float32, 16, 7),
    ("f64", "list_list", np.float64, 5, 4)], parquet={"compression": "zstd", "version": 2, "dictionary": False})
add("split.parquet", "parquet", [70, 50], [("mlp", "list", np.float32, 33), ("h16", "list_list", np.float16, 9, 5)],
    parquet={"compression": "zstd", "dictionary": False, "encoding": "BYTE_STREAM_SPLIT"})
add("brotli.parquet", "parquet", [30, 30], [("mlp", "fsl", np.float32, 12), ("h16", "list_fsl", np.float16, 4, 3)],
    parquet={"compression": "brotli"})
add("lz4.parquet", "parquet", [25, 25, 25], [("mlp", "list", np.float64, 10), ("h", "list_list", np.float32, 6, 4)],
    parquet={"compression": "lz4_raw", "dictionary": False})
add("gzip.parquet", "parquet", [500], [("mlp", "fsl", np.float32, 64), ("h64", "list_fsl", np.float64, 3, 9)],
    parquet={"compression": "gzip", "page": 65536})

# a folder of Parquet shards as the Hugging Face Hub holds them: one table,
# its columns' layers named by the column
pq = {}
for i, batches in enumerate(([40, 40, 5], [33])):
    a, x = column(f"hub_{i}", "hook", "list_list", np.float32, 14, sum(batches), 6)
    b, y = column(f"hub_{i}", "h16", "fsl", np.float16, 7, sum(batches))
    pq.setdefault("hook", []).append(x)
    pq.setdefault("h16", []).append(y)
    spec.append({"out": f"hub/data/train-{i:05d}-of-00002.parquet", "format": "parquet", "batches": batches,
                 "columns": [a, b, {"name": "text", "kind": "utf8", "h": 4, "t": [1] * sum(batches)}]})
want["hub/data"] = {n: ref(np.concatenate(v)) for n, v in pq.items()}

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
    for name, kind in bad + ([("ragged", "ragged"), ("ragged2", "ragged2")] if ext == "parquet" else []):
        col, _ = column(f"bad_{name}.{ext}", "acts", "fsl", np.float32, 8, 20)
        spec.append({"out": f"bad/{name}.{ext}", "format": fmt, "batches": [10, 10],
                     "columns": [col, {"name": name, "kind": kind, "h": 4, "t": [1] * 20}]})

# float16 in version 2 data pages without dictionaries: DELTA_BYTE_ARRAY
col, _ = column("bad_delta16.parquet", "h16", "fsl", np.float16, 8, 20)
spec.append({"out": "bad/delta16.parquet", "format": "parquet", "batches": [10, 10], "columns": [col],
             "parquet": {"version": 2, "dictionary": False}})

with open(os.path.join(out, "spec.json"), "w") as f:
    json.dump(spec, f)
json.dump(want, sys.stdout)
