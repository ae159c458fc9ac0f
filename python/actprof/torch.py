"""Live activation profiles of a running PyTorch model.

    import actprof.torch as ap
    with ap.profile(model, modules=(torch.nn.ReLU,), out="profile.json", patterns="acts.actbits") as prof:
        for x, _ in loader:
            model(x)
    print(prof.summary())

A selected module's output tensor is a layer named by the module's
qualified name. Each output is read inside the forward hook, before the
hook returns, so PyTorch cannot free or overwrite it while actprof reads
it, in-place modules included: it is counted there (counts alone cost a
few times less than a hand-written `(x > 0).sum(0)` hook). With queue=N
(bytes) the hook instead copies the output (to C order) into a bounded
queue that a thread of the library counts in the order the batches ran
while the model goes on; the hook waits while N bytes are queued, so
memory stays bounded whatever the number of batches, and PyTorch may free
or overwrite the tensor as soon as the hook returns. An error found by
that thread is raised by a later hook or at the block's end. A
non-contiguous output is copied to C order first.

A CUDA tensor is counted in place on its GPU by actprof's kernels, queued
on PyTorch's current stream in the device's primary context (PyTorch's):
they run after the kernel that made the output and before anything queued
after the hook, so PyTorch's caching allocator cannot hand the memory to
other work meanwhile, and the hook does not wait for them; only the counts
come back, when the profile is read; with patterns=, the packed fired bits
(a bit per unit) come back too, and then the hook waits for them. With
stats=True, which has no GPU kernels, CUDA outputs are copied to the host
and counted on the CPU (a warning says so once). float64 CUDA tensors are
refused. Not supported: tensors produced inside CUDA graphs or torch.compile regions
(hooks there do not run per batch), outputs that are not tensors, and
counting in forked DataLoader workers (count in the main process; workers
only load data). Under torch.distributed each rank writes its part of the
profile and of the pattern store (see profile).
"""

import fnmatch
import os
import uuid
import warnings

import torch

from ._lib import Error, Profile

__all__ = ["profile", "record", "Error"]

_DTYPES = {torch.float32: "float32", torch.float16: "float16", torch.bfloat16: "bfloat16", torch.float64: "float64"}


# Components of qualified names that wrappers add around a module:
# FSDP's (and its flat-parameter wrapper's in PyTorch < 2), activation
# checkpointing's and torch.compile's. A layer is named without them, as
# the unwrapped model names it.
_WRAPPERS = ("_fsdp_wrapped_module", "_fpw_module", "_checkpoint_wrapped_module", "_orig_mod")


def _canonical(model, qn):
    """qn without wrapper components, and without the leading "module" of
    a DistributedDataParallel or DataParallel root."""
    parts = qn.split(".")
    if isinstance(model, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)) and parts[:1] == ["module"]:
        parts = parts[1:]
    return ".".join(p for p in parts if p not in _WRAPPERS)


def _select(model, modules, names):
    """The (layer name, module) pairs chosen by type and/or name glob, the
    names those of the unwrapped model (see _canonical); where a wrapper
    and the module it wraps have the same name, the module."""
    modules = tuple(modules) if modules else ()
    names = [names] if isinstance(names, str) else list(names or ())
    if not modules and not names:
        raise ValueError("actprof: select modules by type (modules=...) and/or name glob (names=[...])")
    chosen = {}
    for qn, m in model.named_modules():
        name = _canonical(model, qn)
        if name == "":
            continue
        if modules and not isinstance(m, modules):
            continue
        if names and not any(fnmatch.fnmatchcase(name, g) for g in names):
            continue
        if name not in chosen or len(qn) > len(chosen[name][0]):
            chosen[name] = (qn, m)
    if not chosen:
        raise ValueError("actprof: no module of the model matches modules=%r names=%r" % (modules, names))
    return [(name, m) for name, (qn, m) in chosen.items()]


def _process_group(distributed):
    """torch.distributed when a process group is to be used, else None."""
    if distributed is False:
        return None
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist
    if distributed:
        raise ValueError("actprof: distributed=True, but no torch.distributed process group is initialised")
    return None


def _output(name, out):
    if not isinstance(out, torch.Tensor):
        raise TypeError("actprof: layer %s: output is a %s, not a tensor" % (name, type(out).__name__))
    return out.detach()


