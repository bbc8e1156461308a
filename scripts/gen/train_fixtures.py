"""Reference numbers for the probe tests (run with the system interpreter, which has torch and sklearn):

    /usr/bin/python3 scripts/gen/train_fixtures.py

Writes fixtures/reference/train/:
  metrics.json      scikit-learn metrics on fixed predictions (edge cases: classes never predicted, predicted
                    but absent from y_true, absent from both)
  synth_x.npy       a synthetic data set with learnable structure: 1000 x 40 float32, 4 classes
  synth.json        its labels and splits (train 500 / val 150 / test 350), and PyTorch's reference `mlp`
                    (the issue's settings, bench/torch_probe.py) test scores over 10 seeds
  trajectory.json   an exact-arithmetic check of the training loop: initial parameters of a small mlp
                    (hidden 16, dropout 0), and PyTorch's parameters and losses after 3 epochs of AdamW on
                    synth's train rows in data order (batches 256 + 244)
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "fixtures" / "reference" / "train"
sys.path.insert(0, str(REPO / "bench"))
import torch_probe  # noqa: E402

torch.set_num_threads(1)


def write_json(name: str, obj) -> None:
    (OUT / name).write_text(json.dumps(obj, indent=1) + "\n")


def metrics_cases() -> list:
    rng = np.random.default_rng(7)
    cases = []

    def add(name, y_true, y_pred, c):
        y_true = np.asarray(y_true)
        y_pred = np.asarray(y_pred)
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=list(range(c)), zero_division=0)
        cases.append({
            "name": name,
            "num_classes": c,
            "y_true": y_true.tolist(),
            "y_pred": y_pred.tolist(),
            "accuracy": accuracy_score(y_true, y_pred),
            "unweighted_accuracy": balanced_accuracy_score(y_true, y_pred),
            "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0),
            "weighted_f1": f1_score(y_true, y_pred, average="weighted", zero_division=0),
            "precision": p.tolist(),
            "recall": r.tolist(),
            "f1": f.tolist(),
            "support": s.tolist(),
            "confusion": confusion_matrix(y_true, y_pred, labels=list(range(c))).tolist(),
        })

    y = rng.integers(0, 4, 60)
    noisy = np.where(rng.random(60) < 0.6, y, rng.integers(0, 4, 60))
    add("random 4 classes", y, noisy, 4)
    y = rng.integers(0, 4, 40)
    add("class 3 never predicted", y, np.where(noisy[:40] == 3, 0, noisy[:40]), 4)
    y = rng.choice([0, 1, 3], 40)
    pred = np.where(rng.random(40) < 0.5, y, rng.integers(0, 4, 40))
    add("class 2 predicted but absent from y_true", y, pred, 4)
    y = rng.integers(0, 4, 30)
    add("class 4 absent from both", y, np.where(rng.random(30) < 0.7, y, (y + 1) % 4), 5)
    y = rng.integers(0, 3, 25)
    add("perfect", y, y, 3)
    add("all predicted as one class", y, np.zeros_like(y), 3)
    y = np.concatenate([np.zeros(45, int), np.ones(5, int)])
    add("imbalanced", y, np.where(rng.random(50) < 0.8, y, 1 - y), 2)
    return cases


def synthetic():
    """Gaussian classes in a 6-dim subspace of 40 dims, plus a little label noise: learnable, not separable."""
    rng = np.random.default_rng(2024)
    n, d, c = 1000, 40, 4
    y = rng.integers(0, c, n)
    basis = np.linalg.qr(rng.normal(size=(d, 6)))[0]  # d x 6 orthonormal
    centers = rng.normal(size=(c, 6)) * 1.1
    x = rng.normal(size=(n, d)) + centers[y] @ basis.T
    x = x * rng.uniform(0.5, 2.0, size=d) + rng.normal(size=d)  # uneven feature scales, as embeddings have
    flip = rng.random(n) < 0.05
    y = np.where(flip, rng.integers(0, c, n), y)
    split = np.array(["train"] * 500 + ["val"] * 150 + ["test"] * 350)
    return x.astype(np.float32), y, split


def npy_save(path: Path, a: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(a, dtype="<f4"))


def reference_runs(x, y, split, seeds):
    data = {}
    for s in ("train", "val", "test"):
        data[f"x_{s}"] = x[split == s]
        data[f"y_{s}"] = y[split == s].astype(np.int64)
    return [torch_probe.train("mlp", data, seed) for seed in seeds]


def trajectory(x, y, split):
    torch.manual_seed(11)
    d, c, hidden = x.shape[1], 4, 16
    model = torch_probe.build("mlp", d, c, dict(hidden=hidden, dropout_in=0.0, dropout_hidden=0.0))
    names = {"0.weight": "norm.weight", "0.bias": "norm.bias", "2.weight": "fc1.weight", "2.bias": "fc1.bias",
             "5.weight": "fc2.weight", "5.bias": "fc2.bias"}
    # Non-trivial LayerNorm parameters, so their gradients are exercised from the first step.
    with torch.no_grad():
        model[0].weight.uniform_(0.5, 1.5)
        model[0].bias.uniform_(-0.2, 0.2)
    init = {names[k]: v.detach().numpy().astype(np.float32).ravel().tolist() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_fn = nn.CrossEntropyLoss()
    xtr = torch.from_numpy(x[split == "train"])
    ytr = torch.from_numpy(y[split == "train"].astype(np.int64))
    losses = []
    for epoch in range(3):
        total = 0.0
        for start in range(0, len(xtr), 256):
            xb, yb = xtr[start:start + 256], ytr[start:start + 256]
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(xtr))
    final = {names[k]: v.detach().numpy().astype(np.float32).ravel().tolist() for k, v in model.state_dict().items()}
    return {"hidden": hidden, "epochs": 3, "batch_size": 256, "lr": 1e-3, "weight_decay": 0.01,
            "init": init, "final": final, "train_loss": losses}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    write_json("metrics.json", {"sklearn": __import__("sklearn").__version__, "cases": metrics_cases()})
    x, y, split = synthetic()
    npy_save(OUT / "synth_x.npy", x)
    seeds = list(range(10))
    runs = reference_runs(x, y, split, seeds)
    acc = np.array([r["test"]["accuracy"] for r in runs])
    write_json("synth.json", {
        "num_classes": 4,
        "y": y.tolist(),
        "split": split.tolist(),
        "torch": torch.__version__,
        "reference_mlp": {"seeds": seeds, "runs": runs, "test_accuracy_mean": acc.mean(), "test_accuracy_std": acc.std(ddof=1)},
    })
    write_json("trajectory.json", trajectory(x, y, split))
    print(f"torch mlp test accuracy over {len(seeds)} seeds: {acc.mean():.4f} +- {acc.std(ddof=1):.4f}")
    for f in sorted(OUT.iterdir()):
        print(f"  {f.relative_to(REPO)}  {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
