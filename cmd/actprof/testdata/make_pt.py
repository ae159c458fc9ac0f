# Writes the .pt files of the torch.save reader's test with Debian's
# PyTorch, and prints per layer the counts of x > 0 over the unit axis
# (the last; channels of 4-D tensors) as torch computes them, as JSON.
import collections, json, os, pickle, sys, zipfile
import torch

out = sys.argv[1]
torch.manual_seed(3)
want = {}

def counts(name, t, file):
    t = t.float()
    axis = 1 if t.dim() >= 4 else t.dim() - 1
    dims = [d for d in range(t.dim()) if d != axis]
    want.setdefault(file, {})[name] = (t > 0).sum(dim=dims).tolist()

base = torch.randn(64, 24)
conv = torch.relu(torch.randn(5, 6, 3, 3))
views = torch.randn(40, 16)
d = {"enc": {"fc1": torch.relu(base), "fc2": base.double()},
     "blocks": [torch.randn(10, 8).half(), torch.randn(10, 7).bfloat16()],
     "conv": conv, "step": 7, "note": "metadata is not a layer"}
torch.save(d, os.path.join(out, "model.pt"))
for k, t in [("enc.fc1", d["enc"]["fc1"]), ("enc.fc2", d["enc"]["fc2"]), ("blocks.0", d["blocks"][0]),
             ("blocks.1", d["blocks"][1]), ("conv", conv)]:
    counts(k, t, "model.pt")
# views into one storage: two row slices and a transposed matrix
torch.save({"head": views[:25], "tail": views[25:], "tr": views.t()}, os.path.join(out, "views.pt"))
counts("head", views[:25], "views.pt")
counts("tail", views[25:], "views.pt")
counts("tr", views.t(), "views.pt")
# a lone tensor takes the file's name
torch.save(torch.randn(30, 5), os.path.join(out, "lone.pth"))
counts("lone", torch.load(os.path.join(out, "lone.pth")), "lone.pth")
# one list under two keys: pickled once, referenced twice
shared = [torch.randn(6, 4), torch.randn(6, 3)]
torch.save({"a": shared, "b": shared}, os.path.join(out, "shared.pt"))
for k in "ab":
    for i, t in enumerate(shared):
        counts("%s.%d" % (k, i), t, "shared.pt")
# pickle protocol 4 (frames, short strings, memoize), metadata of every
# kind beside the tensors
p4 = {"a": {"b": torch.randn(20, 7)}, "c": [torch.randn(5, 3).half()], "n": 2 ** 70, "f": 1.5, "t": (1, None, True)}
torch.save(p4, os.path.join(out, "proto4.pt"), pickle_protocol=4)
counts("a.b", p4["a"]["b"], "proto4.pt")
counts("c.0", p4["c"][0], "proto4.pt")
# an OrderedDict with attributes, as a state_dict() has (_metadata, by BUILD)
sd = collections.OrderedDict(acts=torch.randn(12, 5), more=torch.randn(12, 2).double())
sd._metadata = collections.OrderedDict([("", {"version": 1})])
torch.save(sd, os.path.join(out, "statedict.pt"))
counts("acts", sd["acts"], "statedict.pt")
counts("more", sd["more"], "statedict.pt")

# bad files
bad = os.path.join(out, "bad")
os.makedirs(bad)
torch.save({"x": torch.randn(4, 6)[:, ::2]}, os.path.join(bad, "strided.pt"))
torch.save({"x": torch.randint(0, 5, (4, 3))}, os.path.join(bad, "ints.pt"))
torch.save(torch.randn(3, 3), os.path.join(bad, "legacy.pt"), _use_new_zipfile_serialization=False)

class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + os.path.join(bad, "pwned"),))

# the evil pickle inside a torch.save archive in place of data.pkl
src = os.path.join(out, "lone.pth")
with zipfile.ZipFile(src) as z, zipfile.ZipFile(os.path.join(bad, "evil.pt"), "w", zipfile.ZIP_STORED) as w:
    for i in z.infolist():
        data = z.read(i.filename)
        if i.filename.endswith("data.pkl"):
            data = pickle.dumps(Evil(), protocol=2)
        w.writestr(i, data)
# a forged storage size: the pickle claims more elements than the entry holds
with zipfile.ZipFile(src) as z, zipfile.ZipFile(os.path.join(bad, "forged.pt"), "w", zipfile.ZIP_STORED) as w:
    for i in z.infolist():
        data = z.read(i.filename)
        if i.filename.endswith("data.pkl"):
            data = data.replace(b"K\x96", b"M\x00\x10")  # numel 150 -> 4096
        w.writestr(i, data)
# a forged view: a tensor of more elements than its storage holds
class ForgedView:
    def __init__(self, t):
        self.t = t
    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2,
                (self.t.storage(), 8, (10, 4), (4, 1), False, collections.OrderedDict()))
torch.save({"x": ForgedView(torch.randn(10, 4))}, os.path.join(bad, "forgedview.pt"))
# tensors saved on a big-endian machine (recorded by newer torch.save)
with zipfile.ZipFile(src) as z, zipfile.ZipFile(os.path.join(bad, "bigendian.pt"), "w", zipfile.ZIP_STORED) as w:
    for i in z.infolist():
        w.writestr(i, z.read(i.filename))
    w.writestr(z.infolist()[0].filename.split("/")[0] + "/byteorder", b"big")
# a corrupt storage: one byte of the data changed, the CRC-32 left as it was
raw = bytearray(open(src, "rb").read())
with zipfile.ZipFile(src) as z:
    e = next(i for i in z.infolist() if "/data/" in i.filename)
    name_len, extra_len = int.from_bytes(raw[e.header_offset + 26:e.header_offset + 28], "little"), \
        int.from_bytes(raw[e.header_offset + 28:e.header_offset + 30], "little")
    raw[e.header_offset + 30 + name_len + extra_len + 17] ^= 0x40
open(os.path.join(bad, "corrupt.pt"), "wb").write(raw)
# a 1-d tensor: refused as a 1-D .npy array is
torch.save({"v": torch.randn(9)}, os.path.join(bad, "oned.pt"))
# a truncated archive
raw = open(src, "rb").read()
open(os.path.join(bad, "truncated.pt"), "wb").write(raw[: len(raw) // 2])
print(json.dumps(want))
