#!/usr/bin/env python3
"""Adversarial probe of an actprof binary: bad inputs, damaged stores,
output-path mistakes, signals, extreme flags, merge mistakes.

    python3 bench/probe.py bin/actprof [--seed N] [-v]

Each case runs the binary and checks the contract every command keeps:
- a failure is exit 1 (bad input) or 2 (bad usage), with one line on
  stderr naming a file or the problem, no Go panic trace, no temporary file
  left, and outputs and inputs as they were;
- a success (exit 0) gives the right answer, checked against NumPy or the
  undamaged original: a damaged file that still "works" must give the same
  result as before the damage;
- a signal (SIGINT, SIGTERM, SIGHUP) gives 128+N and leaves nothing behind;
- extreme flags cost neither memory nor time.
It prints, per class, the cases run and those that broke the contract, and
exits 1 if any did. make test runs it.
"""
import json
import os
import random
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import zipfile

import numpy as np

BIN = None
VERBOSE = False
results = {}  # class -> [cases, failures]
failures = []


def run(args, timeout=60, cwd=None):
    """Runs the binary; returns (code, stdout, stderr, its peak RSS in
    bytes). A run past timeout is killed and reported as exit 124."""
    p = subprocess.Popen([BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    timer = threading.Timer(timeout, p.kill)
    timer.start()
    errb = []
    t = threading.Thread(target=lambda: errb.append(p.stderr.read()))
    t.start()
    out = p.stdout.read()
    t.join()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, for its own rusage
    timed_out = not timer.is_alive()
    timer.cancel()
    err = errb[0].decode(errors="replace")
    code = p.returncode
    if timed_out:
        code, err = 124, err + " [timed out]"
    elif code < 0:
        code = 128 - code
    return code, out.decode(errors="replace"), err, ru.ru_maxrss * 1024


def record(cls, name, ok, detail=""):
    c = results.setdefault(cls, [0, 0])
    c[0] += 1
    if not ok:
        c[1] += 1
        failures.append(f"{cls}: {name}: {detail}")
    elif VERBOSE:
        print(f"  ok {cls}: {name}")


def temps_left(d):
    return [n for n in os.listdir(d) if ".tmp-" in n]


def clean_failure(code, err, want=(1, 2)):
    """The failure contract: exit code, one line, no panic."""
    if code not in want:
        return f"exit {code}"
    lines = [l for l in err.strip().split("\n") if l and not l.startswith(("Run 'actprof", "usage: actprof"))]
    if "panic:" in err or "goroutine " in err:
        return "panic trace"
    if len(lines) != 1:
        return f"{len(lines)} lines on stderr: {err.strip()[:200]!r}"
    return None


def snapshot(paths):
    return {p: open(p, "rb").read() if os.path.isfile(p) else None for p in paths}


def expect_fail(cls, name, args, d, keep=(), want=(1, 2), must=None, timeout=60):
    """Runs args expecting a clean failure that leaves the files keep as
    they were and no temporary file in d."""
    before = snapshot(keep)
    code, out, err, _ = run(args, timeout=timeout)
    why = clean_failure(code, err, want)
    if why is None and must and must not in err:
        why = f"message lacks {must!r}: {err.strip()[:200]!r}"
    if why is None and temps_left(d):
        why = f"temporary files left: {temps_left(d)}"
    if why is None and snapshot(keep) != before:
        why = "a file that must be kept was changed: " + ", ".join(p for p in keep if snapshot([p]) != {p: before[p]})
    record(cls, name, why is None, f"{why} ({' '.join(args)})")
    for t in temps_left(d):  # counted once, not again by the next case
        os.remove(os.path.join(d, t))


def numpy_counts(a, axis):
    axes = tuple(i for i in range(a.ndim) if i != axis)
    return [int(c) for c in (a > 0).sum(axis=axes)]


def profile_json(args):
    code, out, err, _ = run(["profile", "--quiet", "--json"] + args)
    if code != 0:
        return None, err
    return json.loads(out), err


def damage(raw, kind, n, path, rng):
    """Writes raw cut to n bytes ("trunc") or with one bit of byte n
    flipped ("flip") to path; returns the bytes written."""
    b = bytearray(raw)
    if kind == "trunc":
        b = b[:n]
    else:
        b[n] ^= 1 << int(rng.integers(0, 8))
    open(path, "wb").write(bytes(b))
    return b


# ---------------------------------------------------------------- classes

def inputs(d, rng):
    """Truncations and bit flips of .npy, .npz (stored and deflated) and
    .safetensors inputs: each fails cleanly or counts what NumPy counts on
    the damaged bytes."""
    a = rng.standard_normal((64, 16)).astype(np.float32)
    npy = os.path.join(d, "a.npy")
    np.save(npy, a)
    stored = os.path.join(d, "s.npz")
    np.savez(stored, fc=a)
    deflated = os.path.join(d, "z.npz")
    np.savez_compressed(deflated, fc=a)
    st = os.path.join(d, "t.safetensors")
    hdr = json.dumps({"fc": {"dtype": "F32", "shape": list(a.shape), "data_offsets": [0, a.nbytes]}}).encode()
    with open(st, "wb") as f:
        f.write(len(hdr).to_bytes(8, "little") + hdr + a.tobytes())
    want = numpy_counts(a, 1)
    for path in (npy, stored, deflated, st):
        raw = open(path, "rb").read()
        base = os.path.basename(path)
        cases = [("trunc", n) for n in sorted({0, 1, 7, 8, 9, 16, 64, 127, 128, len(raw) // 2, len(raw) - 1})]
        cases += [("flip", rng.integers(0, len(raw))) for _ in range(24)]
        for kind, n in cases:
            bad = os.path.join(d, "bad-" + base)
            b = damage(raw, kind, n, bad, rng)
            code, out, err, _ = run(["profile", "--quiet", "--json", bad])
            name = f"{base} {kind} {n}"
            if code == 0:
                # a success must be right: for the data region of a .npy or
                # a safetensors file a flip changes values, not structure,
                # and NumPy on the same bytes is the reference
                p = json.loads(out)
                ref = None
                try:
                    if path.endswith(".npy"):
                        ref = numpy_counts(np.load(bad), 1)
                    elif path.endswith(".npz"):
                        with np.load(bad) as z:
                            ref = numpy_counts(z["fc"], 1)
                    elif kind == "flip" and n >= 8 + len(hdr):
                        ref = numpy_counts(np.frombuffer(bytes(b[8 + len(hdr):]), np.float32).reshape(a.shape), 1)
                    elif bytes(b) == raw:
                        ref = want
                except Exception as e:  # NumPy refuses it: actprof must too
                    record("inputs", name, False, f"exit 0 where NumPy refuses ({e})")
                    continue
                got = p["layers"][0]["counts"] if len(p["layers"]) == 1 else None
                record("inputs", name, ref is not None and got == ref, f"counts {got} vs {ref}")
            else:
                why = clean_failure(code, err)
                record("inputs", name, why is None, why)
            os.remove(bad)


def stores(d, rng):
    """Bit flips and truncations of a pattern store: every query fails
    cleanly or answers as the undamaged store does."""
    a = (rng.standard_normal((300, 40)) + 0.3).astype(np.float32)
    npy = os.path.join(d, "acts.npy")
    np.save(npy, a)
    st, prof = os.path.join(d, "p.actbits"), os.path.join(d, "p.json")
    code, _, err, _ = run(["profile", "--quiet", "--patterns", st, "-o", prof, npy])
    if code != 0:
        record("stores", "setup", False, err)
        return
    ref = os.path.join(d, "ref.npy")
    run(["patterns", "export", st, "--layer", "acts", "-o", ref])
    want = open(ref, "rb").read()
    raw = open(st, "rb").read()
    cases = [("trunc", n) for n in sorted({0, 4, 8, 12, 100, len(raw) // 3, len(raw) // 2, len(raw) - 40, len(raw) - 1})]
    cases += [("flip", int(rng.integers(0, len(raw)))) for _ in range(40)]
    for kind, n in cases:
        bad = os.path.join(d, "bad.actbits")
        damage(raw, kind, n, bad, rng)
        name = f"store {kind} {n}"
        code, out, err, _ = run(["patterns", "verify", bad, prof, npy])
        if code == 0:
            out_npy = os.path.join(d, "exp.npy")
            c2, _, e2, _ = run(["patterns", "export", bad, "--layer", "acts", "-o", out_npy])
            same = c2 == 0 and open(out_npy, "rb").read() == want
            record("stores", name, same, "verify passed but the patterns differ")
            if os.path.exists(out_npy):
                os.remove(out_npy)
        else:
            why = clean_failure(code, err)
            record("stores", name, why is None, why)
        os.remove(bad)
    # a FIFO given as a store
    fifo = os.path.join(d, "fifo.actbits")
    os.mkfifo(fifo)
    for sub in (["stats", fifo], ["show", fifo, "--layer", "acts", "--sample", "0"], ["verify", fifo, prof]):
        code, _, err, _ = run(["patterns"] + sub, timeout=10)
        why = clean_failure(code, err)
        record("stores", "fifo " + sub[0], why is None, why)
    os.remove(fifo)


def header(d, rng):
    """Every one-bit flip of a store's header JSON: an error, or (a flip
    the header's meaning survives) the same answers as the undamaged
    store; never another layer's or another position's patterns."""
    a = (rng.standard_normal((30, 4, 5)) + 0.2).astype(np.float32)
    np.save(os.path.join(d, "conv.npy"), a)
    np.save(os.path.join(d, "fc.npy"), (rng.standard_normal((30, 7)) + 0.2).astype(np.float32))
    st = os.path.join(d, "s.actbits")
    code, _, err, _ = run(["profile", "--quiet", "--patterns", st, "-o", os.path.join(d, "p.json"),
                           os.path.join(d, "conv.npy"), os.path.join(d, "fc.npy")])
    if code != 0:
        record("header", "setup", False, err)
        return
    raw = open(st, "rb").read()
    start = raw.index(b"{")
    n = int.from_bytes(raw[8:12], "little")
    query = ["patterns", "show", None, "--layer", "conv", "--sample", "7", "--json"]
    q = list(query)
    q[2] = st
    _, want, _, _ = run(q)
    bad = os.path.join(d, "bad.actbits")
    for bit in range(8 * n):
        b = bytearray(raw)
        b[start + bit // 8] ^= 1 << (bit % 8)
        open(bad, "wb").write(bytes(b))
        q[2] = bad
        code, out, err, _ = run(q)
        if code == 0:
            record("header", f"bit {bit}", out == want, "exit 0 with other answers")
        else:
            record("header", f"bit {bit}", clean_failure(code, err) is None, clean_failure(code, err))


def outputs(d, rng):
    """Output-path mistakes: an output that is an input, or the other
    output, by any name; outputs that cannot be written; long names; the
    profile and the store committed together."""
    a = rng.standard_normal((50, 6)).astype(np.float32)
    inp = os.path.join(d, "in.npy")
    np.save(inp, a)
    os.link(inp, os.path.join(d, "hard.npy"))
    os.symlink(inp, os.path.join(d, "sym.npy"))
    st = os.path.join(d, "s.actbits")
    prof = os.path.join(d, "p.json")
    run(["profile", "--quiet", "--patterns", st, "-o", prof, inp])
    os.mkdir(os.path.join(d, "folder"))
    keep = [inp, st, prof]
    mistakes = [
        ["profile", "-o", inp, inp],
        ["profile", "-o", d + "/./in.npy", inp],
        ["profile", "--patterns", inp, inp],
        ["profile", "-o", os.path.join(d, "hard.npy"), inp],
        ["profile", "-o", os.path.join(d, "sym.npy"), inp],
        ["profile", "-o", st, "--patterns", st, inp],
        ["profile", "-o", d + "/./s.actbits", "--patterns", st, inp],
        ["profile", "-o", os.path.join(d, "folder"), "--patterns", st, inp],
        ["profile", "-o", os.path.join(d, "no", "p.json"), "--patterns", st, inp],
        ["profile", "-o", prof, "--patterns", os.path.join(d, "folder"), inp],
        ["patterns", "export", st, "--layer", "in", "-o", st],
        ["patterns", "export", st, "--layer", "in", "-o", d + "/./s.actbits"],
        ["merge", "-o", os.path.join(d, "folder"), prof],
    ]
    saved = snapshot(keep)
    for args in mistakes:
        expect_fail("outputs", " ".join(a.replace(d, "D") for a in args), args + ["--quiet"] if args[0] == "profile" else args, d, keep=keep)
        for p, b in saved.items():  # a clobbered file must not fail the next cases
            open(p, "wb").write(b)
        for t in temps_left(d):
            os.remove(os.path.join(d, t))
    # names of up to 255 bytes are written
    for n in (240, 250, 255):
        for flag, ext in (("-o", ".json"), ("--patterns", ".actbits")):
            p = os.path.join(d, "n" * (n - len(ext)) + ext)
            code, _, err, _ = run(["profile", "--quiet", flag, p, inp])
            record("outputs", f"{flag} name of {n} bytes", code == 0 and os.path.isfile(p), err.strip())
            if os.path.exists(p):
                os.remove(p)
    # modes: the umask is honoured
    old = os.umask(0o027)
    try:
        p = os.path.join(d, "mode.json")
        q = os.path.join(d, "mode.actbits")
        run(["profile", "--quiet", "-o", p, "--patterns", q, inp])
        for f in (p, q):
            m = stat.S_IMODE(os.stat(f).st_mode) if os.path.exists(f) else None
            record("outputs", f"umask 027: {os.path.basename(f)}", m == 0o640, f"mode {m and oct(m)}")
    finally:
        os.umask(old)


def wait_reading(pid, path, limit=5.0):
    """Waits until process pid has path open (its run has begun), so that
    "after t" counts from the run's start, not from the exec: on a busy
    machine the Go runtime and the packages' init may take longer than t,
    and a signal then ends the process before it can say anything."""
    t0 = time.time()
    want = os.path.realpath(path)
    while time.time() - t0 < limit:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            return
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                    return
            except OSError:
                pass
        time.sleep(0.001)


def signals(d, rng):
    """SIGINT, SIGTERM and SIGHUP in the middle of a run: 128+N, one line,
    nothing left behind, old outputs kept."""
    # 64 MiB, written by actprof synth: the probe's own memory stays small,
    # since a child's peak RSS counts its parent's at the fork
    run(["synth", "-o", d, "--layer", "big:1024", "--rows", "16384"])
    inp = os.path.join(d, "big.npy")
    st, prof = os.path.join(d, "s.actbits"), os.path.join(d, "p.json")
    open(st, "w").write("old store")
    open(prof, "w").write("old profile")
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        for delay in (0.05, 0.3):
            p = subprocess.Popen([BIN, "profile", "--quiet", "--workers", "1", "--chunk-size", "4KiB",
                                  "--patterns-level", "best", "--patterns", st, "-o", prof, inp],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_reading(p.pid, inp)
            time.sleep(delay)
            p.send_signal(sig)
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            err = err.decode(errors="replace")
            code = p.returncode if p.returncode >= 0 else 128 - p.returncode
            why = clean_failure(code, err, want=(128 + sig,))
            if why is None and temps_left(d):
                why = f"temporary files left: {temps_left(d)}"
            if why is None and (open(st).read() != "old store" or open(prof).read() != "old profile"):
                why = "an output was replaced"
            record("signals", f"{signal.Signals(sig).name} after {delay}s", why is None, why)
            for t in temps_left(d):
                os.remove(os.path.join(d, t))


def flags(d, rng):
    """Extreme flags: bounded memory and time, a note for what was changed,
    clean refusals for what cannot be done."""
    a = rng.standard_normal((8192, 8)).astype(np.float32)  # 256 KiB
    inp = os.path.join(d, "in.npy")
    np.save(inp, a)
    want = numpy_counts(a, 1)
    st = os.path.join(d, "s.actbits")
    for extra in (["--chunk-size", "1GiB"], ["--chunk-size", "1GiB", "--patterns", st], ["--workers", "1000000"],
                  ["--chunk-size", "1"], ["--workers", "1000000", "--chunk-size", "1GiB", "--patterns", st],
                  ["--patterns-level", "best", "--patterns", st]):
        t0 = time.time()
        code, out, err, rss = run(["profile", "--quiet", "--json"] + extra + [inp])
        dt = time.time() - t0
        ok = code == 0 and json.loads(out)["layers"][0]["counts"] == want and rss < 200 << 20 and dt < 10
        record("flags", " ".join(extra).replace(d, "D"), ok, f"exit {code}, {rss >> 20} MiB, {dt:.1f} s, {err.strip()[:200]}")
    # --unit-axis 0 on a tall 2-D array with --patterns: refused up front
    # or a store every command reads
    code, out, err, _ = run(["profile", "--quiet", "--unit-axis", "0", "--patterns", st, inp])
    if code == 0:
        c2, _, e2, _ = run(["patterns", "stats", st])
        record("flags", "--unit-axis 0 --patterns on 8192x8", c2 == 0, "the store written cannot be read: " + e2.strip())
    else:
        record("flags", "--unit-axis 0 --patterns on 8192x8", clean_failure(code, err) is None and not temps_left(d), err)
    for extra, must in ((["--unit-axis", "-3"], "-3"), (["--threshold", "nan"], None), (["--chunk-size", "-1"], None),
                        (["--workers", "-2"], None), (["--patterns-level", "huge", "--patterns", st], None)):
        expect_fail("flags", " ".join(extra).replace(d, "D"), ["profile", "--quiet"] + extra + [inp], d, must=must)
    code, _, err, _ = run(["profile", "--quiet", "--unit-axis", "fc9=0", inp])
    record("flags", "--unit-axis fc9=0 warns", code == 0 and "names no layer" in err, err)
    for f in ("--dead", "--rare", "--always-on", "--rare-rate", "--dormant", "--constant", "--saturated"):
        out = os.path.join(d, "synth-" + f.strip("-"))
        expect_fail("flags", f"synth {f} NaN", ["synth", "-o", out, f, "NaN"], d)
        record("flags", f"synth {f} NaN leaves no folder", not os.path.exists(out))
    out = os.path.join(d, "synth-big")
    expect_fail("flags", "synth huge layer", ["synth", "-o", out, "--rows", "4000000000", "--layer", "x:4000000000x4000000000"], d)
    record("flags", "synth huge layer leaves no folder", not os.path.exists(out))
    code, out, err, _ = run(["profile", "--bogus", inp])
    record("flags", "usage on a mistake goes to stderr", code == 2 and out == "" and "usage:" in err, f"exit {code}, stdout {len(out)} bytes")


def merges(d, rng):
    """merge mistakes: overflowing sums, different layer sets, a layer named
    twice, observations that contradict the shape."""
    a = rng.standard_normal((30, 5)).astype(np.float32)
    inp = os.path.join(d, "a.npy")
    np.save(inp, a)
    np.save(os.path.join(d, "b.npy"), a)
    pa, pb = os.path.join(d, "a.json"), os.path.join(d, "b.json")
    run(["profile", "--quiet", "-o", pa, inp])
    run(["profile", "--quiet", "-o", pb, os.path.join(d, "b.npy")])
    base = json.load(open(pa))

    def variant(name, f):
        p = json.loads(json.dumps(base))
        f(p)
        path = os.path.join(d, name + ".json")
        json.dump(p, open(path, "w"))
        return path

    def big(p):
        p["layers"][0]["observations"] = 2 ** 64 - 1
        p["layers"][0]["shape"][0] = 2 ** 64 - 1
    huge = variant("huge", big)
    dup = variant("dup", lambda p: p["layers"].append(json.loads(json.dumps(p["layers"][0]))))
    other = variant("other", lambda p: p["layers"][0].update(name="b"))
    shape = variant("shape", lambda p: p["layers"][0]["shape"].__setitem__(0, 31))
    out = os.path.join(d, "m.json")
    for name, args in (("overflow", [huge, pa]), ("duplicate layer", [dup, pa]), ("different layers", [pa, other]),
                       ("shape[0] vs observations", [shape, pa])):
        expect_fail("merge", name, ["merge", "-o", out] + args, d)
        record("merge", name + ": no output", not os.path.exists(out))
    code, o, err, _ = run(["merge", pa, pa])
    ok = code == 0 and json.loads(o)["layers"][0]["counts"] == [2 * c for c in numpy_counts(a, 1)]
    record("merge", "a valid merge adds", ok, err)


def main():
    global BIN, VERBOSE
    args = sys.argv[1:]
    VERBOSE = "-v" in args
    args = [a for a in args if a != "-v"]
    seed = 1
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 1:
        sys.exit("usage: probe.py ACTPROF [--seed N] [-v]")
    BIN = os.path.abspath(args[0])
    rng = np.random.default_rng(seed)
    t0 = time.time()
    # flags first: its peak-RSS checks see the probe's own memory (a forked
    # child starts at its parent's peak), smallest at the start
    for cls in (flags, inputs, stores, header, outputs, signals, merges):
        d = tempfile.mkdtemp(prefix="actprof-probe-")
        try:
            cls(d, rng)
        except Exception as e:
            record(cls.__name__, "crashed the probe", False, repr(e))
        finally:
            shutil.rmtree(d, ignore_errors=True)
    total = sum(c[0] for c in results.values())
    bad = sum(c[1] for c in results.values())
    for f in failures:
        print("FAIL " + f)
    for cls, (n, f) in results.items():
        print(f"probe: {cls:8s} {n:4d} cases, {f:3d} broke the contract")
    print(f"probe: {total} cases, {bad} broke the contract ({time.time() - t0:.0f} s)")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
