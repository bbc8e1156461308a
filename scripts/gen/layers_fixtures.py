"""PyTorch references for probes over encoder layers (run with the system interpreter, which has torch):

    /usr/bin/python3 scripts/gen/layers_fixtures.py

Writes fixtures/reference/layers/:
  layers_x.npy      a synthetic pooled layer store: 240 utterances x 5 layers x 12 dims, float32 [N, L, D];
                    the class signal is strongest in layer index 2 and the layers have very different scales
  layers.json       its labels and splits (train 120 / val 60 / test 60), the layer indices, the
                    trajectories below, and `frames`: s3prl's probe run on frame sequences of different
                    lengths (mean pooling over each utterance's frames), with and without layer_norm, next to
                    the per-layer frame means a pooled layer store would hold

Each trajectory is the SUPERB weighted-layer probe written from s3prl's description with torch modules:
s3prl's Featurizer (upstream/interfaces.py: weights = zeros(L), softmax, optional F.layer_norm over the
feature dimension without affine parameters, weighted sum over the stacked hidden states) followed by the
emotion downstream (downstream/emotion/expert.py: projector nn.Linear(upstream_dim, projector_dim) applied to
every frame; model.py UtteranceLevel: MeanPooling over frames and a linear post-net) or the project's mlp
probe. A pooled store has one "frame" per utterance, so the frames here have T = 1 and the mean pooling runs
over that single frame. The initial parameters, the logits on every row before and after training, and the
parameters after 3 AdamW steps (the first 96 training rows in order, batches of 32) are stored for the
TypeScript test to reproduce.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "fixtures" / "reference" / "layers"
sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import seed_everything  # noqa: E402

N, L, D, C = 240, 5, 12, 4
LAYERS = [0, 3, 6, 9, 12]  # hidden-state indices the synthetic store claims to hold


def synthetic():
    rng = np.random.default_rng(99)
    y = rng.integers(0, C, N)
    centers = rng.normal(size=(C, D))
    signal = np.array([0.1, 0.25, 0.8, 0.25, 0.05])  # layer position 2 (hidden state 6) carries the classes
    scale = np.array([1.0, 3.0, 0.6, 2.0, 1.5])
    offset = rng.normal(size=(L, D)) * 0.5
    x = rng.normal(size=(N, L, D)) + signal[None, :, None] * centers[y][:, None, :]
    x = x * scale[None, :, None] + offset[None]
    split = np.array(["train"] * 120 + ["val"] * 60 + ["test"] * 60)
    return x.astype(np.float32), y, split


class Featurizer(nn.Module):
    """s3prl's weighted sum of hidden states: softmax(weights) over layers, optional parameter-free layer_norm."""

    def __init__(self, layer_num: int, normalize: bool):
        super().__init__()
        self.weights = nn.Parameter(torch.zeros(layer_num))
        self.normalize = normalize

    def forward(self, hidden_states):  # list of [B, T, D], one per layer
        stacked = torch.stack(hidden_states, dim=0)
        if self.normalize:
            stacked = F.layer_norm(stacked, (stacked.shape[-1],))
        layer_num, *origin = stacked.shape
        stacked = stacked.view(layer_num, -1)
        norm_weights = F.softmax(self.weights, dim=-1)
        return (norm_weights.unsqueeze(-1) * stacked).sum(dim=0).view(*origin)


class EmotionLinear(nn.Module):
    """s3prl's emotion downstream with UtteranceLevel: projector per frame, mean over frames, linear."""

    def __init__(self, d: int, projector_dim: int, c: int):
        super().__init__()
        self.projector = nn.Linear(d, projector_dim) if projector_dim > 0 else None
        self.linear = nn.Linear(projector_dim if projector_dim > 0 else d, c)

    def forward(self, frames):  # [B, T, D]
        h = self.projector(frames) if self.projector is not None else frames
        return self.linear(h.mean(dim=1))


class Mlp(nn.Module):
    """The project's mlp probe (bench/torch_probe.py) with dropout 0, on the mean over frames."""

    def __init__(self, d: int, hidden: int, c: int):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, c))

    def forward(self, frames):
        return self.net(frames.mean(dim=1))


class Probe(nn.Module):
    def __init__(self, base: str, normalize: bool, hidden: int):
        super().__init__()
        self.featurizer = Featurizer(L, normalize)
        self.downstream = EmotionLinear(D, hidden, C) if base == "linear" else Mlp(D, hidden, C)

    def forward(self, x):  # [B, L, D]: one frame per utterance and layer
        hidden_states = [x[:, l, :].unsqueeze(1) for l in range(x.shape[1])]
        return self.downstream(self.featurizer(hidden_states))


def our_names(base: str, hidden: int) -> dict:
    names = {"featurizer.weights": "featurizer.weights"}
    if base == "linear":
        if hidden > 0:
            names.update({"downstream.projector.weight": "projector.weight", "downstream.projector.bias": "projector.bias"})
        names.update({"downstream.linear.weight": "classifier.weight", "downstream.linear.bias": "classifier.bias"})
    else:
        names.update({
            "downstream.net.0.weight": "norm.weight", "downstream.net.0.bias": "norm.bias",
            "downstream.net.1.weight": "fc1.weight", "downstream.net.1.bias": "fc1.bias",
            "downstream.net.3.weight": "fc2.weight", "downstream.net.3.bias": "fc2.bias",
        })
    return names


