"""The fusion heads of issue #10 in PyTorch, written from the issue's equations with torch.nn modules
(nn.MultiheadAttention with key_padding_mask, nn.LayerNorm, nn.Linear, nn.TransformerDecoderLayer). This is
the independent reference that scripts/gen/fusion_fixtures.py (parity and learning fixtures) and
bench/train.ts (speed) compare emofeat's ONNX-graph heads against. Run with the system interpreter
(/usr/bin/python3, Debian python3-torch 1.13).

Inputs are padded batches: a [B, Ta, Da], t [B, Tt, Dt] and float masks ma [B, Ta], mt [B, Tt] (1 = real
position, 0 = padding). Utterance-level stores are sequences of length 1 with all-ones masks.

As a command (bench):  /usr/bin/python3 bench/torch_fusion.py DATA_DIR HEAD SEED THREADS [EPOCHS]
DATA_DIR holds a_{train,val,test}.npy, t_{...}.npy (float32 [n, d], utterance level) and y_{...}.npy.
Prints one JSON line (seconds for model construction + training, test accuracy, peak RSS).
Sequence level:  ... DATA_DIR HEAD SEED THREADS EPOCHS seq [STEPS]  with a_*.npy [sum Ta, Da] and la_*.npy lengths
(likewise t_, lt_); STEPS stops after that many optimiser steps and reports seconds per step.
"""
from __future__ import annotations

import copy
import json
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

SETTINGS = {
    "beta-gate": dict(epochs=30, batch_size=64, lr=1e-4, weight_decay=1e-2, dropout=0.2),
    "fusion": dict(epochs=30, batch_size=64, lr=1e-4, weight_decay=1e-2, dropout=0.2),
    "fusion-decoder": dict(epochs=15, batch_size=8, lr=1e-4, weight_decay=1e-2, dropout=0.1),
}


