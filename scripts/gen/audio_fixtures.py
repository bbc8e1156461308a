#!/usr/bin/python3
"""Audio fixtures for emofeat's tests: tiny random-weight WavLM-like encoders and torch/torchaudio references.

Run with Debian's interpreter (torch 1.13, torchaudio 0.13, onnx 1.12, numpy):

    /usr/bin/python3 scripts/gen/audio_fixtures.py           # fixtures/ (committed)
    /usr/bin/python3 scripts/gen/audio_fixtures.py --bench   # bench/models/wavlm-base-random/ (gitignored)

Writes
  fixtures/models/tiny-wavlm/        config.json, preprocessor_config.json, onnx/model.onnx  (input_values only)
  fixtures/models/tiny-wavlm-mask/   same weights; the ONNX model also takes attention_mask
  fixtures/reference/audio/pipeline.json   clip specs + torch outputs of the reference pipeline, both batching
                                           modes, do_normalize true/false, both models
  fixtures/reference/audio/resample.json + resample/*.npy   torchaudio.functional.resample outputs -> 16 kHz
  fixtures/reference/audio/linspace.json   torch.linspace(0, L-1, T).round() where it differs from exact rounding
  fixtures/reference/audio/shared-files.json  sample values and pipeline outputs for a few ../shared/data files
  fixtures/reference/audio/g711.json       A-law / mu-law expansion tables (Python's audioop)

Test clips are not committed: they are synthesised from integers (a 32-bit LCG and a sawtooth), which the
TypeScript tests reproduce bit for bit (tests/helpers/audio-synth.ts), written as 16-bit WAV and loaded here
with torchaudio.load, like the reference loads its files.

transformers is not installed, so the Wav2Vec2FeatureExtractor steps are re-implemented below from HF's
source (feature_extraction_sequence_utils.pad + Wav2Vec2FeatureExtractor.zero_mean_unit_var_norm, 4.x) in
numpy float32, and the model is Hugging Face's WavLMModel re-implemented with HF's module names (hf_modules.py).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import wave
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torchaudio

sys.path.insert(0, str(Path(__file__).resolve().parent))
from hf_modules import WavLMConfig, WavLMModel, init_wavlm  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHARED = (REPO / ".." / "shared").resolve()
FIX_MODELS = REPO / "fixtures" / "models"
FIX_REF = REPO / "fixtures" / "reference" / "audio"
BENCH_MODELS = REPO / "bench" / "models"

TARGET_SR = 16000
MAX_SECONDS = 4.0
BATCH_SIZE = 4
CONV_KERNEL = [10, 3, 3, 3, 3, 2, 2]
CONV_STRIDE = [5, 2, 2, 2, 2, 2, 2]


# ----------------------------------------------------------------------------------------------------------
# JSON with float32-exact numbers
# ----------------------------------------------------------------------------------------------------------


def f9(x) -> float:
    """A float32 value as the shortest decimal that round-trips it (9 significant digits)."""
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"non-finite value in fixture: {x}")
    return float(f"{x:.9g}")


def tolist9(a) -> list:
    a = np.asarray(a)
    if a.ndim == 0:
        return f9(a)
    return [tolist9(v) for v in a] if a.ndim > 1 else [f9(v) for v in a]


def write_json(path: Path, obj) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, indent=1, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return path


def write_npy(path: Path, a: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(a, dtype="<f4"))
    return path


# ----------------------------------------------------------------------------------------------------------
# Deterministic integer test signals (mirrored in tests/helpers/audio-synth.ts)
# ----------------------------------------------------------------------------------------------------------


def synth_ints(frames: int, channels: int, seed: int, kind: str) -> np.ndarray:
    """Interleaved int16 samples [frames * channels].

    kind "zero": silence. kind "noise-saw": per channel a sawtooth (period 37 + 13c + seed % 50 samples) plus
    LCG noise, under an envelope that changes every 800 frames (a new LCG draw, 0..255). All integer
    arithmetic with floor division, so both languages produce the same values.
    """
    out = np.zeros(frames * channels, dtype=np.int16)
    if kind == "zero":
        return out
    if kind != "noise-saw":
        raise ValueError(kind)
    state = seed & 0xFFFFFFFF
    env = 0
    periods = [37 + 13 * c + seed % 50 for c in range(channels)]
    vals = []
    for n in range(frames):
        if n % 800 == 0:
            state = (1664525 * state + 1013904223) & 0xFFFFFFFF
            env = state >> 24
        for c in range(channels):
            state = (1664525 * state + 1013904223) & 0xFFFFFFFF
            noise = (state >> 16) - 32768
            saw = (n * 65536 // periods[c]) % 65536 - 32768
            vals.append(((saw + noise // 2) * env) // 512)
    out[:] = np.array(vals, dtype=np.int64)
    return out


def write_wav16(path: Path, ints: np.ndarray, sr: int, channels: int) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(ints.astype("<i2").tobytes())


# The pipeline test clips: id, rate, channels, seconds, seed, kind. 0.3-12 s, 8 k to 48 kHz, stereo, silence.
CLIPS = [
    ("c00_16k_mono", 16000, 1, 1.0, 11, "noise-saw"),
    ("c01_8k_short", 8000, 1, 0.3, 12, "noise-saw"),
    ("c02_22k", 22050, 1, 2.5, 13, "noise-saw"),
    ("c03_44k_stereo", 44100, 2, 3.7, 14, "noise-saw"),
    ("c04_48k_long", 48000, 1, 6.0, 15, "noise-saw"),
    ("c05_silence", 16000, 1, 1.2, 16, "zero"),
    ("c06_48k_stereo_12s", 48000, 2, 12.0, 17, "noise-saw"),
    ("c07_16k_stereo_4s", 16000, 2, 4.0, 18, "noise-saw"),
    ("c08_22k_long", 22050, 1, 5.2, 19, "noise-saw"),
    ("c09_8k_stereo", 8000, 2, 0.75, 20, "noise-saw"),
    ("c10_44k_short", 44100, 1, 0.45, 21, "noise-saw"),
]


def clip_specs() -> list[dict]:
    return [
        {"id": cid, "sampleRate": sr, "channels": ch, "frames": int(round(sec * sr)), "seed": seed, "kind": kind}
        for cid, sr, ch, sec, seed, kind in CLIPS
    ]


# ----------------------------------------------------------------------------------------------------------
# The reference pipeline (what the Python reference does per file)
# ----------------------------------------------------------------------------------------------------------


def reference_load(path: Path, target_sr: int, max_seconds: float | None):
    wav, sr = torchaudio.load(str(path))  # float32 in [-1, 1], [C, T]
    wav = wav.mean(dim=0)
    if sr != target_sr:
        wav = torchaudio.functional.resample(wav, sr, target_sr)
    resampled_len = wav.shape[0]
    peak = wav.abs().max()
    if peak > 0:
        wav = wav / peak
    if max_seconds is not None:
        wav = wav[: int(target_sr * max_seconds)]
    return wav, sr, resampled_len, float(peak)


def hf_feature_extractor(clips: list[np.ndarray], do_normalize: bool, padding_value: float = 0.0):
    """Wav2Vec2FeatureExtractor(padding="longest", return_attention_mask=True) on float32 clips."""
    L = max(len(c) for c in clips)
    values = np.full((len(clips), L), padding_value, dtype=np.float32)
    mask = np.zeros((len(clips), L), dtype=np.int32)
    for i, c in enumerate(clips):
        values[i, : len(c)] = c
        mask[i, : len(c)] = 1
    if do_normalize:
        normed = []
        for vector, length in zip(values, mask.sum(-1)):
            normed_slice = (vector - vector[:length].mean()) / np.sqrt(vector[:length].var() + 1e-7)
            if length < normed_slice.shape[0]:
                normed_slice[length:] = padding_value
            normed.append(normed_slice)
        values = np.stack(normed).astype(np.float32)
    return values, mask


def conv_out_len(L: int) -> int:
    for k, s in zip(CONV_KERNEL, CONV_STRIDE):
        L = (L - k) // s + 1
    return L


# ----------------------------------------------------------------------------------------------------------
# A tiny WavLM-shaped encoder
# ----------------------------------------------------------------------------------------------------------


# The model: Hugging Face's WavLMModel module tree (scripts/gen/hf_modules.py), Base layout (feat_extract_norm
# "group": GroupNorm with one group per channel on the first conv layer, so padding changes every frame, as in the
# real model; post-LN layers; gated relative position bias).
TINY = WavLMConfig(conv_dim=(16,) * 7, conv_kernel=tuple(CONV_KERNEL), conv_stride=tuple(CONV_STRIDE), hidden_size=32,
                   num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_conv_pos_embeddings=8,
                   num_conv_pos_embedding_groups=4)
BASE = WavLMConfig(conv_dim=(512,) * 7, conv_kernel=tuple(CONV_KERNEL), conv_stride=tuple(CONV_STRIDE), hidden_size=768,
                   num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072, num_conv_pos_embeddings=128,
                   num_conv_pos_embedding_groups=16)


def build_model(cfg: WavLMConfig, seed: int) -> WavLMModel:
    return init_wavlm(WavLMModel(cfg), seed)


PREPROCESSOR_CONFIG = {
    "do_normalize": True,
    "feature_extractor_type": "Wav2Vec2FeatureExtractor",
    "feature_size": 1,
    "padding_side": "right",
    "padding_value": 0.0,
    "return_attention_mask": True,
    "sampling_rate": 16000,
}


DEMO_README = """# tiny-wavlm-demo

