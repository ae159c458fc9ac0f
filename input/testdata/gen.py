#!/usr/bin/python3
"""Writes the reference files of the input package's tests, with NumPy and
PyTorch as independent writers, and expected.json, what NumPy reads back.

Run from anywhere: /usr/bin/python3 input/testdata/gen.py
Data are deterministic (fixed seeds); only the .npz timestamps change from
run to run. The files are small enough to commit (about 100 KB).

  good/         a dataset folder: every .npy version and float dtype, Fortran
                order, 0-D, 1-D and empty arrays, a stored and a deflated .npz,
                two safetensors files (one with an unpadded header), a folder
                of .npy shards and a file to be ignored
  unsupported/  valid files actprof refuses: big-endian, integer, bool,
                structured and complex .npy, a safetensors file with I32
  fuzz/         seed corpora of the fuzz targets (go test fuzz v1)

expected.json: {"order": [layer names of good/ in Open's order],
"files": {path relative to good/: [layer, ...]}}, a layer being {"name",
"dtype", "shape", "fortran", "sha256" (of the bytes a Source must yield),
"counts" (per unit of the last axis of the logical array, the number of
elements > 0; a 0-D array counts as one unit)}.
"""
import hashlib
import io
import json
import os
import shutil
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
GOOD = os.path.join(HERE, "good")
UNSUP = os.path.join(HERE, "unsupported")
FUZZ = os.path.join(HERE, "fuzz")

rng = np.random.default_rng(20240611)


def acts(shape, dtype):
    """Activation-like values: normals, exact zeros, a -0.0."""
    x = rng.standard_normal(shape)
    if x.size:
        flat = x.reshape(-1)
        flat[rng.random(flat.size) < 0.2] = 0.0
        flat[0] = -0.0
    return x.astype(dtype)


