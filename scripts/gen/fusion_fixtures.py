"""PyTorch references for the fusion heads (issue #10). Run with the system interpreter (torch 1.13):

    /usr/bin/python3 scripts/gen/fusion_fixtures.py

The heads are the torch.nn modules of bench/torch_fusion.py, written from the issue's equations
(nn.MultiheadAttention with key_padding_mask, nn.LayerNorm, nn.Linear, nn.TransformerDecoderLayer).

Writes fixtures/reference/fusion/:
  parity_<case>.json   one head configuration (utterance-level or padded sequence batches): its inputs, the
                       initial parameters' names and shapes (emofeat's naming: nn.MultiheadAttention's packed
                       in_proj_weight/in_proj_bias split into q_proj/k_proj/v_proj), PyTorch's logits and betas
                       on all rows (one padded batch, dropout off) and its losses over 3 AdamW steps (mini-batches
                       in data order, each padded to its own longest member)
  parity_<case>.npy    float32 [2, P]: the initial parameters and PyTorch's parameters after the 3 steps
  interaction.npz-like learning set: interaction_{a,t}.npy float32 [1200, 16] and interaction.json (labels,
                       splits, and PyTorch's test accuracies of `fusion` over 5 seeds with the test's settings)
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import torch_fusion as tf  # noqa: E402
from common import FIXTURES_DIR, rel, write_json  # noqa: E402

OUT = FIXTURES_DIR / "reference" / "fusion"
torch.set_num_threads(1)


def our_state(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """state_dict in emofeat's names: packed attention projections split into q/k/v."""
    out = {}
    for name, p in model.named_parameters():
        v = p.detach().numpy().astype(np.float32)
        if name.endswith("in_proj_weight") or name.endswith("in_proj_bias"):
            prefix = name.rsplit(".", 1)[0]
            kind = "weight" if name.endswith("weight") else "bias"
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), np.split(v, 3, axis=0)):
                out[f"{prefix}.{part}.{kind}"] = chunk.copy()
        else:
            out[name] = v.copy()
    return out