A **tiny, randomly initialised** speech encoder with the WavLM interface (conv feature encoder with WavLM
Base+'s kernels and strides but 16 channels, GroupNorm on the first layer, hidden 32, 2 transformer layers),
shipped so that the emofeat demo runs offline. It is the same model as `fixtures/models/tiny-wavlm-mask`.

**Its weights are random: the embeddings it produces are meaningless numbers.** They are only useful to check
plumbing (decoding, resampling, batching, pooling, file formats). For real features use a pretrained model
such as `Xenova/wavlm-base-plus`.

Layout (what transformers.js expects for a local `wavlm` model):

- `config.json` (model_type `wavlm`, `conv_kernel`, `conv_stride`, `hidden_size` 32)
- `preprocessor_config.json` (Wav2Vec2FeatureExtractor, do_normalize true, 16 kHz, return_attention_mask true)
- `onnx/model.onnx` (opset 14; inputs `input_values` float32 `[batch_size, sequence_length]` and
  `attention_mask` int64 `[batch_size, sequence_length]`; output `last_hidden_state` float32
  `[batch_size, frames, 32]`, frames = the conv output-length formula)

Generated by `scripts/gen/audio_fixtures.py` (deterministic); do not edit by hand.
"""


def export_model(m: WavLMModel, folder: Path, with_mask: bool, config: dict,
                 preprocessor: dict | None = None, external_data: bool = False, opset: int = 14) -> Path:
    import onnx

    (folder / "onnx").mkdir(parents=True, exist_ok=True)
    path = folder / "onnx" / "model.onnx"
    x = torch.zeros(2, 16000)
    x[0].normal_(generator=torch.Generator().manual_seed(1))
    mask = torch.ones(2, 16000, dtype=torch.int64)
    mask[1, 9000:] = 0
    if with_mask:
        module, args, names = m, (x, mask), ["input_values", "attention_mask"]
        axes = {"input_values": {0: "batch_size", 1: "sequence_length"},
                "attention_mask": {0: "batch_size", 1: "sequence_length"}}
    else:
        module, args, names = m, (x,), ["input_values"]  # attention_mask=None: the export has no such input
        axes = {"input_values": {0: "batch_size", 1: "sequence_length"}}
    axes["last_hidden_state"] = {0: "batch_size", 1: "frames"}
    with torch.no_grad():
        torch.onnx.export(module, args, str(path), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=opset, do_constant_folding=True)
    model = onnx.load(str(path))
    onnx.checker.check_model(model)
    got = [i.name for i in model.graph.input]
    if got != names:
        raise RuntimeError(f"ONNX inputs {got}, expected {names}")
    if external_data:  # weights in onnx/model.onnx_data, as large hub exports store them
        onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=0)
    (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (folder / "preprocessor_config.json").write_text(json.dumps(preprocessor or PREPROCESSOR_CONFIG, indent=2) + "\n")
    return path


# ----------------------------------------------------------------------------------------------------------
# References
# ----------------------------------------------------------------------------------------------------------


def run_model(m: WavLMModel, values: np.ndarray, mask: np.ndarray | None) -> torch.Tensor:
    with torch.no_grad():
        iv = torch.from_numpy(values)
        am = torch.from_numpy(mask.astype(np.int64)) if mask is not None else None
        return m(iv, am)


def reference_mode(m, clips, do_normalize, with_mask, batch_size):
    """Batches in index order, padded to the longest, frame mask = sample mask at round(linspace(0, L-1, T'))."""
    embs, masks = [], []
    for b0 in range(0, len(clips), batch_size):
        batch = clips[b0 : b0 + batch_size]
        values, amask = hf_feature_extractor(batch, do_normalize)
        hidden = run_model(m, values, amask if with_mask else None)  # [B, T', H]
        L, T = values.shape[1], hidden.shape[1]
        idx = torch.linspace(0, L - 1, T).round().long()
        fmask = torch.from_numpy(amask)[:, idx].float()  # [B, T']
        emb = (hidden * fmask[..., None]).sum(1) / fmask.sum(1, keepdim=True).clamp(min=1)
        embs.append(emb)
        for i in range(len(batch)):
            masks.append({"batchStart": b0, "paddedLength": int(L), "frames": int(T),
                          "realFrames": int(fmask[i].sum().item())})
    return torch.cat(embs).numpy(), masks


def exact_mode(m, clips, do_normalize, with_mask):
    """Each clip alone: no padding, frames from the conv formula (all of them real), plain mean."""
    embs = []
    for c in clips:
        values, amask = hf_feature_extractor([c], do_normalize)
        hidden = run_model(m, values, amask if with_mask else None)
        assert hidden.shape[1] == conv_out_len(len(c))
        embs.append(hidden.mean(1))
    return torch.cat(embs).numpy()


def pipeline_reference(models: dict, tmp: Path) -> dict:
    specs = clip_specs()
    clips, clip_out = [], []
    for s in specs:
        ints = synth_ints(s["frames"], s["channels"], s["seed"], s["kind"])
        path = tmp / f"{s['id']}.wav"
        write_wav16(path, ints, s["sampleRate"], s["channels"])
        wav, sr, rlen, peak = reference_load(path, TARGET_SR, MAX_SECONDS)
        # torchaudio.load must give int / 32768, channel-major
        raw, _ = torchaudio.load(str(path))
        expect = torch.from_numpy(ints.reshape(-1, s["channels"]).T.astype(np.float32) / 32768)
        assert torch.equal(raw, expect), "torchaudio.load is not int/32768"
        x = wav.numpy().astype(np.float32)
        clips.append(x)
        normed = hf_feature_extractor([x], True)[0][0]
        clip_out.append({
            "id": s["id"],
            "intSum": int(ints.astype(np.int64).sum()),
            "resampledLength": int(rlen),
            "length": int(len(x)),
            "truncated": bool(rlen > len(x)),
            "peak": f9(peak),
            "sum": f9(np.float64(x).sum()),
            "sumAbs": f9(np.abs(np.float64(x)).sum()),
            "head": tolist9(x[:8]),
            "at": [[int(i), f9(x[i])] for i in sorted({len(x) // 3, len(x) // 2, len(x) - 1}) if len(x) > 0],
            "normalized": {
                "head": tolist9(normed[:8]),
                "sum": f9(np.float64(normed).sum()),
                "sumSq": f9((np.float64(normed) ** 2).sum()),
            },
            "frames": conv_out_len(len(x)),
        })
    out = {
        "_comment": "torch reference of the audio pipeline; clips are synthesised (see scripts/gen/audio_fixtures.py)",
        "targetSampleRate": TARGET_SR,
        "maxSeconds": MAX_SECONDS,
        "batchSize": BATCH_SIZE,
        "clips": specs,
        "clipOutputs": clip_out,
        "padded": {},
        "embeddings": {},
    }
    # The padded batch of the feature extractor for the first reference batch (normalise on): spot values.
    values, amask = hf_feature_extractor(clips[:BATCH_SIZE], True)
    out["padded"] = {
        "shape": list(values.shape),
        "maskSums": [int(v) for v in amask.sum(-1)],
        "rows": [
            {"head": tolist9(values[i, :4]), "lastReal": f9(values[i, amask[i].sum() - 1]),
             "sum": f9(np.float64(values[i]).sum())}
            for i in range(values.shape[0])
        ],
    }
    for name, (m, with_mask) in models.items():
        per = {}
        for norm in (True, False):
            key = "normalize" if norm else "raw"
            ref, masks = reference_mode(m, clips, norm, with_mask, BATCH_SIZE)
            ex = exact_mode(m, clips, norm, with_mask)
            per[key] = {"reference": tolist9(ref), "exact": tolist9(ex), "referenceFrameMasks": masks}
        out["embeddings"][name] = per
    return out


RESAMPLE_INPUTS = [
    # (name, rate, frames, seed): lengths not multiples of the reduced rate, plus a few-sample edge case
    ("r8000", 8000, 8123, 31),
    ("r22050", 22050, 22111, 32),
    ("r44100", 44100, 44173, 33),
    ("r48000", 48000, 48017, 34),
    ("r16000", 16000, 16001, 35),
    ("r44100_tiny", 44100, 7, 36),
    ("r48000_burst", 48000, 4801, 37),
]


def resample_reference() -> dict:
    entries = []
    for name, sr, frames, seed in RESAMPLE_INPUTS:
        ints = synth_ints(frames, 1, seed, "noise-saw")
        if name.endswith("burst"):
            ints[:] = 0
            ints[2400] = 32767  # an impulse: the output is the kernel itself
            ints[2401] = -32768
        x = torch.from_numpy(ints.astype(np.float32) / 32768)
        y = torchaudio.functional.resample(x, sr, TARGET_SR)
        write_npy(FIX_REF / "resample" / f"{name}.npy", y.numpy())
        entries.append({"name": name, "sampleRate": sr, "frames": frames, "seed": seed,
                        "impulse": name.endswith("burst"), "outputLength": int(y.shape[0]),
                        "file": f"resample/{name}.npy"})
    return {"_comment": "torchaudio.functional.resample(x, sr, 16000) with defaults; x = synth ints / 32768",
            "torchaudio": torchaudio.__version__, "targetSampleRate": TARGET_SR, "inputs": entries}


def linspace_reference() -> dict:
    """torch.linspace(0, L-1, T).round() against exact rational round-half-even: list only the disagreements."""
    pairs = set()
    for L in list(range(400, 4000, 37)) + list(range(4000, 200000, 1009)):
        pairs.add((L, conv_out_len(L)))
    rng = np.random.default_rng(5)
    for L in rng.integers(400, 400000, size=300):
        pairs.add((int(L), conv_out_len(int(L))))
    for L in range(2, 200, 3):
        for T in (1, 2, 3, 5, 8, 15, 16, 17, 31, 32, 33, 49):
            pairs.add((L, T))
    cases = []
    for L, T in sorted(pairs):
        if T < 1:
            continue
        got = torch.linspace(0, L - 1, T).round().long().numpy()
        diffs = []
        for t in range(T):
            exact = Fraction(t * (L - 1), T - 1) if T > 1 else Fraction(0)
            fl = math.floor(exact)
            frac = exact - fl
            r = fl + (1 if frac > Fraction(1, 2) or (frac == Fraction(1, 2) and fl % 2 == 1) else 0)
            if got[t] != r:
                diffs.append([t, int(got[t])])
        cases.append([L, T, diffs])
    small = []
    for L, T in [(400, 1), (401, 2), (1000, 3), (16000, 49), (64000, 199), (3361, 10)]:
        small.append({"L": L, "T": T, "values": tolist9(torch.linspace(0, L - 1, T).numpy())})
    return {"_comment": "[L, T, [[t, torch index] where torch's float32 linspace rounds differently from exact]]",
            "torch": torch.__version__, "cases": cases, "values": small}


SHARED_FILES = [
    "ravdess/Actor_01/03-01-01-01-01-01-01.wav",
    "ravdess/Actor_02/03-01-05-02-01-01-02.wav",
    "emodb/wav/03a01Fa.wav",
    "emodb/wav/11a04Ac.wav",
    "urdu/Angry/SM1_F12_A012.wav",
    "urdu/Sad",  # first file of the folder, resolved below
]


def shared_reference() -> dict | None:
    data = SHARED / "data"
    if not data.is_dir():
        print(f"  (no {data}: shared-file references skipped)")
        return None
    files = []
    for rel in SHARED_FILES:
        p = data / rel
        if p.is_dir():
            p = sorted(p.glob("*.wav"))[0]
        if not p.exists():
            continue
        with wave.open(str(p), "rb") as w:
            sr, ch, width, n = w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getnframes()
            ints = np.frombuffer(w.readframes(n), dtype="<i2").astype(np.int64)
        assert width == 2
        x, _, rlen, peak = reference_load(p, TARGET_SR, 10.0)
        x = x.numpy()
        mid = (n * ch) // 2
        files.append({
            "path": str(p.relative_to(data)),
            "sampleRate": sr, "channels": ch, "frames": n,
            "intSum": int(ints.sum()), "intSumSq": int((ints * ints).sum()),
            "headInts": ints[:16].tolist(), "midIndex": mid, "midInts": ints[mid : mid + 8].tolist(),
            "tailInts": ints[-4:].tolist(),
            "pipeline": {"length": int(len(x)), "resampledLength": int(rlen), "peak": f9(peak),
                         "sum": f9(np.float64(x).sum()), "sumAbs": f9(np.abs(np.float64(x)).sum()),
                         "head": tolist9(x[:8]), "at": [[int(i), f9(x[i])] for i in (len(x) // 2, len(x) - 1)]},
        })
    return {"_comment": "sample values (Python wave module) and the reference pipeline (torchaudio, 16 kHz, 10 s) "
                        "for files in ../shared/data; paths are relative to that folder",
            "targetSampleRate": TARGET_SR, "maxSeconds": 10.0, "files": files}


FIX_AUDIO = REPO / "fixtures" / "audio"
CODEC_CLIP = {"sampleRate": 22050, "channels": 2, "frames": 11025, "seed": 41}


def codec_fixtures() -> list[Path]:
    """Tiny FLAC / Ogg FLAC / MP3 / Ogg Vorbis files of one synthesised clip (encoders from Debian: flac, lame,
    oggenc). The 24-bit variant uses ints * 256 + (index % 256) so the low byte matters."""
    import shutil
    import subprocess

    need = ["flac", "lame", "oggenc"]
    missing = [t for t in need if shutil.which(t) is None]
    if missing:
        print(f"  (codec fixtures kept as they are: {', '.join(missing)} not installed; apt-get install flac lame "
              f"vorbis-tools)")
        return sorted(FIX_AUDIO.glob("*")) if FIX_AUDIO.exists() else []
    FIX_AUDIO.mkdir(parents=True, exist_ok=True)
    c = CODEC_CLIP
    ints = synth_ints(c["frames"], c["channels"], c["seed"], "noise-saw")
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        w16 = Path(tmp) / "clip16.wav"
        write_wav16(w16, ints, c["sampleRate"], c["channels"])
        i24 = ints.astype(np.int64) * 256 + (np.arange(ints.size) % 256)
        w24 = Path(tmp) / "clip24.wav"
        with wave.open(str(w24), "wb") as w:
            w.setnchannels(c["channels"])
            w.setsampwidth(3)
            w.setframerate(c["sampleRate"])
            w.writeframes(b"".join(int(v).to_bytes(4, "little", signed=True)[:3] for v in i24))
        run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)
        run("flac", "-s", "-f", "--no-padding", "-o", str(FIX_AUDIO / "clip16.flac"), str(w16))
        run("flac", "-s", "-f", "--no-padding", "-o", str(FIX_AUDIO / "clip24.flac"), str(w24))
        run("flac", "-s", "-f", "--ogg", "--serial-number=1", "-o", str(FIX_AUDIO / "clip16.oga"), str(w16))
        run("lame", "--quiet", "-b", "64", str(w16), str(FIX_AUDIO / "clip16.mp3"))
        run("oggenc", "-Q", "-q", "2", "-s", "1", "-o", str(FIX_AUDIO / "clip16.ogg"), str(w16))
    for name in ("clip16.flac", "clip24.flac", "clip16.oga", "clip16.mp3", "clip16.ogg"):
        out.append(FIX_AUDIO / name)
    write_json(FIX_AUDIO / "codecs.json", {
        "_comment": "fixtures/audio/*: one synthesised clip (tests/helpers/audio-synth.ts) in compressed formats",
        **c, "kind": "noise-saw", "files": {
            "clip16.flac": {"codec": "flac", "bits": 16, "lossless": True},
            "clip24.flac": {"codec": "flac", "bits": 24, "lossless": True},
            "clip16.oga": {"codec": "ogg-flac", "bits": 16, "lossless": True},
            "clip16.mp3": {"codec": "mp3", "lossless": False},
            "clip16.ogg": {"codec": "ogg-vorbis", "lossless": False},
        }})
    out.append(FIX_AUDIO / "codecs.json")
    return out


def g711_reference() -> dict:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop
    codes = bytes(range(256))
    alaw = np.frombuffer(audioop.alaw2lin(codes, 2), dtype="<i2").tolist()
    ulaw = np.frombuffer(audioop.ulaw2lin(codes, 2), dtype="<i2").tolist()
    return {"_comment": "G.711 code -> 16-bit linear (Python audioop)", "alaw": alaw, "mulaw": ulaw}


# ----------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", action="store_true", help="write the base-sized random encoder for npm run bench:audio")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)

    if args.bench:
        m = build_model(BASE, seed=7)
        folder = BENCH_MODELS / "wavlm-base-random"
        cfg = BASE.hf_config()
        p = export_model(m, folder, with_mask=False, config=cfg)
        print(f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB)")
        return 0

    m = build_model(TINY, seed=3)
    cfg = TINY.hf_config()
    written = [export_model(m, FIX_MODELS / "tiny-wavlm", with_mask=False, config=cfg),
               export_model(m, FIX_MODELS / "tiny-wavlm-mask", with_mask=True, config=cfg)]
    demo = REPO / "models" / "tiny-wavlm-demo"
    written.append(export_model(m, demo, with_mask=True, config=cfg))
    (demo / "README.md").write_text(DEMO_README)
    models = {"tiny-wavlm": (m, False), "tiny-wavlm-mask": (m, True)}
    with tempfile.TemporaryDirectory() as tmp:
        written.append(write_json(FIX_REF / "pipeline.json", pipeline_reference(models, Path(tmp))))
    written.append(write_json(FIX_REF / "resample.json", resample_reference()))
    written.append(write_json(FIX_REF / "linspace.json", linspace_reference()))
    shared = shared_reference()
    if shared is not None:
        written.append(write_json(FIX_REF / "shared-files.json", shared))
    written.append(write_json(FIX_REF / "g711.json", g711_reference()))
    written += codec_fixtures()
    total = 0
    for p in written + sorted((FIX_REF / "resample").glob("*.npy")):
        size = p.stat().st_size
        total += size
        print(f"  {size / 1024:8.1f} KB  {p.relative_to(REPO)}")
    print(f"  {total / 1024:8.1f} KB  total")
    return 0


if __name__ == "__main__":
    sys.exit(main())