def trajectory(x, y, split, case: dict) -> dict:
    seed_everything(case["seed"])
    model = Probe(case["base"], case["layer_norm"], case["hidden"])
    with torch.no_grad():
        if case["weights_init"] == "random":
            # Unequal starting weights, so the softmax's gradient is exercised away from its symmetric point.
            model.featurizer.weights.uniform_(-0.6, 0.6)
        if case["base"] == "mlp":
            model.downstream.net[0].weight.uniform_(0.5, 1.5)
            model.downstream.net[0].bias.uniform_(-0.2, 0.2)
    names = our_names(case["base"], case["hidden"])
    state = lambda: {names[k]: v.detach().numpy().astype(np.float32).ravel().tolist() for k, v in model.state_dict().items()}
    xall = torch.from_numpy(x)
    init = state()
    with torch.no_grad():
        logits_init = model(xall).numpy().ravel().tolist()
    opt = torch.optim.AdamW(model.parameters(), lr=case["lr"], weight_decay=case["weight_decay"])
    loss_fn = nn.CrossEntropyLoss()
    xtr = torch.from_numpy(x[split == "train"][:96])
    ytr = torch.from_numpy(y[split == "train"][:96].astype(np.int64))
    losses = []
    for start in range(0, 96, 32):
        opt.zero_grad()
        loss = loss_fn(model(xtr[start:start + 32]), ytr[start:start + 32])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    with torch.no_grad():
        logits_final = model(xall).numpy().ravel().tolist()
        softmax_final = F.softmax(model.featurizer.weights, dim=-1).numpy().tolist()
    return {**case, "batch_size": 32, "train_rows": 96, "steps": 3, "init": init, "final": state(),
            "losses": losses, "logits_init": logits_init, "logits_final": logits_final, "softmax_final": softmax_final}


CASES = [
    # s3prl's probe as it starts (equal weights), projector 8 instead of 256 to keep the fixture small.
    {"name": "linear", "base": "linear", "layer_norm": False, "hidden": 8, "weights_init": "zeros", "lr": 5e-3, "weight_decay": 0.0, "seed": 1},
    {"name": "linear-layer-norm", "base": "linear", "layer_norm": True, "hidden": 8, "weights_init": "random", "lr": 5e-3, "weight_decay": 0.01, "seed": 2},
    {"name": "linear-no-projector", "base": "linear", "layer_norm": False, "hidden": 0, "weights_init": "random", "lr": 1e-2, "weight_decay": 0.01, "seed": 3},
    {"name": "mlp-layer-norm", "base": "mlp", "layer_norm": True, "hidden": 8, "weights_init": "random", "lr": 5e-3, "weight_decay": 0.01, "seed": 4},
]


def frames_case() -> dict:
    """s3prl's probe on real frame sequences, against the same parameters on pooled (mean) vectors."""
    seed_everything(5)
    rng = np.random.default_rng(5)
    lengths = rng.integers(2, 10, 16)
    seqs = [rng.normal(size=(L, t, D)).astype(np.float32) * np.array([1.0, 3.0, 0.6, 2.0, 1.5], dtype=np.float32)[:, None, None]
            for t in lengths]
    out = {"lengths": lengths.tolist(), "pooled": np.stack([q.mean(axis=1) for q in seqs]).astype(np.float32).ravel().tolist()}
    for normalize in (False, True):
        seed_everything(6)
        model = Probe("linear", normalize, 8)
        with torch.no_grad():
            model.featurizer.weights.uniform_(-0.6, 0.6)
        names = our_names("linear", 8)
        logits = []
        with torch.no_grad():
            for q in seqs:  # one utterance at a time: [1, T, D] per layer, s3prl's MeanPooling over its T frames
                hidden_states = [torch.from_numpy(q[l]).unsqueeze(0) for l in range(L)]
                logits.append(model.downstream(model.featurizer(hidden_states)).numpy().ravel())
        out["layer_norm" if normalize else "plain"] = {
            "params": {names[k]: v.numpy().astype(np.float32).ravel().tolist() for k, v in model.state_dict().items()},
            "logits": np.concatenate(logits).tolist(),
        }
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    x, y, split = synthetic()
    np.save(OUT / "layers_x.npy", np.ascontiguousarray(x, dtype="<f4"))
    trajectories = [trajectory(x, y, split, c) for c in CASES]
    (OUT / "layers.json").write_text(json.dumps({
        "torch": torch.__version__,
        "n": N, "num_layers": L, "d": D, "num_classes": C, "layers": LAYERS,
        "y": y.tolist(), "split": split.tolist(),
        "trajectories": trajectories,
        "frames": frames_case(),
    }) + "\n")
    for t in trajectories:
        move = max(abs(a - b) for k in t["init"] for a, b in zip(t["init"][k], t["final"][k]))
        print(f"{t['name']}: losses {', '.join(f'{v:.4f}' for v in t['losses'])}; max parameter movement {move:.2e}; "
              f"final layer weights {', '.join(f'{v:.4f}' for v in t['softmax_final'])}")
    for f in sorted(OUT.iterdir()):
        print(f"  {f.relative_to(REPO)}  {f.stat().st_size} bytes")


if __name__ == "__main__":
    main()
