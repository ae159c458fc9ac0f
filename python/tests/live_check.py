"""Checks of actprof.torch against PyTorch's own reductions (run by
python/capi's Go test, which builds the library and then profiles the
shards this writes with the actprof command).

usage: live_check.py OUT_DIR
Writes OUT_DIR/<model>/live.json and live.actbits (the live profile and
pattern store) and OUT_DIR/<model>/rec/ (ap.record's shards of the same
batches) for the models whose live profile and store the Go test compares
with the offline ones, and OUT_DIR/dist/ (the parts of two torch.distributed
processes, profiles and pattern stores, and the live profile and store of
one process over their batches), which the Go test merges and compares.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn

import actprof.torch as ap

torch.manual_seed(0)
OUT = sys.argv[1]
T = 0.0


class HalfReLU(nn.Module):
    """A ReLU whose output is float16 (CPU PyTorch has no float16 ReLU)."""

    def forward(self, x):
        return torch.relu(x).half()


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.act1 = nn.Linear(12, 40), nn.ReLU()
        self.fc2, self.act2 = nn.Linear(40, 24), HalfReLU()
        self.fc3 = nn.Linear(24, 3)

    def forward(self, x):
        return self.fc3(self.act2(self.fc2(self.act1(self.fc1(x)))).float())


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1, self.act1 = nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()
        self.conv2, self.act2 = nn.Conv2d(8, 6, 3, stride=2), nn.ReLU()
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        h = self.act2(self.conv2(self.act1(self.conv1(x))))
        return self.head(h.mean((2, 3)))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.mlp = nn.Sequential(nn.Linear(16, 32), nn.GELU(), nn.Linear(32, 16))
        self.out = nn.Linear(16, 50)

    def forward(self, x):
        return self.out(self.mlp(self.emb(x)))


def train(model, batch, target, steps=5):
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(batch_out(model, batch), target)
        loss.backward()
        opt.step()


def batch_out(model, x):
    y = model(x)
    return y.reshape(-1, y.shape[-1])


class Capture:
    """The reference: each selected output kept, as [observations, units] in observation order."""

    def __init__(self, model, names):
        self.acts = {n: [] for n in names}
        self.hs = [m.register_forward_hook(self.hook(n)) for n, m in model.named_modules() if n in names]

    def hook(self, name):
        def h(m, i, o):
            a = o.detach().double()
            if a.dim() >= 4:
                a = a.movedim(1, -1)
            self.acts[name].append(a.reshape(-1, a.shape[-1]))
        return h

    def close(self):
        for h in self.hs:
            h.remove()


def check(profile_path, cap, dtypes, stats=True):
    with open(profile_path) as f:
        p = json.load(f)
    layers = {l["name"]: l for l in p["layers"]}
    assert sorted(layers) == sorted(cap.acts), (sorted(layers), sorted(cap.acts))
    for name, parts in cap.acts.items():
        a = torch.cat(parts)
        l = layers[name]
        assert l["dtype"] == dtypes[name], (name, l["dtype"])
        assert l["observations"] == a.shape[0], (name, l["observations"], a.shape)
        fired = a > T
        want = fired.sum(0).tolist()
        assert l["counts"] == want, (name, l["counts"], want)
        assert l["nan_counts"] == torch.isnan(a).sum(0).tolist()
        if not stats:
            continue
        s = l["stats"]
        assert s["min"] == a.min(0).values.tolist(), name
        assert s["max"] == a.max(0).values.tolist(), name
        idx = torch.arange(a.shape[0]).unsqueeze(1).expand_as(a)
        first = torch.where(fired, idx, torch.full_like(idx, a.shape[0])).min(0).values
        first = torch.where(first == a.shape[0], torch.full_like(first, -1), first)
        last = torch.where(fired, idx, torch.full_like(idx, -1)).max(0).values
        assert s["first_fired"] == first.tolist(), (name, s["first_fired"], first.tolist())
        assert s["last_fired"] == last.tolist(), name
        for got, ref in ((s["sum"], a.sum(0)), (s["sum_abs"], a.abs().sum(0))):
            for g, r, m in zip(got, ref.tolist(), a.abs().sum(0).tolist()):
                assert math.isclose(g, r, rel_tol=1e-9, abs_tol=1e-9 * (m + 1)), (name, g, r)
        assert sum(s["value_hist"]) == a.numel(), name
        l0 = fired.sum(1)
        assert s["l0_hist"][0] == int((l0 < s["l0_bin_width"]).sum()), name


def run_model(tag, model, names, dtypes, batches, record=True, loader=None):
    d = os.path.join(OUT, tag)
    os.makedirs(d, exist_ok=True)
    live = os.path.join(d, "live.json")
    cap = Capture(model, names)
    rec = ap.record(model, names=names, out_dir=os.path.join(d, "rec")) if record else None
    store = os.path.join(d, "live.actbits") if record else None
    with torch.no_grad(), ap.profile(model, names=names, out=live, stats=True, patterns=store) as prof:
        if rec:
            rec.__enter__()
        for x in (loader if loader is not None else batches):
            model(x[0] if isinstance(x, (list, tuple)) else x)
        if rec:
            rec.__exit__(None, None, None)
    cap.close()
    check(live, cap, dtypes)
    table = prof.summary()
    for n in names:
        assert ("\n" + n + " ") in table, table
    return prof


def dist_rank(rank, world, init, model, per_rank, d):
    """One rank of a distributed run: DDP over gloo, its own batches."""
    import torch.distributed as dist
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    ddp = nn.parallel.DistributedDataParallel(model)
    try:
        ap.profile(ddp.module, names=["act1"], out=os.path.join(d, "bad-{rank}.json"), patterns=os.path.join(d, "bad.actbits"))
        raise AssertionError("patterns without {rank} under torch.distributed were taken")
    except ValueError as e:
        assert "{rank}" in str(e), e
    with torch.no_grad(), ap.profile(ddp.module, names=["act1", "act2"], out=os.path.join(d, "part-{rank}.json"),
                                     stats=True, patterns=os.path.join(d, "part-{rank}.actbits")) as prof:
        for x in per_rank[rank]:
            ddp(x)
    assert prof._prof is not None
    dist.destroy_process_group()


def distributed(model):
    """Two ranks, forked before this process loads the library (a forked
    child must not call into a loaded one), then one process over rank 0's
    batches and rank 1's."""
    import torch.multiprocessing as mp
    d = os.path.join(OUT, "dist")
    os.makedirs(d, exist_ok=True)
    # rank 0's batches span more than a store block of act1 (rank 1's
    # part's blocks must start where one process's do)
    per_rank = [[torch.randn(n, 12) for n in (5, 9000, 2, 4321)], [torch.randn(n, 12) for n in (7, 1, 3000)]]
    import actprof._lib
    assert actprof._lib._lib is None, "the library is loaded before the ranks fork"
    mp.start_processes(dist_rank, args=(2, "file://" + os.path.join(d, "rendezvous"), model, per_rank, d),
                       nprocs=2, start_method="fork")
    names = ["act1", "act2"]
    cap = Capture(model, names)
    with torch.no_grad(), ap.profile(model, names=names, out=os.path.join(d, "one.json"), stats=True,
                                     patterns=os.path.join(d, "one.actbits")):
        for x in per_rank[0] + per_rank[1]:
            model(x)
    cap.close()
    check(os.path.join(d, "one.json"), cap, {"act1": "float32", "act2": "float16"})
    for r in (0, 1):
        with open(os.path.join(d, "part-%d.json" % r)) as f:
            part = json.load(f)
        assert part["shard"]["count"] == 2 and part["shard"]["shards"] == [r], part["shard"]
        assert len(part["shard"]["run"]) == 32, part["shard"]
        obs = [l["observations"] for l in part["layers"]]
        assert obs == [sum(x.shape[0] for x in per_rank[r])] * 2, obs