def our_state_grads(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """Gradients in emofeat's names (as our_state)."""
    out = {}
    for name, p in model.named_parameters():
        g = p.grad.detach().numpy() if p.grad is not None else np.zeros(tuple(p.shape))
        if name.endswith("in_proj_weight") or name.endswith("in_proj_bias"):
            prefix = name.rsplit(".", 1)[0]
            kind = "weight" if name.endswith("weight") else "bias"
            for part, chunk in zip(("q_proj", "k_proj", "v_proj"), np.split(g, 3, axis=0)):
                out[f"{prefix}.{part}.{kind}"] = chunk
        else:
            out[name] = g
    return out


def sequences(rng: np.random.Generator, n: int, d: int, lengths: list[int] | None) -> list[np.ndarray]:
    if lengths is None:
        return [rng.standard_normal((1, d)).astype(np.float32) for _ in range(n)]
    return [rng.standard_normal((l, d)).astype(np.float32) for l in lengths]


def parity_case(name: str, head: str, da: int, dt: int, c: int, *, seq: bool, d_model: int, heads: int = 2, blocks: int = 2,
                gate: str = "vector", decoder_layers: int = 2, decoder_ffn: int = 2048, loss: str = "ce",
                fuse_length: str | None = None, la: list[int] | None = None, lt: list[int] | None = None, seed: int = 0,
                pooled_audio: bool = False,
                n: int = 10, batch_size: int = 4, lr: float = 1e-3, weight_decay: float = 1e-2) -> None:
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    a = sequences(rng, n, da, la if seq and not pooled_audio else None)
    t = sequences(rng, n, dt, lt if seq else None)
    y = rng.integers(0, c, n)
    rule = fuse_length or ("both" if seq else "text")
    model = tf.FusionHead(head, da, dt, c, d_model, heads=heads, blocks=blocks, gate=gate, dropout=0.0,
                          decoder_layers=decoder_layers, fuse_length=rule, decoder_ffn=decoder_ffn)
    # Make LayerNorm affine parameters and zero-initialised biases non-trivial so they are really compared.
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith("norm_a.weight") or ".norm" in pname and pname.endswith(".weight"):
                p.add_(0.1 * torch.randn_like(p))
            if pname.endswith("in_proj_bias") or pname.endswith("out_proj.bias") or (".norm" in pname and pname.endswith(".bias")):
                p.add_(0.1 * torch.randn_like(p))
    init = our_state(model)
    model.train()  # dropout is 0; train mode keeps torch 1.13 off its fused inference path

    def batch(idx):
        aa, ma = tf.pad_rows(a, idx)
        tt, mt = tf.pad_rows(t, idx)
        return aa, tt, ma, mt

    explain: dict = {}
    with torch.no_grad():
        logits, w = model(*batch(list(range(n))), explain=explain if seq else None)
    beta = w.mean(-1)
    # Attention maps averaged over heads (torch's need_weights), as predict --explain reports them.
    attention = {}
    if seq:
        for i, blk in enumerate(explain["blocks"]):
            attention[f"attn.blocks.{i}.a_to_t"] = blk["audio_to_text"].numpy().ravel().tolist()
            attention[f"attn.blocks.{i}.t_to_a"] = blk["text_to_audio"].numpy().ravel().tolist()
        for l, wl in enumerate(explain.get("decoder", [])):
            attention[f"attn.decoder.layers.{l}.multihead_attn"] = wl.numpy().ravel().tolist()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    losses = []

    def batch_loss(m, idx, dtype):
        z, _ = m(*(x.to(dtype) for x in batch(idx)))
        yt = torch.from_numpy(y[idx].astype(np.int64))
        if loss == "bce":
            return torch.nn.functional.binary_cross_entropy_with_logits(z, torch.nn.functional.one_hot(yt, c).to(dtype))
        return torch.nn.functional.cross_entropy(z, yt)

    # The loss does not depend on some parameters at all (key-projection biases: softmax is shift invariant;
    # under cross-entropy, a bias added to every logit). Their float32 gradients are rounding noise, which
    # Adam normalises into steps of up to lr in a random direction, in torch as in any float32 implementation.
    # They are found from float64 gradients (zero to ~1e-17) and listed, so the test can tell them apart.
    g64max: dict[str, float] = {}
    for step in range(3):
        idx = list(range(step * batch_size, min(n, (step + 1) * batch_size)))
        m64 = copy.deepcopy(model).double()
        batch_loss(m64, idx, torch.float64).backward()
        for pname, p in our_state_grads(m64).items():
            g64max[pname] = max(g64max.get(pname, 0.0), float(np.abs(p).max()))
        l = batch_loss(model, idx, torch.float32)
        opt.zero_grad()
        l.backward()
        opt.step()
        losses.append(float(l))
    invariant = sorted(k for k, v in g64max.items() if v < 1e-12)
    final = our_state(model)
    names = list(init)
    np.save(OUT / f"parity_{name}.npy", np.stack([np.concatenate([init[k].ravel() for k in names]), np.concatenate([final[k].ravel() for k in names])]))
    moved = max(float(np.abs(final[k] - init[k]).max()) for k in names)
    write_json(OUT / f"parity_{name}.json", {
        "head": head, "sequence": seq, "sequence_inputs": [seq and not pooled_audio, seq], "da": da, "dt": dt, "num_classes": c, "d_model": d_model, "attn_heads": heads,
        "blocks": blocks if head != "beta-gate" else 0, "gate": gate, "decoder_layers": decoder_layers if head == "fusion-decoder" else 0,
        "decoder_ffn": decoder_ffn, "loss": loss, "fuse_length": rule, "n": n, "batch_size": batch_size, "lr": lr,
        "weight_decay": weight_decay, "steps": 3,
        "a": [x.ravel().tolist() for x in a], "t": [x.ravel().tolist() for x in t], "y": y.tolist(),
        "names": names, "shapes": [list(init[k].shape) for k in names],
        "logits": logits.numpy().ravel().tolist(), "beta": beta.numpy().ravel().tolist(), "losses": losses,
        "max_parameter_movement": moved, "invariant": invariant, "attention": attention,
    })
    print(f"  parity_{name}: {sum(v.size for v in init.values())} parameters, losses {', '.join(f'{x:.4f}' for x in losses)}, max movement {moved:.3g}; loss-invariant: {', '.join(invariant) or 'none'}")


def interaction_data(seed: int = 11, d: int = 8, n: int = 1200) -> dict:
    """Two modalities whose label is an interaction: four random signs per utterance, s1, s2 carried by the
    audio vector and r1, r2 by the text vector (each sign along a direction of its own, +-1 plus noise 0.5,
    the rest of the vector N(0, 1) noise, the whole vector turned by a random rotation); the class is
    (s1 xor r1) + 2 (s2 xor r2), with 5% of the labels redrawn at random. Neither modality alone, nor any
    linear function of [a; t], says anything about the class: each class holds every sign of every direction."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 2, (n, 2))
    r = rng.integers(0, 2, (n, 2))

    def carrier(signs):
        x = rng.standard_normal((n, d))
        x[:, :2] = (2 * signs - 1) + 0.5 * rng.standard_normal((n, 2))
        q, _ = np.linalg.qr(rng.standard_normal((d, d)))
        return (x @ q).astype(np.float32)

    a, t = carrier(s), carrier(r)
    y = (s[:, 0] ^ r[:, 0]) + 2 * (s[:, 1] ^ r[:, 1])
    noisy = rng.random(n) < 0.05
    y[noisy] = rng.integers(0, 4, noisy.sum())
    split = np.array(["train"] * 700 + ["val"] * 200 + ["test"] * 300)
    return {"a": a, "t": t, "y": y, "split": split}


#: The learning test's settings (tests/train-fusion.test.ts uses the same).
LEARN = dict(d_model=16, heads=2, blocks=1, dropout=0.0, lr=3e-3, weight_decay=1e-2, batch_size=32, epochs=20)


def learning_reference() -> None:
    data = interaction_data()
    np.save(OUT / "interaction_a.npy", data["a"])
    np.save(OUT / "interaction_t.npy", data["t"])
    sets = {}
    for split in ("train", "val", "test"):
        m = data["split"] == split
        sets[f"a_{split}"], sets[f"t_{split}"], sets[f"y_{split}"] = data["a"][m], data["t"][m], data["y"][m]
    s = dict(LEARN)
    runs = []
    for seed in range(5):
        r = tf.train("fusion", sets, seed, d_model=s["d_model"], epochs=s["epochs"], heads=s["heads"], blocks=s["blocks"],
                     dropout=s["dropout"], lr=s["lr"], weight_decay=s["weight_decay"], batch_size=s["batch_size"])
        runs.append({"seed": seed, "test_accuracy": r["test"]["accuracy"], "selected_epoch": r["selected_epoch"]})
        print(f"  interaction: fusion seed {seed}: test accuracy {r['test']['accuracy']:.4f} (epoch {r['selected_epoch']})")
    accs = np.array([r["test_accuracy"] for r in runs])
    write_json(OUT / "interaction.json", {
        "y": data["y"].tolist(), "split": data["split"].tolist(), "settings": LEARN,
        "torch_fusion": {"runs": runs, "test_accuracy_mean": float(accs.mean()), "test_accuracy_std": float(accs.std(ddof=1))},
    })
    print(f"  interaction: PyTorch fusion test accuracy {accs.mean():.4f} +- {accs.std(ddof=1):.4f} over 5 seeds")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"writing {rel(OUT)}")
    parity_case("beta-gate-utt", "beta-gate", 8, 8, 3, seq=False, d_model=8)
    parity_case("beta-gate-scalar-proj", "beta-gate", 6, 10, 3, seq=False, d_model=6, gate="scalar", seed=1)
    parity_case("fusion-utt", "fusion", 8, 8, 4, seq=False, d_model=8, seed=2)
    parity_case("fusion-utt-proj", "fusion", 12, 6, 3, seq=False, d_model=4, heads=2, blocks=1, seed=3)
    la = [3, 7, 1, 5, 7, 2, 4, 6, 1, 3]
    lt = [2, 4, 5, 1, 3, 5, 2, 1, 4, 3]
    parity_case("beta-gate-seq", "beta-gate", 6, 6, 3, seq=True, d_model=6, la=la, lt=lt, seed=4)
    parity_case("fusion-seq", "fusion", 6, 8, 3, seq=True, d_model=6, la=la, lt=lt, seed=5)
    parity_case("fusion-seq-text", "fusion", 8, 8, 3, seq=True, d_model=8, fuse_length="text", la=la, lt=lt, seed=6)
    parity_case("fusion-utt-both", "fusion", 8, 8, 3, seq=False, d_model=8, blocks=1, fuse_length="both", seed=10)
    parity_case("fusion-mixed", "fusion", 6, 8, 3, seq=True, pooled_audio=True, d_model=8, blocks=1, la=la, lt=lt, seed=11)
    parity_case("decoder-utt", "fusion-decoder", 8, 8, 4, seq=False, d_model=8, blocks=1, decoder_layers=1, seed=7)
    parity_case("decoder-seq-bce", "fusion-decoder", 6, 8, 3, seq=True, d_model=8, blocks=1, decoder_ffn=32, loss="bce", la=la, lt=lt, seed=8)
    parity_case("decoder-seq-text", "fusion-decoder", 8, 8, 3, seq=True, d_model=8, blocks=1, decoder_layers=1, decoder_ffn=32,
                fuse_length="text", gate="scalar", la=la, lt=lt, seed=9)
    learning_reference()


if __name__ == "__main__":
    main()
