"""The reference probes in PyTorch: the settings of the issue's table, written the way the reference pipeline
trains them (nn.Sequential, AdamW, CrossEntropyLoss, DataLoader with shuffle, best-validation-macro-F1 or
last-epoch checkpoint). Used by scripts/gen/train_fixtures.py (accuracy reference for tests) and by
bench/train.ts (speed reference). Run with the system interpreter: /usr/bin/python3.

As a command:  /usr/bin/python3 bench/torch_probe.py DATA_DIR HEAD SEED [THREADS]   (prints one JSON line)
DATA_DIR holds x_{train,val,test}.npy (float32 [n, d]) and y_{train,val,test}.npy (class ids, any dtype).
"""
from __future__ import annotations

import copy
import json
import sys
import time

import numpy as np
import torch
from torch import nn
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

SETTINGS = {
    "mlp": dict(epochs=50, batch_size=256, lr=1e-3, weight_decay=0.01, hidden=256, dropout_in=0.1, dropout_hidden=0.3, select="best"),
    "linear": dict(epochs=50, batch_size=256, lr=1e-3, weight_decay=0.01, select="best"),
    "concat-linear": dict(epochs=10, batch_size=64, lr=1e-3, weight_decay=1e-2, select="last"),
    "concat-mlp": dict(epochs=50, batch_size=256, lr=1e-3, weight_decay=0.01, hidden=256, dropout_in=0.1, dropout_hidden=0.3, select="best"),
}


def build(head: str, d: int, c: int, s: dict) -> nn.Module:
    if head in ("mlp", "concat-mlp"):
        return nn.Sequential(
            nn.LayerNorm(d),
            nn.Dropout(s["dropout_in"]),
            nn.Linear(d, s["hidden"]),
            nn.ReLU(),
            nn.Dropout(s["dropout_hidden"]),
            nn.Linear(s["hidden"], c),
        )
    return nn.Linear(d, c)


def scores(model: nn.Module, x: torch.Tensor, y: np.ndarray) -> dict:
    model.eval()
    with torch.no_grad():
        pred = model(x).argmax(dim=1).numpy()
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "unweighted_accuracy": float(balanced_accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro")),
    }


def train(head: str, data: dict, seed: int, **overrides) -> dict:
    s = {**SETTINGS[head], **overrides}
    torch.manual_seed(seed)
    xtr = torch.from_numpy(data["x_train"])
    ytr = torch.from_numpy(data["y_train"].astype(np.int64))
    xva = torch.from_numpy(data["x_val"])
    xte = torch.from_numpy(data["x_test"])
    c = int(max(data["y_train"].max(), data["y_val"].max(), data["y_test"].max())) + 1
    t0 = time.perf_counter()
    model = build(head, xtr.shape[1], c, s)
    opt = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=s["batch_size"], shuffle=True)
    best, best_state, best_epoch = -1.0, None, 0
    for epoch in range(1, s["epochs"] + 1):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
        if s["select"] == "best":
            f1 = scores(model, xva, data["y_val"])["macro_f1"]
            if f1 > best:
                best, best_state, best_epoch = f1, copy.deepcopy(model.state_dict()), epoch
    if s["select"] == "best":
        model.load_state_dict(best_state)
    else:
        best_epoch = s["epochs"]
    seconds = time.perf_counter() - t0
    return {"seed": seed, "selected_epoch": best_epoch, "seconds": seconds, "test": scores(model, xte, data["y_test"])}


if __name__ == "__main__":
    folder, head, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if len(sys.argv) > 4:  # intra-op threads; Debian's build defaults to 1 here (omp_get_max_threads() == 1)
        torch.set_num_threads(int(sys.argv[4]))
    data = {}
    for split in ("train", "val", "test"):
        data[f"x_{split}"] = np.load(f"{folder}/x_{split}.npy").astype(np.float32)
        data[f"y_{split}"] = np.load(f"{folder}/y_{split}.npy").astype(np.int64)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), **train(head, data, seed)}))