class profile:
    """A context manager that profiles the selected modules' outputs.

    threshold: a unit fires when x > threshold. unit_axis: an int for every
    layer or a dict {name: axis, "": default} (default: the last axis; axis 1
    of 4-D and 5-D maps). stats=True adds the value statistics (further
    keyword arguments: dormant_tau, saturated_above, dead_window, saturate).
    out: where the profile JSON is written when the block ends without an
    exception (whole or not at all); an exception writes nothing.

    queue: bytes of copied outputs waiting to be counted by the library's
    thread; None or 0 (the default): count in the hook.

    patterns: also write every observation's fired units to this pattern
    store (.actbits), observations numbered in the order the batches ran;
    patterns_level: fastest (default) or best. The bits (one per unit and
    observation) go to a temporary file beside the store as batches are
    counted, and the store is coded from it when the block ends: it is the
    store `actprof profile --patterns` writes for the concatenated batches.

    Under torch.distributed (an initialised process group, one process per
    rank; distributed=None detects it, False ignores it, group= picks a
    group other than the default): each rank writes its part, shard rank of
    world_size, to out with {rank} replaced by its rank (out must contain
    {rank}); `actprof merge` of all the parts is the profile of one process
    that ran rank 0's batches, then rank 1's, and so on. The ranks agree on
    a run id when the block starts, and exchange their layers' shapes when
    it ends (collectives on the group: every rank must enter and leave the
    block; a rank that raises inside it leaves the others waiting at its end
    until the group's timeout). With patterns=, each rank writes its part
    of the store too, patterns with {rank} replaced by its rank; `actprof
    patterns merge` of the parts answers every query as the store of one
    process over the ranks' batches in rank order does.
    """

    def __init__(self, model, modules=(), names=(), out=None, threshold=0.0, unit_axis=None, stats=False,
                 rare_below=None, patterns=None, patterns_level="fastest", distributed=None, group=None, queue=None,
                 **stats_options):
        self._chosen = _select(model, modules, names)
        self._out = out
        self._patterns = os.fspath(patterns) if patterns is not None else None
        self._level = patterns_level
        if queue is None:
            queue = 0
        self._args = dict(threshold=threshold, rare_below=rare_below, unit_axis=unit_axis, stats=stats,
                          queue_bytes=queue, **stats_options)
        if self._patterns is not None:
            self._args.update(patterns=True, pattern_dir=os.path.dirname(os.path.abspath(self._patterns)))
        self._dist = _process_group(distributed)
        self._group = group
        if self._dist is not None:
            rank, world = self._dist.get_rank(group), self._dist.get_world_size(group)
            if out is None or "{rank}" not in os.fspath(out):
                raise ValueError("actprof: under torch.distributed (rank %d of %d), out must name each rank's part with "
                                 "{rank}, e.g. out=\"profile-{rank}.json\"; `actprof merge` then combines the parts" % (rank, world))
            if self._patterns is not None:
                if "{rank}" not in self._patterns:
                    raise ValueError("actprof: under torch.distributed (rank %d of %d), patterns must name each rank's store "
                                     "with {rank}, e.g. patterns=\"acts-{rank}.actbits\"; `actprof patterns merge` then "
                                     "combines them" % (rank, world))
                self._patterns = self._patterns.replace("{rank}", str(rank))
                self._args["pattern_dir"] = os.path.dirname(os.path.abspath(self._patterns))
            self._rank, self._world = rank, world
            self._out = os.fspath(out).replace("{rank}", str(rank))
        self._run = None
        self._prof = None
        self._handles = []
        self._summary = None
        self._warned = False
        self._ran = set()  # the layers whose hooks ran
        if any(type(m).__name__ == "OptimizedModule" for m in model.modules()):
            warnings.warn("actprof: the model holds torch.compile'd modules: hooks inside compiled regions may not run "
                          "per batch; profile the uncompiled model (layers that never run are named at the block's end)",
                          stacklevel=2)

    def _hook(self, name):
        def hook(module, inputs, output):
            self._ran.add(name)
            t = _output(name, output)
            dt = _DTYPES.get(t.dtype)
            if dt is None:
                raise Error("actprof: layer %s: dtype %s not supported (float32, float16, bfloat16, float64)" % (name, t.dtype))
            if t.device.type == "cuda" and self._args["stats"]:
                # the value statistics have no GPU kernels: such outputs
                # are counted on the CPU, from a copy
                if not self._warned:
                    self._warned = True
                    warnings.warn("actprof: stats=True: CUDA outputs are copied to the host and counted on the CPU "
                                  "(the statistics have no GPU kernels); without stats they are counted in place", stacklevel=2)
                t = t.cpu()
            if t.device.type == "cuda":
                if torch.cuda.is_current_stream_capturing():
                    raise Error("actprof: layer %s: the stream is capturing a CUDA graph: hooks in a graph run once, "
                                "not per batch; profile the model outside the graph" % name)
                # Counted on the current stream, after the kernel that made
                # t; a copy made here to C order is freed by PyTorch only
                # for work queued after the count on the same stream.
                t = t.contiguous()
                stream = torch.cuda.current_stream(t.device).cuda_stream
                self._prof.count_cuda(name, t.data_ptr(), dt, list(t.shape), t.device.index, stream)
                return
            if t.device.type != "cpu":
                raise Error("actprof: layer %s: tensor on %s: actprof counts CPU and CUDA tensors" % (name, t.device))
            size = t.element_size()
            self._prof.count(name, t.data_ptr(), dt, list(t.shape), [s * size for s in t.stride()], "cpu")
        return hook

    def __enter__(self):
        if self._dist is not None:
            run = [uuid.uuid4().hex if self._rank == 0 else None]
            self._dist.broadcast_object_list(run, src=self._dist.get_global_rank(self._group, 0) if self._group else 0,
                                             group=self._group)
            self._run = run[0]
        self._prof = Profile(**self._args)
        for name, m in self._chosen:
            self._handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, exc_type, exc, tb):
        for h in self._handles:
            h.remove()
        self._handles = []
        try:
            if exc_type is None:
                silent = [n for n, _ in self._chosen if n not in self._ran]
                if silent:
                    warnings.warn("actprof: %d selected layer%s never ran in the block: %s (modules not called, or in "
                                  "compiled or graph-captured regions, where hooks do not run); the profile leaves them out"
                                  % (len(silent), "" if len(silent) == 1 else "s", ", ".join(sorted(silent)[:10])
                                     + (", ..." if len(silent) > 10 else "")), stacklevel=2)
                self._summary = self._prof.summary()
                part = None
                if self._dist is not None:
                    layers = [None] * self._world
                    self._dist.all_gather_object(layers, self._prof.layers(), group=self._group)
                    part = {"rank": self._rank, "run": self._run, "layers": layers}
                if self._out is not None or self._patterns is not None:
                    self._prof.finish(self._out, self._patterns, self._level, part)
        finally:
            self._prof.close()
        return False

    def summary(self):
        """The table `actprof profile` prints for the batches so far."""
        if self._summary is not None:
            return self._summary
        if self._prof is None or self._prof._h is None:
            raise Error("actprof: no profile (the block has not run, or ended with an exception)")
        return self._prof.summary()

    def write(self, path):
        """Write the profile so far (inside the block)."""
        self._prof.write(path)


