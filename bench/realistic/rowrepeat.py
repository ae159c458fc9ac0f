#!/usr/bin/env python3
"""Would coding repeated whole rows help level fastest reach 0.9x of zstd?

For each layer of the realistic digits nets (bench/realistic/make.py, in
.bench/real), in blocks as level fastest cuts them (BlockObs/4 and BlockObs
observations), bits per unit-observation of a model that codes each row
either as a hit in a dictionary of the distinct rows seen so far (block 0's
rows, then the block's own; cost log2 of the dictionary size) or as a
literal (the byte-plane cost with block 0's per-plane tables, ideal
-log2 p, add-1/2 smoothing), plus the hit/miss flag's entropy. Against the
plain zstd figures of bench/patterncmp.

Measured 2026-11-25: mlp_fc3 0.72x and cnn_fc 0.89x of zstd,
but tok_ffn1 1.70x (2% exact repeats), cnn_conv1 1.56x, mlp_fc2 1.00x: exact
row repeats do not take every layer under 0.9x.

usage: /usr/bin/python3 bench/realistic/rowrepeat.py [.bench/real]
"""
import glob
import math
import os
import sys

import numpy as np

# plain zstd over row bitsets (bench/patterncmp, 2026-11-24)
ZSTD = dict(cnn_conv1=0.4030, cnn_conv2=0.5243, cnn_fc=0.4104, mlp_fc1=0.7778,
            mlp_fc2=0.4220, mlp_fc3=0.3651, tok_ffn1=0.3205, tok_ffn2=0.5190)


def block_obs(units):
    n = (1 << 21) // max(units, 1)
    if n < 64:
        return 64
    return min(1 << (n.bit_length() - 1), 1 << 18)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else ".bench/real"
    for f in sorted(glob.glob(os.path.join(d, "*.npy"))):
        a = np.load(f, mmap_mode="r")
        name = os.path.basename(f)[:-4]
        if a.ndim == 4:
            x = np.moveaxis(np.asarray(a), 1, -1).reshape(-1, a.shape[1])
        else:
            x = np.asarray(a).reshape(-1, a.shape[-1])
        units = x.shape[1]
        bits = np.packbits(x > 0, axis=1, bitorder="little")
        nb, n = bits.shape[1], bits.shape[0]
        rows = np.ascontiguousarray(bits).view(np.dtype((np.void, nb))).ravel()
        _, inv = np.unique(rows, return_inverse=True)
        inv = inv.ravel()
        B = block_obs(units)
        tables = [np.bincount(bits[:B, j], minlength=256) + 0.5 for j in range(nb)]
        tables = [-np.log2(c / c.sum()) for c in tables]
        literal = sum(tables[j][bits[:, j]] for j in range(nb))
        for bs in (B // 4, B):
            total, rowsn, hits = 0.0, 0, 0
            first = set(inv[:B].tolist())
            for s in range(B, n, bs):
                seen = set(first)
                for i in range(s, min(n, s + bs)):
                    r = inv[i]
                    if r in seen:
                        total += math.log2(len(seen))
                        hits += 1
                    else:
                        total += literal[i]
                        seen.add(r)
                    rowsn += 1
            p = hits / max(rowsn, 1)
            flag = 0 if p in (0, 1) else -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
            bpu = (total + flag * rowsn) / (max(rowsn, 1) * units)
            z = ZSTD.get(name)
            ratio = "%.2fx" % (bpu / z) if z else "-"
            print("%-10s units %4d block %6d: hits %.3f, %.3f bits per unit-observation (zstd %s, %s)"
                  % (name, units, bs, p, bpu, z, ratio))


if __name__ == "__main__":
    main()
