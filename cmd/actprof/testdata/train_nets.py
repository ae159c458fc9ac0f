"""Train four small nets with PyTorch on CPU and save their activations.

Usage: /usr/bin/python3 train_nets.py OUTDIR

The end-to-end test of the value statistics profiles what this writes. Each
net is set up so that the statistic it exercises really occurs:

- tanh_layer: a tanh MLP with a large initialisation trained at a large
  learning rate; many units sit at +-1 (saturated for -0.99:0.99).
- sigmoid_layer: the same with sigmoid (saturated for 0.01:0.99).
- relu_layer: a ReLU MLP whose biases start negative, trained at a large
  learning rate: the classic dying ReLU, with dead units (constant 0) and
  dormant ones (a tiny mean |x| next to the layer's).
- conv_layer: a ReLU 3x3 convolution, NCHW [N, C, H, W] (units on axis 1).
- tanh_f64: the tanh layer computed in float64.
- sigmoid_bf16: the sigmoid layer as bfloat16, in a .safetensors file.
- preact_f16: the tanh net's pre-activations, scaled and stored as float16
  as an fp16 model that overflows would see them: +-Inf where they pass
  65504, and NaN where a NaN is injected (a missing value).

The evaluation inputs are sorted by their first feature, so that some units
fire only early in the order and are silent on the last observations (the
dead window). Seeded and single-threaded: the same files on every run on one
machine.
"""

import json
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

torch.manual_seed(0)
torch.set_num_threads(1)
rng = np.random.default_rng(0)

D, H, TRAIN, EVAL = 16, 64, 2048, 8192


def task(n):
    """A synthetic binary task: the sign of a smooth function of x."""
    x = torch.from_numpy(rng.standard_normal((n, D)).astype(np.float32))
    y = (torch.sin(2 * x[:, 0]) + x[:, 1] * x[:, 2] - 0.5 * x[:, 3] > 0).float()
    return x, y


xtr, ytr = task(TRAIN)
xev, _ = task(EVAL)
xev = xev[torch.argsort(xev[:, 0])]


def mlp(seed, act, weight_std, bias_mean, bias_std):
    torch.manual_seed(seed)  # each net's setup stands on its own
    net = nn.Sequential(nn.Linear(D, H), act(), nn.Linear(H, H), act(), nn.Linear(H, 1))
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.normal_(0, weight_std / m.in_features**0.5)
                m.bias.normal_(bias_mean, bias_std)
    return net


def train(net, x, y, lr, steps=50):
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.BCEWithLogitsLoss()
    for _ in range(steps):
        opt.zero_grad()
        out = net(x)
        loss = loss_fn(out.reshape(out.shape[0], -1).mean(1), y)
        loss.backward()
        opt.step()
    return net


def save(name, a):
    np.save(os.path.join(outdir, name + ".npy"), np.ascontiguousarray(a))


def save_bf16(name, t):
    """Writes t as a bfloat16 tensor NAME in NAME.safetensors."""
    b = t.to(torch.bfloat16).contiguous().view(torch.int16).numpy().tobytes()
    h = json.dumps({name: {"dtype": "BF16", "shape": list(t.shape), "data_offsets": [0, len(b)]}}).encode()
    h += b" " * (-len(h) % 8)
    with open(os.path.join(outdir, name + ".safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b)


outdir = sys.argv[1]
os.makedirs(outdir, exist_ok=True)

tanh = train(mlp(1, nn.Tanh, 8.0, 0.0, 20.0), xtr, ytr, lr=2.0)
sigm = train(mlp(2, nn.Sigmoid, 8.0, 0.0, 25.0), xtr, ytr, lr=2.0)
relu = train(mlp(0, nn.ReLU, 3.0, -1.0, 1.0), xtr, ytr, lr=3.0)

torch.manual_seed(3)
conv = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 1))
with torch.no_grad():
    conv[0].bias.normal_(-0.5, 0.5)
img_tr = xtr[:1024, :12].repeat(1, 16).reshape(1024, 3, 8, 8) + 0.3 * torch.randn(1024, 3, 8, 8)
train(conv, img_tr, ytr[:1024], lr=1.0, steps=60)

with torch.no_grad():
    save("tanh_layer", tanh[1](tanh[0](xev)).numpy())
    s = sigm[1](sigm[0](xev))
    save("sigmoid_layer", s.numpy())
    save_bf16("sigmoid_bf16", s)
    save("relu_layer", relu[1](relu[0](xev)).numpy())
    img_ev = xev[:512, :12].repeat(1, 16).reshape(512, 3, 8, 8) + 0.3 * torch.randn(512, 3, 8, 8)
    save("conv_layer", conv[1](conv[0](img_ev)).numpy())
    pre = tanh[0](xev).numpy().astype(np.float64)
    pre *= 65504 / np.quantile(np.abs(pre), 0.98)  # 2% overflow
    save("tanh_f64", torch.tanh(tanh[0].double()(xev.double())).numpy())
    with np.errstate(over="ignore"):
        f16 = pre.astype(np.float16)  # +-Inf past 65504
    f16[::97, 5] = np.nan
    save("preact_f16", f16)
