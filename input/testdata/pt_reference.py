# Writes torch.save files for the input package's .pt test into argv[1] and
# prints, per file, the layers a reader must give, as testdata/expected.json
# describes them: name, dtype, shape, fortran, sha256 of the bytes (the
# storage's bytes of the view: C order, or Fortran order for a transposed
# matrix) and counts of x > 0 per unit of the last axis.
import collections, hashlib, json, os, sys
import torch

out = sys.argv[1]
torch.manual_seed(11)


def acts(*shape):
    x = torch.randn(*shape)
    x[torch.rand(*shape) < 0.2] = 0.0
    return x


def record(name, t):
    fortran = t.dim() >= 2 and not t.is_contiguous() and t.t().is_contiguous()
    raw = (t.t() if fortran else t).contiguous()
    if raw.dtype == torch.bfloat16:
        raw = raw.view(torch.int16)
    f = t.float()
    return {"name": name, "dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape), "fortran": bool(fortran),
            "sha256": hashlib.sha256(raw.numpy().tobytes()).hexdigest(),
            "counts": (f > 0).reshape(-1, f.shape[-1]).sum(dim=0).tolist()}


files = {}
big = acts(300, 64)  # 76,800 bytes: many chunks, its CRC-32 joined out of order
views = acts(40, 16)
d = collections.OrderedDict()
d["big"] = big
d["enc"] = {"h16": acts(9, 5).half(), "b16": acts(6, 7).bfloat16(), "f64": acts(4, 3).double()}
d["views"] = [views[:25], views[25:], views.t(), views[3:4]]
d["conv"] = acts(2, 3, 4, 4)
d["step"] = 3
torch.save(d, os.path.join(out, "acts.pt"))
files["acts.pt"] = [record("big", big), record("enc.h16", d["enc"]["h16"]), record("enc.b16", d["enc"]["b16"]),
                    record("enc.f64", d["enc"]["f64"]), record("views.0", views[:25]), record("views.1", views[25:]),
                    record("views.2", views.t()), record("views.3", views[3:4]), record("conv", d["conv"])]
lone = acts(7, 6)
torch.save(lone, os.path.join(out, "lone.pt"))
files["lone.pt"] = [record("lone", lone)]
print(json.dumps(files))