def masked_mean(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Mean over positions with mask 1; a row with no real position gives zeros (count clamped to 1)."""
    return (x * m.unsqueeze(-1)).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0)


class FFN(nn.Module):
    def __init__(self, d: int):
        super().__init__()
        self.lin1 = nn.Linear(d, 4 * d)
        self.lin2 = nn.Linear(4 * d, d)

    def forward(self, x):
        return self.lin2(torch.relu(self.lin1(x)))


class CrossModalBlock(nn.Module):
    """a' = LN(a + Drop(MHA(a,a,a))), t' likewise; a'' = LN(a' + Drop(MHA(a',t',t'))), a_out = LN(a'' + Drop(FFN(a'')));
    t'' = LN(t' + Drop(MHA(t',a',a'))), t_out = LN(t'' + Drop(FFN(t'')))."""

    def __init__(self, d: int, heads: int, p: float):
        super().__init__()
        mha = lambda: nn.MultiheadAttention(d, heads, dropout=p, batch_first=True)  # noqa: E731
        self.self_a, self.self_t, self.a_to_t, self.t_to_a = mha(), mha(), mha(), mha()
        self.norm_a1, self.norm_t1 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.norm_a2, self.norm_t2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.norm_a3, self.norm_t3 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.ffn_a, self.ffn_t = FFN(d), FFN(d)
        self.drop = nn.Dropout(p)

    def forward(self, a, t, pad_a, pad_t, weights: list | None = None):
        need = weights is not None
        sa, _ = self.self_a(a, a, a, key_padding_mask=pad_a, need_weights=False)
        a1 = self.norm_a1(a + self.drop(sa))
        st, _ = self.self_t(t, t, t, key_padding_mask=pad_t, need_weights=False)
        t1 = self.norm_t1(t + self.drop(st))
        at, w_at = self.a_to_t(a1, t1, t1, key_padding_mask=pad_t, need_weights=need)
        a2 = self.norm_a2(a1 + self.drop(at))
        a3 = self.norm_a3(a2 + self.drop(self.ffn_a(a2)))
        ta, w_ta = self.t_to_a(t1, a1, a1, key_padding_mask=pad_a, need_weights=need)
        t2 = self.norm_t2(t1 + self.drop(ta))
        t3 = self.norm_t3(t2 + self.drop(self.ffn_t(t2)))
        if need:
            weights.append({"audio_to_text": w_at, "text_to_audio": w_ta})  # averaged over heads by torch
        return a3, t3


class Gate(nn.Module):
    """vector: a_n = LN_a(a), t_n = LN_t(t), w = sigmoid(Linear(256, d)(ReLU(Linear(4d, 256)([a; t; |a - t|; a * t]))))
    over the masked means of a_n and t_n; scalar: no LayerNorms, Linear(256, 1)."""

    def __init__(self, d: int, kind: str, hidden: int = 256):
        super().__init__()
        self.kind = kind
        if kind == "vector":
            self.norm_a, self.norm_t = nn.LayerNorm(d), nn.LayerNorm(d)
        self.fc1 = nn.Linear(4 * d, hidden)
        self.fc2 = nn.Linear(hidden, d if kind == "vector" else 1)

    def forward(self, a, t, ma, mt):
        an, tn = (self.norm_a(a), self.norm_t(t)) if self.kind == "vector" else (a, t)
        ab, tb = masked_mean(an, ma), masked_mean(tn, mt)
        w = torch.sigmoid(self.fc2(torch.relu(self.fc1(torch.cat([ab, tb, (ab - tb).abs(), ab * tb], dim=-1)))))
        return an, tn, w  # w: [B, d] or [B, 1]


def fuse(an, tn, w, ma, mt, rule: str):
    """rule "both": w * a_n over the audio positions and (1 - w) * t_n over the text positions, concatenated
    (masks concatenated); rule "text": the reference's, position i of audio fused with token i over the
    text's length (audio positions past the audio's own length count as zero)."""
    w3 = w.unsqueeze(1)
    if rule == "both":
        return torch.cat([w3 * an, (1 - w3) * tn], dim=1), torch.cat([ma, mt], dim=1)
    tt = tn.shape[1]
    a_fit = an * ma.unsqueeze(-1)
    if a_fit.shape[1] >= tt:
        a_fit = a_fit[:, :tt]
    else:
        a_fit = torch.cat([a_fit, a_fit.new_zeros(a_fit.shape[0], tt - a_fit.shape[1], a_fit.shape[2])], dim=1)
    return w3 * a_fit + (1 - w3) * tn, mt


class Classifier(nn.Module):
    def __init__(self, d: int, c: int, p: float):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, d)
        self.drop = nn.Dropout(p)
        self.fc2 = nn.Linear(d, c)

    def forward(self, x):
        return self.fc2(self.drop(torch.relu(self.fc1(self.norm(x)))))


class EmotionDecoder(nn.Module):
    """C learnable queries N(0, 1); per layer q = LN(q + Drop(MHA(q,q,q))), q = LN(q + Drop(MHA(q, fused, fused, mask))),
    q = LN(q + Drop(Linear(2048, d)(Drop(ReLU(Linear(d, 2048)(q)))))) = nn.TransformerDecoderLayer (post-norm);
    then Linear(d, 1) shared by the queries -> C logits."""

    def __init__(self, d: int, heads: int, c: int, layers: int, p: float, ffn: int = 2048):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(c, d))
        self.layers = nn.ModuleList(
            [nn.TransformerDecoderLayer(d, heads, dim_feedforward=ffn, dropout=p, batch_first=True) for _ in range(layers)]
        )
        self.out = nn.Linear(d, 1)

    def forward(self, fused, pad, weights: list | None = None):
        q = self.queries.unsqueeze(0).expand(fused.shape[0], -1, -1)
        for layer in self.layers:
            if weights is not None:
                _, w = layer.multihead_attn(layer.norm1(q + layer._sa_block(q, None, None)), fused, fused, key_padding_mask=pad)
                weights.append(w)
            q = layer(q, fused, memory_key_padding_mask=pad)
        return self.out(q).squeeze(-1)


class FusionHead(nn.Module):
    def __init__(self, head: str, da: int, dt: int, c: int, d_model: int, heads: int = 8, blocks: int = 2, gate: str = "vector",
                 dropout: float = 0.2, decoder_layers: int = 2, fuse_length: str = "text", decoder_ffn: int = 2048):
        super().__init__()
        self.head = head
        self.fuse_length = fuse_length
        if not (da == dt == d_model):
            self.proj_a = nn.Linear(da, d_model)
            self.proj_t = nn.Linear(dt, d_model)
        else:
            self.proj_a = self.proj_t = None
        self.blocks = nn.ModuleList([CrossModalBlock(d_model, heads, dropout) for _ in range(blocks if head != "beta-gate" else 0)])
        self.gate = Gate(d_model, gate)
        if head == "fusion-decoder":
            self.decoder = EmotionDecoder(d_model, heads, c, decoder_layers, dropout, decoder_ffn)
        else:
            self.classifier = Classifier(d_model, c, dropout)

    def forward(self, a, t, ma, mt, explain: dict | None = None):
        if self.proj_a is not None:
            a, t = self.proj_a(a), self.proj_t(t)
        pad_a, pad_t = ma == 0, mt == 0
        blocks = [] if explain is not None else None
        for b in self.blocks:
            a, t = b(a, t, pad_a, pad_t, blocks)
        an, tn, w = self.gate(a, t, ma, mt)
        fused, mf = fuse(an, tn, w, ma, mt, self.fuse_length)
        if explain is not None:
            explain["blocks"] = blocks
            explain["beta"] = w.mean(-1)
        if self.head == "fusion-decoder":
            dec = [] if explain is not None else None
            logits = self.decoder(fused, mf == 0, dec)
            if explain is not None:
                explain["decoder"] = dec
            return logits, w
        return self.classifier(masked_mean(fused, mf)), w


def batches(n: int, bs: int, shuffle: bool, g: torch.Generator | None = None):
    order = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    for s in range(0, n, bs):
        yield order[s:s + bs]


def pad_rows(x: list[np.ndarray], idx) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [x[i] for i in idx]
    t = max(r.shape[0] for r in rows)
    out = np.zeros((len(rows), t, rows[0].shape[1]), np.float32)
    m = np.zeros((len(rows), t), np.float32)
    for k, r in enumerate(rows):
        out[k, : r.shape[0]] = r
        m[k, : r.shape[0]] = 1
    return torch.from_numpy(out), torch.from_numpy(m)


def train(head: str, data: dict, seed: int, d_model: int | None = None, epochs: int | None = None, loss: str = "ce",
          max_steps: int | None = None, **arch) -> dict:
    """Trains one head as the reference does (AdamW, shuffled mini-batches, best validation accuracy) and
    returns its test accuracy and seconds. data: a/t lists (or arrays) per split, y per split. With max_steps,
    stops after that many optimiser steps and reports the mean seconds per step after the first (batch
    assembly included), without evaluation."""
    s = dict(SETTINGS[head])
    if epochs is not None:
        s["epochs"] = epochs
    s.update({k: arch.pop(k) for k in list(arch) if k in ("batch_size", "lr", "weight_decay", "dropout")})
    torch.manual_seed(seed)
    seq = isinstance(data["a_train"], list)
    get = lambda split, idx: (  # noqa: E731
        pad_rows(data[f"a_{split}"], idx) + pad_rows(data[f"t_{split}"], idx)
        if seq
        else (torch.from_numpy(data[f"a_{split}"][idx]).unsqueeze(1), torch.ones(len(idx), 1),
              torch.from_numpy(data[f"t_{split}"][idx]).unsqueeze(1), torch.ones(len(idx), 1))
    )
    da = data["a_train"][0].shape[-1]
    dt = data["t_train"][0].shape[-1]
    c = int(max(data["y_train"].max(), data["y_val"].max(), data["y_test"].max())) + 1
    t0 = time.perf_counter()
    model = FusionHead(head, da, dt, c, d_model or min(da, dt), dropout=s["dropout"], fuse_length=arch.pop("fuse_length", "text" if not seq else "both"), **arch)
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    ytr = torch.from_numpy(data["y_train"].astype(np.int64))
    n = len(ytr)

    def loss_fn(z, y):
        if loss == "bce":
            return nn.functional.binary_cross_entropy_with_logits(z, nn.functional.one_hot(y, c).float())
        return nn.functional.cross_entropy(z, y)

    def accuracy(split):
        model.eval()
        y = data[f"y_{split}"]
        hits = 0
        with torch.no_grad():
            for idx in batches(len(y), 256, False):
                a, ma, t, mt = get(split, idx.numpy())
                hits += int((model(a, t, ma, mt)[0].argmax(1).numpy() == y[idx.numpy()]).sum())
        return hits / len(y)

    best, best_state, best_epoch = -1.0, None, 0
    step_times = []
    for epoch in range(1, s["epochs"] + 1):
        model.train()
        for idx in batches(n, s["batch_size"], True):
            ts = time.perf_counter()
            a, ma, t, mt = get("train", idx.numpy())
            opt.zero_grad()
            l = loss_fn(model(a, t, ma, mt)[0], ytr[idx])
            l.backward()
            opt.step()
            step_times.append(time.perf_counter() - ts)
            if max_steps is not None and len(step_times) >= max_steps:
                return {"seed": seed, "seconds": time.perf_counter() - t0, "steps": len(step_times),
                        "step_seconds": float(np.mean(step_times[1:] or step_times)), "test": {"accuracy": None},
                        "params": sum(p.numel() for p in model.parameters()), "epoch_seconds": None}
        acc = accuracy("val")
        if acc > best:
            best, best_state, best_epoch = acc, copy.deepcopy(model.state_dict()), epoch
    model.load_state_dict(best_state)
    seconds = time.perf_counter() - t0
    return {"seed": seed, "selected_epoch": best_epoch, "seconds": seconds, "test": {"accuracy": accuracy("test")},
            "params": sum(p.numel() for p in model.parameters()), "epoch_seconds": seconds / s["epochs"]}


def load_dir(folder: str, seq: bool) -> dict:
    data = {}
    for split in ("train", "val", "test"):
        for m in ("a", "t"):
            x = np.load(f"{folder}/{m}_{split}.npy").astype(np.float32)
            if seq:
                lengths = np.load(f"{folder}/l{m}_{split}.npy").astype(np.int64)
                x = np.split(x, np.cumsum(lengths)[:-1])
            data[f"{m}_{split}"] = x
        data[f"y_{split}"] = np.load(f"{folder}/y_{split}.npy").astype(np.int64)
    return data


if __name__ == "__main__":
    folder, head, seed, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    epochs = int(sys.argv[5]) if len(sys.argv) > 5 else None
    seq = len(sys.argv) > 6 and sys.argv[6] == "seq"
    max_steps = int(sys.argv[7]) if len(sys.argv) > 7 else None
    torch.set_num_threads(threads)
    res = train(head, load_dir(folder, seq), seed, epochs=epochs, max_steps=max_steps)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "peak_rss_mb": peak_mb, **res}))
