"""Reference numbers for the report's statistics and projection (run with the system interpreter):

    /usr/bin/python3 scripts/gen/report_fixtures.py

Independent of the TypeScript under test: exact rational arithmetic (fractions + math.comb) for the binomial
McNemar test, numpy for the bootstrap statistics and percentiles, numpy's SVD for PCA. scipy/statsmodels are not
installed here, so their documented definitions are written out:

  mcnemar (statsmodels.stats.contingency_tables.mcnemar(table, exact=True)): b, c = the discordant counts,
      p = min(1, 2 * binom.cdf(min(b, c), b + c, 0.5)); p = 1 when b + c = 0.
  holm (statsmodels.stats.multitest.multipletests(method="holm")): sort ascending, p_(i) * (m - i) (0-based i),
      running maximum, capped at 1, returned in input order.
  percentile: numpy.percentile's default ("linear") method.
  PCA (sklearn.decomposition.PCA on centred data): rows of Vt from np.linalg.svd, each component's sign flipped
      so that its largest-|value| loading is positive (sklearn's svd_flip with u_based_decision=False).

Writes fixtures/reference/report/stats.json, pca.json and pca_x.npy.
"""
from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "fixtures" / "reference" / "report"


def mcnemar_exact(b: int, c: int) -> float:
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = Fraction(sum(math.comb(n, i) for i in range(k + 1)), 2**n)
    return float(min(Fraction(1), 2 * tail))


def holm(ps: list[float]) -> list[float]:
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, ps[i] * (m - rank)))
        out[i] = running
    return out


def wa_ua(y: np.ndarray, correct: np.ndarray) -> tuple[float, float]:
    """Accuracy and balanced accuracy (mean recall over classes present in y) of fractional correctness."""
    wa = float(correct.mean())
    recalls = [float(correct[y == k].mean()) for k in np.unique(y)]
    return wa, float(np.mean(recalls))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20260513)

    pairs = [(0, 0), (0, 1), (1, 0), (3, 3), (5, 5), (0, 6), (2, 9), (3, 10), (10, 3), (7, 17), (0, 25), (12, 40),
             (100, 130), (130, 100), (400, 520), (2000, 2100), (4321, 4000)]
    mcnemar = [{"b": b, "c": c, "p": mcnemar_exact(b, c)} for b, c in pairs]

    holm_cases = []
    for m in (1, 3, 6, 10):
        ps = [float(x) for x in rng.uniform(0, 0.2, size=m)]
        if m >= 6:
            ps[2] = ps[4]  # a tie
        holm_cases.append({"p": ps, "adjusted": holm(ps)})

    # Paired bootstrap: two runs, 2 seeds each, on the same 60 test rows (3 classes, unbalanced).
    n, seeds, classes = 60, 2, 3
    y = rng.choice(classes, size=n, p=[0.5, 0.3, 0.2])
    pred_a = np.where(rng.uniform(size=(seeds, n)) < 0.7, y, rng.integers(0, classes, size=(seeds, n)))
    pred_b = np.where(rng.uniform(size=(seeds, n)) < 0.55, y, rng.integers(0, classes, size=(seeds, n)))
    ca = (pred_a == y).mean(axis=0)  # mean correctness over seeds, per row
    cb = (pred_b == y).mean(axis=0)
    wa_a, ua_a = wa_ua(y, ca)
    wa_b, ua_b = wa_ua(y, cb)
    # Check the per-seed reading of UA: mean over seeds of balanced accuracy == UA of the mean correctness.
    per_seed_ua = np.mean([wa_ua(y, (pred_a[s] == y).astype(float))[1] for s in range(seeds)])
    assert abs(per_seed_ua - ua_a) < 1e-12
    B = 300
    idx = rng.integers(0, n, size=(B, n))
    d_wa, d_ua = [], []
    for r in range(B):
        i = idx[r]
        wa1, ua1 = wa_ua(y[i], ca[i])
        wa2, ua2 = wa_ua(y[i], cb[i])
        d_wa.append(wa1 - wa2)
        d_ua.append(ua1 - ua2)
    # McNemar per seed on the same rows.
    per_seed = []
    for s in range(seeds):
        ra, rb = pred_a[s] == y, pred_b[s] == y
        b, c = int(np.sum(ra & ~rb)), int(np.sum(~ra & rb))
        per_seed.append({"seed": s, "b": b, "c": c, "p": mcnemar_exact(b, c)})
    bootstrap = {
        "labels": [int(v) for v in y],
        "pred_a": pred_a.tolist(),
        "pred_b": pred_b.tolist(),
        "observed": {"wa_a": wa_a, "ua_a": ua_a, "wa_b": wa_b, "ua_b": ua_b, "d_wa": wa_a - wa_b, "d_ua": ua_a - ua_b},
        "indices": idx.tolist(),
        "d_wa": d_wa,
        "d_ua": d_ua,
        "ci95_wa": [float(np.percentile(d_wa, 2.5)), float(np.percentile(d_wa, 97.5))],
        "ci95_ua": [float(np.percentile(d_ua, 2.5)), float(np.percentile(d_ua, 97.5))],
        "mcnemar": per_seed,
    }
    perc = {"values": [float(v) for v in rng.normal(size=37)], "q": [0, 2.5, 25, 50, 97.5, 100]}
    perc["expected"] = [float(np.percentile(perc["values"], q)) for q in perc["q"]]

    (OUT / "stats.json").write_text(json.dumps({"mcnemar": mcnemar, "holm": holm_cases, "bootstrap": bootstrap, "percentile": perc}, separators=(",", ":")) + "\n")

    # PCA: 240 x 12 with clearly separated variances along rotated axes, plus an offset (centring matters).
    q, _ = np.linalg.qr(rng.normal(size=(12, 12)))
    z = rng.normal(size=(240, 12)) * np.array([5.0, 3.0, 1.5, 1.0, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
    x = (z @ q.T + rng.normal(size=12) * 4).astype(np.float32)
    np.save(OUT / "pca_x.npy", x)
    xd = x.astype(np.float64)
    xc = xd - xd.mean(axis=0)
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    for k in range(vt.shape[0]):
        if vt[k, np.argmax(np.abs(vt[k]))] < 0:
            vt[k] = -vt[k]
    comps = vt[:2]
    scores = xc @ comps.T
    ratio = (s**2) / np.sum(s**2)
    (OUT / "pca.json").write_text(json.dumps({
        "shape": list(x.shape),
        "components": comps.tolist(),
        "scores": scores.tolist(),
        "explained_variance_ratio": ratio[:2].tolist(),
        "explained_variance": ((s[:2] ** 2) / (x.shape[0] - 1)).tolist(),
    }, indent=1) + "\n")
    print(f"wrote {OUT}/stats.json, pca.json, pca_x.npy")


if __name__ == "__main__":
    main()