def wrapped_names():
    """Layers of a model wrapped in DataParallel and activation
    checkpointing are named as in the unwrapped model, and profile alike."""
    import warnings
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper
    plain = nn.Sequential(nn.Linear(12, 30), nn.ReLU(), nn.Linear(30, 3))
    wrapped = nn.DataParallel(nn.Sequential(plain[0], checkpoint_wrapper(plain[1]), plain[2]))
    xs = [torch.randn(n, 12) for n in (5, 8)]
    got = {}
    for tag, m, kw in (("plain", plain, {"names": ["1"]}), ("wrapped", wrapped, {"names": ["1"]}),
                       ("wrapped-type", wrapped, {"modules": (nn.ReLU,)})):
        out = os.path.join(OUT, "names-%s.json" % tag)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # checkpointing without inputs that need grad
            with ap.profile(m, out=out, **kw):
                for x in xs:
                    m(x)
        with open(out) as f:
            got[tag] = [(l["name"], l["counts"], l["observations"]) for l in json.load(f)["layers"]]
    assert got["plain"][0][0] == "1" and got["wrapped"] == got["plain"] == got["wrapped-type"], got
    # a selected layer that never runs is named in a warning, not passed over
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        with ap.profile(plain, modules=(nn.ReLU, nn.Linear)):
            plain[0](xs[0])
    msgs = [str(x.message) for x in w if "never ran" in str(x.message)]
    assert len(msgs) == 1 and "2 selected layers never ran in the block: 1, 2 (" in msgs[0], [str(x.message) for x in w]


