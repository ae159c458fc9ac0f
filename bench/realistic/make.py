#!/usr/bin/python3
"""Realistic ReLU activations for the pattern-store benchmark: trains three
small networks on scikit-learn's digits (8x8 images, bundled with the package,
no download) with PyTorch on the CPU, then records their post-ReLU
activations over the digits and shifted/noisy copies of them, one .npy per
layer (float32).

  mlp_fc1, mlp_fc2, mlp_fc3   MLP 64-256-128-64-10              [N, units]
  cnn_conv1, cnn_conv2, cnn_fc CNN conv16-conv32-pool-fc64-10    [N, C, H, W], [N, 64]
  tok_ffn1, tok_ffn2          token model: 8 rows as 8 tokens,
                              per-token FFN + mean mixing        [N, 8, units]

usage: make.py OUTDIR [COPIES]   (Debian: python3-torch python3-sklearn)"""
import os, sys, numpy as np, torch, torch.nn as nn
from sklearn.datasets import load_digits

out = sys.argv[1]
copies = int(sys.argv[2]) if len(sys.argv) > 2 else 20
os.makedirs(out, exist_ok=True)
torch.manual_seed(0)
rng = np.random.default_rng(0)
d = load_digits()
X = torch.tensor(d.data / 16.0, dtype=torch.float32)
y = torch.tensor(d.target)


class MLP(nn.Module):
    def __init__(s):
        super().__init__()
        s.fc1, s.fc2, s.fc3, s.out = nn.Linear(64, 256), nn.Linear(256, 128), nn.Linear(128, 64), nn.Linear(64, 10)

    def forward(s, x, rec=None):
        h1 = torch.relu(s.fc1(x)); h2 = torch.relu(s.fc2(h1)); h3 = torch.relu(s.fc3(h2))
        if rec is not None: rec.update(mlp_fc1=h1, mlp_fc2=h2, mlp_fc3=h3)
        return s.out(h3)


class CNN(nn.Module):
    def __init__(s):
        super().__init__()
        s.c1, s.c2 = nn.Conv2d(1, 16, 3, padding=1), nn.Conv2d(16, 32, 3, padding=1)
        s.fc, s.out = nn.Linear(32 * 4 * 4, 64), nn.Linear(64, 10)

    def forward(s, x, rec=None):
        x = x.view(-1, 1, 8, 8)
        a1 = torch.relu(s.c1(x)); a2 = torch.relu(s.c2(a1))
        f = torch.relu(s.fc(nn.functional.max_pool2d(a2, 2).flatten(1)))
        if rec is not None: rec.update(cnn_conv1=a1, cnn_conv2=a2, cnn_fc=f)
        return s.out(f)


class Tok(nn.Module):
    def __init__(s):
        super().__init__()
        s.emb, s.ffn1, s.proj, s.ffn2 = nn.Linear(8, 64), nn.Linear(64, 256), nn.Linear(256, 64), nn.Linear(64, 128)
        s.out = nn.Linear(128, 10)

    def forward(s, x, rec=None):
        t = s.emb(x.view(-1, 8, 8))                      # 8 tokens of 8 pixels
        h1 = torch.relu(s.ffn1(t + t.mean(1, keepdim=True)))
        u = t + s.proj(h1)
        h2 = torch.relu(s.ffn2(u + u.mean(1, keepdim=True)))
        if rec is not None: rec.update(tok_ffn1=h1, tok_ffn2=h2)
        return s.out(h2.mean(1))


def augment(x):
    img = x.view(-1, 8, 8).numpy()
    dy, dx = rng.integers(-1, 2, size=2)
    img = np.roll(np.roll(img, dy, axis=1), dx, axis=2)
    img = np.clip(img + rng.normal(0, 0.05, img.shape), 0, 1)
    return torch.tensor(img.reshape(-1, 64), dtype=torch.float32)


for model in (MLP(), CNN(), Tok()):
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    for epoch in range(40):
        for i in torch.randperm(len(X)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(augment(X[i])), y[i]).backward()
            opt.step()
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
        recs = {}
        for c in range(copies + 1):
            r = {}
            model(X if c == 0 else augment(X), r)
            for k, v in r.items():
                recs.setdefault(k, []).append(v.numpy())
    for k, v in recs.items():
        a = np.concatenate(v).astype(np.float32)
        np.save(os.path.join(out, k + ".npy"), a)
        print("%-10s %-18s Pr[y>0] %.3f  (train accuracy %.3f)" % (k, a.shape, (a > 0).mean(), acc))