class record:
    """A context manager that writes the selected modules' outputs as .npy
    shards, one folder per layer (out_dir/<name>/00000000.npy, ...), which
    `actprof profile out_dir` reads as one layer per folder. Each batch is
    written in the hook (memory: one batch). dtype: None keeps float32,
    float16 and float64; bfloat16, which .npy cannot hold, is written as
    float32 (exactly); dtype="float16" or "float32" casts every layer."""

    def __init__(self, model, modules=(), names=(), out_dir="activations", dtype=None):
        import numpy  # noqa: F401  (needed by the hooks)
        self._chosen = _select(model, modules, names)
        self._dir = os.fspath(out_dir)
        self._dtype = {None: None, "float16": torch.float16, "float32": torch.float32}[dtype]
        self._handles = []
        self._seq = {}

    def _hook(self, name):
        import numpy as np
        folder = os.path.join(self._dir, name)

        def hook(module, inputs, output):
            t = _output(name, output).cpu()
            if self._dtype is not None:
                t = t.to(self._dtype)
            elif t.dtype == torch.bfloat16:
                t = t.float()
            k = self._seq.get(name, 0)
            self._seq[name] = k + 1
            path = os.path.join(folder, "%08d.npy" % k)
            tmp = os.path.join(folder, ".%08d.npy.tmp" % k)
            with open(tmp, "wb") as f:
                np.save(f, t.contiguous().numpy())
            os.replace(tmp, path)
        return hook

    def __enter__(self):
        for name, m in self._chosen:
            os.makedirs(os.path.join(self._dir, name), exist_ok=True)
            self._handles.append(m.register_forward_hook(self._hook(name)))
        return self

    def __exit__(self, exc_type, exc, tb):
        for h in self._handles:
            h.remove()
        self._handles = []
        return False