# Distributed first: the ranks fork from this process before it loads the
# library.
dmlp = MLP()
train(dmlp, torch.randn(64, 12), torch.randint(0, 3, (64,)))
distributed(dmlp)

wrapped_names()

# An MLP (float32 and float16 layers), varying batch sizes, batches from a
# DataLoader with 2 worker processes.
mlp = MLP()
train(mlp, torch.randn(64, 12), torch.randint(0, 3, (64,)))
ds = torch.utils.data.TensorDataset(torch.randn(70, 12))
loader = torch.utils.data.DataLoader(ds, batch_size=16, num_workers=2)  # 16, 16, 16, 16, 6
run_model("mlp", mlp, ["act1", "act2"], {"act1": "float32", "act2": "float16"}, None, loader=loader)

# A CNN: 4-D maps, units on the channel axis, varying batch sizes.
cnn = CNN()
train(cnn, torch.randn(16, 3, 9, 9), torch.randint(0, 3, (16,)))
run_model("cnn", cnn, ["act1", "act2"], {"act1": "float32", "act2": "float32"},
          [torch.randn(n, 3, 9, 9) for n in (5, 1, 8, 3)])

# A bfloat16 MLP (live only: .npy has no bfloat16).
mlpb = nn.Sequential(nn.Linear(12, 20), nn.ReLU(), nn.Linear(20, 3))
train(mlpb, torch.randn(64, 12), torch.randint(0, 3, (64,)))
mlpb = mlpb.to(torch.bfloat16)
run_model("bf16", mlpb, ["1"], {"1": "bfloat16"}, [torch.randn(n, 12).bfloat16() for n in (7, 2, 11)], record=False)

# A token model: batch size and sequence length vary (live only: the
# shards of varying length are not one array).
tok = Tokens()
xs = torch.randint(0, 50, (8, 6))
opt = torch.optim.SGD(tok.parameters(), lr=0.05)
for _ in range(5):
    opt.zero_grad()
    nn.functional.cross_entropy(tok(xs).reshape(-1, 50), xs.reshape(-1)).backward()
    opt.step()
with torch.inference_mode():
    run_model("tokens", tok, ["mlp.1"], {"mlp.1": "float32"},
              [torch.randint(0, 50, s) for s in ((2, 5), (3, 9), (1, 4))], record=False)

