#!/usr/bin/python3
"""torchaudio references for the weight-free baselines `builtin:fbank` and `builtin:mfcc`.

Run with Debian's interpreter (torch 1.13, torchaudio 0.13, numpy):

    /usr/bin/python3 scripts/gen/baseline_fixtures.py

The two features, exactly as the issue defines them (both on a mono float waveform at 16 kHz, one clip per call):

    fbank = torchaudio.compliance.kaldi.fbank(wav[None], num_mel_bins=80)          # [T, 80], every other default
    mfcc  = torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=40,
                                       melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 64})(wav).T   # [T, 40]

Writes fixtures/reference/baselines/:
  dsp.json     full matrices for short synthetic clips whose samples both languages build bit for bit (the
               integer signal of audio_fixtures.synth_ints / 32768, then divided by its peak in float32): one
               frame, odd lengths, shorter than one frame (torchaudio's error is recorded), silence, a
               constant, a half-silent clip, an impulse
  shared.json  for real files in ../shared/data (RAVDESS 48 kHz, EmoDB 22.05 kHz, URDU 44.1 kHz), after the
               reference's load -> mono -> torchaudio resample -> peak-normalise -> 10 s cut
               (audio_fixtures.reference_load): per feature the frame count, every frame's sum over bins, the
               per-bin mean (= the store's mean-pooled vector) and standard deviation over frames, and five
               whole frames. Only the numbers are committed; the tests read the audio from ../shared.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import torchaudio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audio_fixtures import SHARED, reference_load, synth_ints, tolist9  # noqa: E402
from common import shared_wavs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "fixtures" / "reference" / "baselines"
SR = 16000

FBANK_CALL = "torchaudio.compliance.kaldi.fbank(wav[None], num_mel_bins=80)"
MFCC_CALL = ('torchaudio.transforms.MFCC(sample_rate=16000, n_mfcc=40, '
             'melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 64})(wav).T')

_mfcc = torchaudio.transforms.MFCC(sample_rate=SR, n_mfcc=40, melkwargs={"n_fft": 400, "hop_length": 160, "n_mels": 64})


def fbank(wav: torch.Tensor) -> np.ndarray:
    return torchaudio.compliance.kaldi.fbank(wav[None], num_mel_bins=80).numpy()


def mfcc(wav: torch.Tensor) -> np.ndarray:
    return _mfcc(wav).T.contiguous().numpy()


def features(wav: torch.Tensor) -> dict:
    out = {}
    for name, fn in (("fbank", fbank), ("mfcc", mfcc)):
        try:
            m = fn(wav)
            out[name] = {"frames": int(m.shape[0]), "values": tolist9(m)}
        except Exception as err:  # torchaudio refuses clips too short for one frame / for reflect padding
            out[name] = {"error": f"{type(err).__name__}: {err}".splitlines()[0][:200]}
    return out


# name, length, how the samples are made
DSP_CASES = [
    ("one-frame-400", 400, "noise", 31),
    ("odd-561", 561, "noise", 32),
    ("odd-1001", 1001, "noise", 33),
    ("short-399", 399, "noise", 34),
    ("short-300", 300, "noise", 35),
    ("short-201", 201, "noise", 36),
    ("short-200", 200, "noise", 37),
    ("zeros-1600", 1600, "zeros", 0),
    ("constant-800", 800, "constant", 0),
    ("half-silent-3200", 3200, "half-silent", 38),
    ("impulse-2000", 2000, "impulse", 0),
]


def dsp_wave(length: int, kind: str, seed: int) -> torch.Tensor:
    """float32 samples the TypeScript test rebuilds exactly (see tests/baselines-dsp.test.ts)."""
    if kind == "zeros":
        x = np.zeros(length, np.float32)
    elif kind == "constant":
        x = np.full(length, 0.5, np.float32)
    elif kind == "impulse":
        x = np.zeros(length, np.float32)
        x[length // 2 + 17] = 1.0
    else:
        x = synth_ints(length, 1, seed, "noise-saw").astype(np.float32) / np.float32(32768)
        if kind == "half-silent":
            x[length // 4:] = 0
    peak = np.abs(x).max()
    if peak > 0:
        x = (x / peak).astype(np.float32)
    return torch.from_numpy(x)


def dsp_reference() -> dict:
    cases = []
    for name, length, kind, seed in DSP_CASES:
        cases.append({"name": name, "length": length, "kind": kind, "seed": seed, **features(dsp_wave(length, kind, seed))})
    return {"_comment": "full feature matrices [T][D] of synthetic clips (or torchaudio's error)",
            "torch": torch.__version__, "torchaudio": torchaudio.__version__,
            "fbank_call": FBANK_CALL, "mfcc_call": MFCC_CALL, "cases": cases}


SHARED_FILES = [
    "ravdess/Actor_01/03-01-01-01-01-01-01.wav",
    "ravdess/Actor_01/03-01-05-02-02-01-01.wav",
    "ravdess/Actor_02/03-01-06-01-02-02-02.wav",
    "emodb/wav/03a01Fa.wav",
    "emodb/wav/11a04Ac.wav",
    "emodb/wav/16b02Eb.wav",
    "urdu/Angry/SM1_F12_A012.wav",
    "urdu/Happy",  # first file of the folder
    "urdu/Sad",
    "urdu/Happy/SM3_F1_H053.wav",  # the worst frame-level agreement of all files here (see docs/representations.md)
]


def summary(m: np.ndarray) -> dict:
    m64 = m.astype(np.float64)
    T = m.shape[0]
    picks = sorted({0, T // 3, T // 2, (2 * T) // 3, T - 1})
    return {
        "frames": int(T),
        "dim": int(m.shape[1]),
        "row_sums": tolist9(m64.sum(axis=1)),
        "mean": tolist9(m64.mean(axis=0)),
        "std": tolist9(m64.std(axis=0)),
        "picked": [[int(t), tolist9(m[t])] for t in picks],
    }


def shared_reference() -> dict | None:
    paths = shared_wavs(SHARED_FILES)
    if paths is None:
        return None
    data = SHARED / "data"
    files = []
    for p in paths:
        wav, sr, _, _ = reference_load(p, SR, 10.0)
        files.append({"path": str(p.relative_to(data)), "sampleRate": sr, "samples": int(wav.shape[0]),
                      "fbank": summary(fbank(wav)), "mfcc": summary(mfcc(wav))})
    return {"_comment": "per file (relative to ../shared/data): the reference pipeline at 16 kHz with a 10 s cut, then each "
                        "feature; row_sums[t] = sum over bins of frame t, mean/std over frames (population std), "
                        "picked = [frame index, whole frame]",
            "torch": torch.__version__, "torchaudio": torchaudio.__version__, "maxSeconds": 10.0,
            "fbank_call": FBANK_CALL, "mfcc_call": MFCC_CALL, "files": files}


def write_json(path: Path, obj) -> Path:
    """Compact JSON (one line per case or file): the matrices are large and never read by people."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = {k: v for k, v in obj.items() if k not in ("cases", "files")}
    key = "cases" if "cases" in obj else "files"
    body = ",\n".join(json.dumps(item, separators=(",", ":")) for item in obj[key])
    path.write_text(json.dumps(head, indent=1)[:-2] + f',\n "{key}": [\n{body}\n]}}\n', encoding="utf-8")
    return path


def main() -> int:
    torch.set_num_threads(1)
    written = [write_json(OUT / "dsp.json", dsp_reference())]
    shared = shared_reference()
    if shared is not None:
        written.append(write_json(OUT / "shared.json", shared))
    for p in written:
        print(f"  {p.stat().st_size / 1024:8.1f} KB  {p.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
