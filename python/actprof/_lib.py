"""The ctypes binding of _libactprof.so (built by `make python`).

The library holds a Go runtime: it is loaded once per process and never
unloaded. A child forked after it was loaded (a DataLoader worker) must
not call into it, so every call checks the process id first and refuses
in a child.
"""

import ctypes
import json
import os

_PATH = os.environ.get("ACTPROF_LIB") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "_libactprof.so")
_lib = None
_pid = None


class Error(Exception):
    """An error the library reported (its message is the CLI's)."""


def _load():
    global _lib, _pid
    if _lib is not None:
        return _lib
    if not os.path.exists(_PATH):
        raise Error("actprof: %s not built: run `make python` in the actprof repository" % _PATH)
    lib = ctypes.CDLL(_PATH)
    cp, i64, i64p = ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_int64)
    lib.actprof_open.argtypes = [ctypes.c_char_p, i64p]
    lib.actprof_count.argtypes = [i64, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, i64p, i64p, ctypes.c_char_p]
    lib.actprof_count_cuda.argtypes = [i64, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_int, i64p, ctypes.c_int,
                                       ctypes.c_size_t]
    lib.actprof_summary.argtypes = [i64, ctypes.POINTER(ctypes.c_void_p)]
    lib.actprof_write.argtypes = [i64, ctypes.c_char_p]
    lib.actprof_layers.argtypes = [i64, ctypes.POINTER(ctypes.c_void_p)]
    lib.actprof_finish.argtypes = [i64, ctypes.c_char_p]
    lib.actprof_close.argtypes = [i64]
    lib.actprof_free.argtypes = [cp]
    lib.actprof_free.restype = None
    for f in (lib.actprof_open, lib.actprof_count, lib.actprof_count_cuda, lib.actprof_summary, lib.actprof_write, lib.actprof_layers,
              lib.actprof_finish, lib.actprof_close):
        f.restype = cp
    _lib, _pid = lib, os.getpid()
    return lib


def _call(f, *args):
    if os.getpid() != _pid:
        raise Error("actprof: called in a forked child (pid %d) of the process that loaded the library (pid %d): "
                    "count in the parent only (DataLoader workers cannot profile)" % (os.getpid(), _pid))
    r = f(*args)
    if r:
        msg = ctypes.string_at(r).decode("utf-8", "replace")
        _lib.actprof_free(r)
        raise Error(msg)


class Profile:
    """A live profile: count batches of layers into it, then write or read it."""

    def __init__(self, threshold=0.0, rare_below=None, unit_axis=None, stats=False, patterns=False, pattern_dir=None,
                 queue_bytes=0, **stats_options):
        lib = _load()
        cfg = {"threshold": float(threshold), "stats": bool(stats), "patterns": bool(patterns),
               "queue_bytes": int(queue_bytes)}
        if pattern_dir is not None:
            cfg["pattern_dir"] = os.fspath(pattern_dir)
        if rare_below is not None:
            cfg["rare_below"] = float(rare_below)
        if unit_axis is not None:
            cfg["unit_axis"] = unit_axis if isinstance(unit_axis, dict) else {"": int(unit_axis)}
        cfg.update(stats_options)
        h = ctypes.c_int64(0)
        _call(lib.actprof_open, json.dumps(cfg).encode(), ctypes.byref(h))
        self._h = h.value
        self._pid = os.getpid()

    def count(self, layer, ptr, dtype, shape, strides=None, device="cpu"):
        """Count one batch: ptr is the address of its first element, strides in bytes (None: C order).
        The memory is read (counted, or with queue_bytes copied) before count returns."""
        if self._h is None:
            raise Error("actprof: the profile is closed")
        n = len(shape)
        sh = (ctypes.c_int64 * n)(*shape)
        st = (ctypes.c_int64 * n)(*strides) if strides is not None else None
        _call(_lib.actprof_count, self._h, layer.encode(), ctypes.c_void_p(ptr), dtype.encode(), n,
              sh, st, device.encode())

    def count_cuda(self, layer, ptr, dtype, shape, ordinal, stream):
        """Count one C-order batch on GPU ordinal in place: ptr is its
        device address; the kernels are queued on stream (a CUstream
        handle, PyTorch's cuda_stream; 0 for the default stream) and their
        counts are read when the profile is (summary, layers, write,
        finish)."""
        if self._h is None:
            raise Error("actprof: the profile is closed")
        n = len(shape)
        sh = (ctypes.c_int64 * n)(*shape)
        _call(_lib.actprof_count_cuda, self._h, layer.encode(), ptr, dtype.encode(), n, sh, ordinal, stream)

    def _string(self, f):
        out = ctypes.c_void_p()
        _call(f, self._h, ctypes.byref(out))
        s = ctypes.string_at(out.value).decode()
        _lib.actprof_free(out.value)
        return s

    def summary(self):
        """The table `actprof profile` prints."""
        return self._string(_lib.actprof_summary)

    def layers(self):
        """The layers counted so far, in name order: what the ranks of a
        distributed run tell each other at its end (see finish)."""
        return json.loads(self._string(_lib.actprof_layers))

    def finish(self, out=None, patterns=None, patterns_level="fastest", part=None):
        """Write the profile to out and the pattern store to patterns
        (either may be None); both complete before either is renamed into
        place, so an error leaves neither. part, for a process of a
        distributed run: {"rank": r, "run": run id, "layers": [rank 0's
        layers(), rank 1's, ...]}; the profile is then its part."""
        spec = {"out": os.fspath(out) if out is not None else "",
                "patterns": os.fspath(patterns) if patterns is not None else "",
                "patterns_level": patterns_level or ""}
        if part is not None:
            spec["part"] = part
        _call(_lib.actprof_finish, self._h, json.dumps(spec).encode())

    def write(self, path):
        """Write the profile JSON to path, whole or not at all."""
        _call(_lib.actprof_write, self._h, os.fspath(path).encode())

    def close(self):
        if self._h is not None and os.getpid() == self._pid:
            h, self._h = self._h, None
            _call(_lib.actprof_close, h)