def counts(a):
    """Per-unit counts of a > 0 along the last axis of the logical array."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        a = a.reshape(1)
    return (a > 0).reshape(-1, a.shape[-1]).sum(axis=0).astype(int).tolist()


def layer(name, arr, data):
    """The expected record of a layer holding NumPy array arr, whose Source
    must yield the bytes data."""
    return {
        "name": name,
        "dtype": {"float32": "float32", "float16": "float16", "float64": "float64"}[arr.dtype.name],
        "shape": list(arr.shape),
        "fortran": bool(arr.flags.f_contiguous and not arr.flags.c_contiguous),
        "sha256": hashlib.sha256(data).hexdigest(),
        "counts": counts(arr),
    }


def npy_record(name, arr):
    fortran = arr.flags.f_contiguous and not arr.flags.c_contiguous
    return layer(name, arr, arr.tobytes(order="F" if fortran else "C"))


def write_npy(path, arr, version=None):
    with open(path, "wb") as f:
        if version is None:
            np.save(f, arr)
        else:
            np.lib.format.write_array(f, arr, version=version)


def safetensors(path, tensors, metadata, pad=True):
    """Writes tensors [(name, torch tensor, dtype name)] in the given data
    order, by hand (the format: 8-byte LE header length, JSON, data)."""
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    blobs, off = [], 0
    for name, t, dt in tensors:
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    # Header keys in an order unrelated to the data order.
    keys = sorted(header, key=lambda k: (k != "__metadata__", k[::-1]))
    text = json.dumps({k: header[k] for k in keys}, separators=(",", ":")).encode()
    if pad:
        text += b" " * (-(8 + len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def torch_record(name, t, data):
    if t.dtype == torch.bfloat16:
        rec = layer(name, t.float().numpy(), data)
        rec["dtype"] = "bfloat16"
        return rec
    return layer(name, t.numpy(), data)


def go_bytes(b):
    out = []
    for c in b:
        if 32 <= c < 127 and c not in (ord('"'), ord("\\")):
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "go test fuzz v1\n[]byte(\"" + "".join(out) + "\")\n"


def main():
    for d in (GOOD, UNSUP, FUZZ):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    files = {}

    # .npy: versions, dtypes, order, degenerate shapes.
    npys = [
        ("a_v1_f4", acts((5, 7), "<f4"), None),
        ("b_v2_f2", acts((3, 4, 6), "<f2"), (2, 0)),
        ("c_v3_f8", acts((4, 3), "<f8"), (3, 0)),
        ("d_fortran_f4", np.asfortranarray(acts((6, 5), "<f4")), None),
        ("d_fortran3_f2", np.asfortranarray(acts((3, 2, 4), "<f2")), (2, 0)),
        ("e_scalar", np.array(1.5, dtype="<f4"), None),
        ("f_vector", acts((10,), "<f4"), None),
        ("g_empty", np.zeros((0, 3), dtype="<f4"), None),
    ]
    special = npys[0][1].reshape(-1)
    special[3], special[4], special[5] = np.inf, -np.inf, np.nan
    for name, arr, version in npys:
        write_npy(os.path.join(GOOD, name + ".npy"), arr, version)
        files[name + ".npy"] = [npy_record(name, arr)]

    # .npz: np.savez stores, np.savez_compressed deflates.
    stored = {"fc1": acts((8, 16), "<f4"), "fc2": acts((4, 2, 5), "<f2")}
    np.savez(os.path.join(GOOD, "acts.npz"), **stored)
    deflated = {
        "conv": np.asfortranarray(acts((3, 4, 5), "<f4")),
        "deep": acts((200, 40), "<f8"),
        "tiny": acts((2, 2), "<f2"),
    }
    np.savez_compressed(os.path.join(GOOD, "actz.npz"), **deflated)
    for fname, arrs in (("acts.npz", stored), ("actz.npz", deflated)):
        with zipfile.ZipFile(os.path.join(GOOD, fname)) as z:
            names = [n[:-4] for n in z.namelist()]
        files[fname] = [npy_record(n, arrs[n]) for n in names]

    # safetensors, written by hand from torch tensors.
    torch.manual_seed(7)
    ts = [
        ("layers.1.mlp", torch.randn(5, 3).to(torch.float16), "F16"),
        ("layers.0.attn", torch.randn(4, 8).to(torch.bfloat16), "BF16"),
        ("embed", torch.randn(3, 2, dtype=torch.float64), "F64"),
        ("layers.0.mlp", torch.relu(torch.randn(6, 4)), "F32"),
    ]
    safetensors(os.path.join(GOOD, "model.safetensors"), ts, {"format": "pt", "note": "actprof test"})
    files["model.safetensors"] = [torch_record(n, t, (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()) for n, t, _ in ts]
    odd = [("odd.a", torch.randn(3, 5), "F32"), ("odd.b", torch.randn(7).to(torch.bfloat16), "BF16")]
    safetensors(os.path.join(GOOD, "odd.safetensors"), odd, None, pad=False)
    files["odd.safetensors"] = [torch_record(n, t, (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()) for n, t, _ in odd]

    # A folder of shards, one of them empty, joined on axis 0.
    os.makedirs(os.path.join(GOOD, "shards"))
    parts = [acts((3, 4), "<f4"), np.zeros((0, 4), "<f4"), acts((5, 4), "<f4"), acts((2, 4), "<f4")]
    for i, p in enumerate(parts):
        write_npy(os.path.join(GOOD, "shards", "part-%03d.npy" % i), p, (2, 0) if i == 2 else None)
    files["shards"] = [npy_record("shards", np.concatenate(parts))]

    with open(os.path.join(GOOD, "readme.txt"), "w") as f:
        f.write("not a layer: ignored by input.Open\n")

    # Layer order of input.Open(good/): entries in lexical order.
    order = []
    for e in sorted(os.listdir(GOOD)):
        order += [rec["name"] for rec in files.get(e, [])]

    # Valid files actprof refuses.
    write_npy(os.path.join(UNSUP, "be_f4.npy"), acts((3, 4), ">f4"))
    write_npy(os.path.join(UNSUP, "i4.npy"), np.arange(12, dtype="<i4").reshape(3, 4))
    write_npy(os.path.join(UNSUP, "bool.npy"), np.ones((2, 3), dtype=bool))
    write_npy(os.path.join(UNSUP, "structured.npy"), np.zeros(3, dtype=[("x", "<f4"), ("y", "<i4")]))
    write_npy(os.path.join(UNSUP, "c8.npy"), np.zeros((2, 2), dtype="<c8"))
    safetensors(os.path.join(UNSUP, "ids.safetensors"),
                [("hidden", torch.randn(2, 3), "F32"), ("position_ids", torch.arange(6, dtype=torch.int32).reshape(2, 3), "I32")], {})

    with open(os.path.join(HERE, "expected.json"), "w") as f:
        json.dump({"order": order, "files": files}, f, indent=1, sort_keys=True)
        f.write("\n")

    # Fuzz seeds: real headers, then broken ones.
    seeds = {"FuzzNpyHeader": [], "FuzzSafetensorsHeader": []}
    for name in ("a_v1_f4.npy", "b_v2_f2.npy", "c_v3_f8.npy", "d_fortran_f4.npy", "e_scalar.npy"):
        with open(os.path.join(GOOD, name), "rb") as f:
            seeds["FuzzNpyHeader"].append(f.read(160))
    with open(os.path.join(UNSUP, "structured.npy"), "rb") as f:
        seeds["FuzzNpyHeader"].append(f.read(160))
    for dict_text in (b"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}",
                      b"{'descr':'>f8','fortran_order':True,'shape':(99999999999,99999999999,)}",
                      b"{\"descr\": \"<f2\", \"fortran_order\": False, \"shape\": (3, 4), }   \n",
                      b"{'descr': '<f4', 'fortran_order': False, 'shape': (((((((1,),),),),),),)}",
                      b"{'descr': '<f4', 'shape': (1,2)"):
        seeds["FuzzNpyHeader"].append(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(dict_text)) + dict_text)
    seeds["FuzzNpyHeader"].append(b"\x93NUMPY\x02\x00\xff\xff\xff\xff{")
    seeds["FuzzNpyHeader"].append(b"\x93NUMPY\x03\x00\x04\x00\x00\x00{\xff}\n")
    for name in ("model.safetensors", "odd.safetensors"):
        with open(os.path.join(GOOD, name), "rb") as f:
            seeds["FuzzSafetensorsHeader"].append(f.read())
    for text in (b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}',
                 b'{"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,8]}}',
                 b'{"a":{"dtype":"I8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}',
                 b'{"__metadata__":{"x":"y"},"a":{"dtype":"BF16","shape":[],"data_offsets":[0,2]}}',
                 b'[1,2,3]'):
        seeds["FuzzSafetensorsHeader"].append(struct.pack("<Q", len(text)) + text + b"\x00" * 8)
    seeds["FuzzSafetensorsHeader"].append(struct.pack("<Q", 1 << 60) + b"{}")
    # Names given twice (refused): a tensor, "__metadata__".
    for text in (b'{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                 b'{"__metadata__":{},"a":{"dtype":"F16","shape":[4],"data_offsets":[0,8]},"__metadata__":{"k":"v"}}'):
        seeds["FuzzSafetensorsHeader"].append(struct.pack("<Q", len(text)) + text + b"\x00" * 8)
    for target, items in seeds.items():
        os.makedirs(os.path.join(FUZZ, target))
        for i, b in enumerate(items):
            with open(os.path.join(FUZZ, target, "seed-%02d" % i), "w") as f:
                f.write(go_bytes(b))


if __name__ == "__main__":
    main()