# Counted through the queue, an in-place module's output counts as the
# hook saw it, though the model overwrites it at once, also through a
# queue smaller than a batch.
class InPlace(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        h = self.act(x)
        return h.mul_(-1).add_(float("nan"))


ip = InPlace()
for q in (64 << 20, 100):
    d = os.path.join(OUT, "inplace-%s" % q)
    os.makedirs(d)
    cap = Capture(ip, ["act"])
    with ap.profile(ip, names=["act"], out=os.path.join(d, "live.json"), stats=True, queue=q):
        for n in (50, 3, 20):
            ip(torch.randn(n, 30))
    cap.close()
    check(os.path.join(d, "live.json"), cap, {"act": "float32"})

# Non-contiguous outputs count as their values.
class T2(nn.Module):
    def forward(self, x):
        return torch.relu(x).t()


tm = nn.Sequential(T2())
run_model("strided", tm, ["0"], {"0": "float32"}, [torch.randn(9, n) for n in (4, 7)], record=False)

# An exception inside the block writes nothing; library errors arrive as
# exceptions with its message.
bad = os.path.join(OUT, "bad.json")
try:
    with ap.profile(mlp, names=["act1"], out=bad):
        mlp(torch.randn(4, 12))
        raise KeyError("stop")
except KeyError:
    pass
assert not os.path.exists(bad), "half-written output"
badstore = os.path.join(OUT, "bad.actbits")
try:
    with ap.profile(mlp, names=["act1"], out=bad, patterns=badstore):
        mlp(torch.randn(4, 12))
        raise KeyError("stop")
except KeyError:
    pass
assert not os.path.exists(bad) and not os.path.exists(badstore), "half-written output"
# An error in the hook (no folder for the patterns' temporary file), or
# writing the outputs (a store over a folder), leaves neither.
try:
    with ap.profile(mlp, names=["act1"], out=bad, patterns=os.path.join(OUT, "no", "such", "dir.actbits")):
        mlp(torch.randn(4, 12))
    raise AssertionError("a store in a missing folder was written")
except ap.Error as e:
    assert "no/such" in str(e), e
assert not os.path.exists(bad), "a profile without its store"
adir = os.path.join(OUT, "adir")
os.makedirs(adir)
try:
    with ap.profile(mlp, names=["act1"], out=bad, patterns=adir):
        mlp(torch.randn(4, 12))
    raise AssertionError("a store over a folder was written")
except ap.Error as e:
    assert "adir" in str(e), e
assert not os.path.exists(bad) and os.path.isdir(adir), "a profile without its store"
assert not [f for f in os.listdir(OUT) if f.startswith(".")], os.listdir(OUT)
try:
    ap.profile(mlp, names=["act1"], distributed=True)
    raise AssertionError("distributed=True without a process group was accepted")
except ValueError as e:
    assert "no torch.distributed process group" in str(e), e
with ap.profile(mlp, names=["act1"]) as prof:
    mlp(torch.randn(4, 12))
    try:
        x = torch.zeros(4, 41)
        prof._prof.count("act1", x.data_ptr(), "float32", [4, 41])
        raise AssertionError("a batch of 41 units was accepted")
    except ap.Error as e:
        assert "does not match the layer's batches" in str(e), e
    try:
        prof._hook("act1")(None, (), torch.empty(2, 3, device="meta"))
        raise AssertionError("a meta tensor was accepted")
    except ap.Error as e:
        assert "counts CPU and CUDA tensors" in str(e), e
    # The GPU path where no GPU is usable (a fake device address: with a
    # GPU, it is not one of its pointers): one clear error; float64 and
    # statistics are refused before the driver is asked.
    from actprof._lib import Profile
    for kw, dtype, want in (({}, "float32", "tensor on cuda:0: "), ({}, "float64", "float64 tensors on cuda:0 are not counted"),
                            ({"stats": True}, "float32", "value statistics of a tensor on cuda:0 are not computed")):
        g = Profile(**kw)
        try:
            g.count_cuda("g", 1 << 20, dtype, [4, 8], 0, 0)
            raise AssertionError("a CUDA count of a fake pointer was taken")
        except ap.Error as e:
            assert str(e).startswith("actprof: ") and "layer g: " in str(e) and want in str(e) and "\n" not in str(e), e
            if not kw and dtype == "float32" and not torch.cuda.is_available():
                assert "CUDA driver" in str(e), e
        if dtype == "float32" and not kw:  # the layer's count failed: the profile is unusable
            try:
                g.summary()
                raise AssertionError("a profile with a failed layer was read")
            except ap.Error:
                pass
        else:  # refused before counting: nothing of it is in the profile
            assert "\ng " not in g.summary()
        g.close()
    # A forked child must not count: it gets an error, not a hang.
    pid = os.fork()
    if pid == 0:
        try:
            prof._prof.count("act1", x.data_ptr(), "float32", [4, 40])
            os._exit(3)
        except ap.Error as e:
            os._exit(0 if "forked child" in str(e) else 4)
        except BaseException:
            os._exit(5)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    mlp(torch.randn(3, 12))  # the parent still counts
assert "7      " in prof.summary().split("\n")[3], prof.summary()
print("live_check: ok")
