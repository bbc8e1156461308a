#!/usr/bin/python3
"""Fixtures for representations beyond the last layer's mean (issue #9, extraction side): every encoder layer,
sequences, pooling modes, float16.

    /usr/bin/python3 scripts/gen/repr_fixtures.py

Writes
  fixtures/models/tiny-roberta/         Hugging Face RobertaModel tree (3 layers, hidden 32), byte-level BPE
                                        tokenizer with no merges (one token per UTF-8 byte; <s>=0 <pad>=1 </s>=2),
                                        ONNX with inputs input_ids/attention_mask (as Optimum exports RoBERTa) and
                                        its weights in an EXTERNAL data file (onnx/model.onnx_data)
  fixtures/models/tiny-wavlm-large/     WavLMModel with the Large layout: feat_extract_norm "layer", conv_bias,
                                        do_stable_layer_norm (pre-LN layers, final encoder LayerNorm), 3 layers,
                                        attention_mask input
  fixtures/reference/repr/text.json + text-*.npy    hidden_states of tiny-bert-30522 (with ../shared's
                                        bert-base-uncased tokenizer) and tiny-roberta
  fixtures/reference/repr/audio.json + audio-*.npy  hidden_states of tiny-wavlm-mask (post-LN) and
                                        tiny-wavlm-large (pre-LN): exact, reference (padded batches of 2) and
                                        seq-reference (each clip padded to max_seconds, batch 1)
  fixtures/reference/repr/float16.json  float32 -> float16 by numpy (round to nearest even, subnormals, overflow)

Every number comes from the torch modules of hf_modules.py with output_hidden_states (not from the ONNX files),
and pooling is computed here with torch: mean = sum(h*m)/sum(m); max = masked max; mean+std = [mean; std] with
std = torch.std over the real positions (unbiased, n-1: s3prl's TemporalStatisticsPooling); cls = h[:, 0].
Sequences are stored [sum T_i, L+1, D] float32 (real positions only), pooled values [N, L+1, D'].
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audio_fixtures as af  # noqa: E402
import common  # noqa: E402
import text_fixtures as tf  # noqa: E402
from hf_modules import RobertaModel, TextConfig, WavLMConfig, WavLMModel, init_text_model, init_wavlm  # noqa: E402

REPO = common.REPO_ROOT
FIX_MODELS = REPO / "fixtures" / "models"
OUT = REPO / "fixtures" / "reference" / "repr"

ROBERTA_SEED = 514
LARGE_SEED = 1024

# ----------------------------------------------------------------------------------------------------------
# Pooling references (torch, independent of the TypeScript code)
# ----------------------------------------------------------------------------------------------------------


def pool_all(h: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
    """h [B, T, D], mask [B, T] (0/1) -> {mean, max, meanstd, cls}: [B, D] (meanstd [B, 2D])."""
    m = mask.to(torch.float32)[..., None]
    mean = (h * m).sum(1) / torch.clamp(m.sum(1), min=1e-9)
    mx = h.masked_fill(m == 0, float("-inf")).amax(1)
    std = torch.stack([torch.std(h[b, mask[b] > 0], dim=0) for b in range(h.shape[0])])
    return {"mean": mean.numpy(), "max": mx.numpy(), "meanstd": torch.cat([mean, std], -1).numpy(), "cls": h[:, 0].numpy()}


def stack_layers(per_layer: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """[layer][mode] -> [mode] of [N, L, D]."""
    return {k: np.stack([p[k] for p in per_layer], axis=1).astype(np.float32) for k in per_layer[0]}


def save_npy(name: str, a: np.ndarray) -> Path:
    path = OUT / name
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.ascontiguousarray(a, dtype="<f4"))
    return path


# ----------------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------------

TEXT_MAX_LEN = 24
TEXT_IDS = [0, 1, 2, 5, 9, 13, 21, 38]  # indexes into text_fixtures.TEXTS: short, long (truncated), non-ASCII


def byte_level_vocab() -> tuple[dict[str, int], dict[int, str]]:
    """GPT-2's bytes_to_unicode: printable bytes map to themselves, the others to chr(256 + n)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_to_char = {b: chr(c) for b, c in zip(bs, cs)}
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for b in range(256):
        vocab[byte_to_char[b]] = len(vocab)
    vocab["<mask>"] = len(vocab)
    return vocab, byte_to_char


def roberta_tokenizer_json(vocab: dict[str, int]) -> dict:
    specials = [("<s>", 0), ("<pad>", 1), ("</s>", 2), ("<unk>", 3), ("<mask>", vocab["<mask>"])]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [{"id": i, "content": t, "single_word": False, "lstrip": t == "<mask>", "rstrip": False,
                          "normalized": False, "special": True} for t, i in specials],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
                           "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": vocab, "merges": []},
    }


ROBERTA_TOKENIZER_CONFIG = {
    "tokenizer_class": "RobertaTokenizer",
    "bos_token": "<s>", "eos_token": "</s>", "sep_token": "</s>", "cls_token": "<s>", "unk_token": "<unk>",
    "pad_token": "<pad>", "mask_token": "<mask>", "add_prefix_space": False, "errors": "replace",
    "model_max_length": 128, "clean_up_tokenization_spaces": True,
}


def roberta_encode(text: str, vocab: dict[str, int], byte_to_char: dict[int, str], max_len: int) -> list[int]:
    """Byte-level BPE without merges: one token per UTF-8 byte, <s> ... </s>, content cut to max_len - 2."""
    ids = [vocab[byte_to_char[b]] for b in text.encode("utf-8")][: max_len - 2]
    return [0] + ids + [2]


def text_reference(name: str, model, encode, pad_id: int, with_token_types: bool) -> dict:
    texts = [tf.TEXTS[i] for i in TEXT_IDS]
    ids = [encode(t) for t in texts]
    B, T = len(ids), TEXT_MAX_LEN
    x = torch.full((B, T), pad_id, dtype=torch.int64)
    mask = torch.zeros((B, T), dtype=torch.int64)
    for i, row in enumerate(ids):
        x[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    with torch.no_grad():
        tt = torch.zeros_like(x) if with_token_types else None
        last, hidden = model(x, mask, tt, output_hidden_states=True)
    assert torch.equal(last, hidden[-1])
    pooled = stack_layers([pool_all(h, mask) for h in hidden])
    frames = np.concatenate([np.stack([h[i, : len(row)].numpy() for h in hidden], axis=1) for i, row in enumerate(ids)])
    files = {"frames": save_npy(f"text-{name}-frames.npy", frames).name}
    for k, v in pooled.items():
        files[k] = save_npy(f"text-{name}-{k}.npy", v).name
    return {"max_len": TEXT_MAX_LEN, "texts": texts, "input_ids": ids, "lengths": [len(r) for r in ids],
            "layers": len(hidden), "hidden_size": int(frames.shape[-1]), "files": files}


def build_roberta() -> tuple[RobertaModel, dict[str, int], dict[int, str], list[Path]]:
    vocab, byte_to_char = byte_level_vocab()
    cfg = TextConfig("roberta", vocab_size=len(vocab), num_hidden_layers=3, max_position_embeddings=130,
                     type_vocab_size=1, layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    model = init_text_model(RobertaModel(cfg), ROBERTA_SEED)
    folder = FIX_MODELS / "tiny-roberta"
    for old in (folder / "onnx").glob("*"):
        old.unlink()
    files = [common.write_plain_json(folder / "config.json", cfg.hf_config()),
             common.write_plain_json(folder / "tokenizer_config.json", ROBERTA_TOKENIZER_CONFIG),
             common.write_plain_json(folder / "tokenizer.json", roberta_tokenizer_json(vocab))]
    import onnx

    path = folder / "onnx" / "model.onnx"
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, len(vocab), (2, 8), generator=g, dtype=torch.int64)
    mask = torch.ones(2, 8, dtype=torch.int64)
    mask[1, 5:] = 0
    ids[1, 5:] = 1
    names = ["input_ids", "attention_mask"]
    dyn = {n: {0: "batch_size", 1: "sequence_length"} for n in names + ["last_hidden_state"]}
    common.export_onnx(model, (ids, mask), path, names, ["last_hidden_state"], dyn, 14)
    m = onnx.load(str(path))
    onnx.save_model(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True, location="model.onnx_data",
                    size_threshold=0)
    onnx.checker.check_model(str(path))
    files += [path, path.parent / "model.onnx_data"]
    return model, vocab, byte_to_char, files


# ----------------------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------------------

AUDIO_MAX_SECONDS = 1.5
AUDIO_BATCH = 2
AUDIO_CLIPS = ["c00_16k_mono", "c01_8k_short", "c02_22k", "c05_silence", "c09_8k_stereo"]

LARGE = WavLMConfig(conv_dim=(16,) * 7, conv_kernel=tuple(af.CONV_KERNEL), conv_stride=tuple(af.CONV_STRIDE),
                    conv_bias=True, feat_extract_norm="layer", do_stable_layer_norm=True, hidden_size=32,
                    num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, num_conv_pos_embeddings=8,
                    num_conv_pos_embedding_groups=4)


def frame_mask(L: int, T: int, amask: np.ndarray) -> torch.Tensor:
    """The reference's frame mask: the sample mask at round(linspace(0, L-1, T)) (torch's float32 linspace)."""
    idx = torch.linspace(0, L - 1, T).round().long()
    return torch.from_numpy(amask)[:, idx]


def run_layers(m: WavLMModel, values: np.ndarray, amask: np.ndarray | None):
    with torch.no_grad():
        am = torch.from_numpy(amask.astype(np.int64)) if amask is not None else None
        last, hidden = m(torch.from_numpy(values), am, output_hidden_states=True)
    assert torch.equal(last, hidden[-1])
    return hidden


def audio_mode(m: WavLMModel, clips: list[np.ndarray], mode: str) -> tuple[dict[str, np.ndarray], np.ndarray, list[int]]:
    """Per clip: pooled per layer and the stored frames ([T_i, L+1, D], real frames only), for one batching mode."""
    pooled, frames, lengths = [], [], []
    if mode == "exact":
        groups = [[i] for i in range(len(clips))]
    elif mode == "reference":
        groups = [list(range(b, min(b + AUDIO_BATCH, len(clips)))) for b in range(0, len(clips), AUDIO_BATCH)]
    else:  # seq-reference: one clip at a time, padded to max_seconds
        groups = [[i] for i in range(len(clips))]
    for grp in groups:
        batch = [clips[i] for i in grp]
        values, amask = af.hf_feature_extractor(batch, True)
        if mode == "seq-reference":
            # padding="max_length": normalised over the real samples, then zero-padded to max_seconds
            pad_to = int(af.TARGET_SR * AUDIO_MAX_SECONDS)
            values = np.pad(values, ((0, 0), (0, pad_to - values.shape[1])))
            amask = np.pad(amask, ((0, 0), (0, pad_to - amask.shape[1])))
        hidden = run_layers(m, values, amask)
        T = hidden[0].shape[1]
        fm = torch.ones((len(grp), T), dtype=torch.int64) if mode == "exact" else frame_mask(values.shape[1], T, amask)
        if mode == "exact":
            assert T == af.conv_out_len(len(clips[grp[0]]))
        per_layer = [pool_all(h, fm) for h in hidden]
        for k, i in enumerate(grp):
            n = int(fm[k].sum())
            assert bool((fm[k, :n] == 1).all()) and bool((fm[k, n:] == 0).all()), "frame mask is not a prefix"
            pooled.append({key: np.stack([p[key][k] for p in per_layer]) for key in per_layer[0] if key != "cls"})
            frames.append(np.stack([h[k, :n].numpy() for h in hidden], axis=1))
            lengths.append(n)
    stacked = {key: np.stack([p[key] for p in pooled]).astype(np.float32) for key in pooled[0]}
    return stacked, np.concatenate(frames).astype(np.float32), lengths


def audio_reference(models: dict[str, WavLMModel], tmp: Path) -> dict:
    specs = [s for s in af.clip_specs() if s["id"] in AUDIO_CLIPS]
    clips = []
    for s in specs:
        ints = af.synth_ints(s["frames"], s["channels"], s["seed"], s["kind"])
        p = tmp / f"{s['id']}.wav"
        af.write_wav16(p, ints, s["sampleRate"], s["channels"])
        wav, _, _, _ = af.reference_load(p, af.TARGET_SR, AUDIO_MAX_SECONDS)
        clips.append(wav.numpy().astype(np.float32))
    out = {"targetSampleRate": af.TARGET_SR, "maxSeconds": AUDIO_MAX_SECONDS, "batchSize": AUDIO_BATCH, "clips": specs,
           "models": {}}
    for name, m in models.items():
        per = {"layers": m.config.num_hidden_layers + 1, "modes": {}}
        for mode in ("exact", "reference", "seq-reference"):
            pooled, frames, lengths = audio_mode(m, clips, mode)
            files = {"frames": save_npy(f"audio-{name}-{mode}-frames.npy", frames).name}
            for k, v in pooled.items():
                files[k] = save_npy(f"audio-{name}-{mode}-{k}.npy", v).name
            per["modes"][mode] = {"lengths": lengths, "files": files}
        out["models"][name] = per
    return out


# ----------------------------------------------------------------------------------------------------------
# float16
# ----------------------------------------------------------------------------------------------------------


def float16_reference() -> dict:
    rng = np.random.default_rng(16)
    vals = np.concatenate([
        rng.standard_normal(200).astype(np.float32) * np.float32(3),
        rng.standard_normal(50).astype(np.float32) * np.float32(1e-5),  # subnormal range of float16
        np.array([0.0, -0.0, 1.0, -1.0, 65504.0, 65519.0, 65520.0, -65520.0, 1e-8, 5.9604645e-08, 2.9802322e-08,
                  2.9802326e-08, 1.0009765625, 1.00048828125, 1.00146484375, 6.1035156e-05, 6.0975552e-05,
                  3.4e38, -3.4e38], dtype=np.float32),
    ]).astype(np.float32)
    half = vals.astype(np.float16)
    return {"_comment": "numpy float32 -> float16 (round to nearest even); bits = the float16 bit patterns",
            "numpy": np.__version__, "values": [float(v) for v in vals],
            "bits": [int(b) for b in half.view(np.uint16)], "float32_bits": [int(b) for b in vals.view(np.uint32)]}


# ----------------------------------------------------------------------------------------------------------


def main() -> int:
    common.seed_everything(0)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.npy"):
        old.unlink()
    written: list[Path] = []

    # tiny-bert-30522: the committed model of text_fixtures.py (same seed, same code)
    shared = tf.load_shared_tokenizer()
    tok = tf.WordPieceTokenizer.from_tokenizer_json(shared)
    bert = tf.build_bert(tf.BertConfig(vocab_size=len(shared["model"]["vocab"])), tf.TINY_SEED)
    roberta, vocab, b2c, files = build_roberta()
    written += files
    text = {
        "_comment": "hidden_states (Hugging Face output_hidden_states) of the tiny text encoders; see scripts/gen/repr_fixtures.py",
        "models": {
            "tiny-bert-30522": text_reference("tiny-bert-30522", bert, lambda t: tok.encode(t, max_length=TEXT_MAX_LEN), 0, True),
            "tiny-roberta": text_reference("tiny-roberta", roberta, lambda t: roberta_encode(t, vocab, b2c, TEXT_MAX_LEN), 1, False),
        },
    }
    written.append(af.write_json(OUT / "text.json", text))

    # audio: tiny-wavlm-mask (post-LN Base) from audio_fixtures.py, tiny-wavlm-large (pre-LN) made here
    base = af.build_model(af.TINY, seed=3)
    large = init_wavlm(WavLMModel(LARGE), LARGE_SEED)
    large_folder = FIX_MODELS / "tiny-wavlm-large"
    written.append(af.export_model(large, large_folder, with_mask=True, config=LARGE.hf_config()))
    with tempfile.TemporaryDirectory() as tmp:
        audio = audio_reference({"tiny-wavlm-mask": base, "tiny-wavlm-large": large}, Path(tmp))
    written.append(af.write_json(OUT / "audio.json", audio))
    written.append(af.write_json(OUT / "float16.json", float16_reference()))
    written += sorted(OUT.glob("*.npy"))
    common.print_summary("Representation fixtures:", written)
    total = sum(p.stat().st_size for p in written)
    assert total < 1_500_000, f"repr fixtures too large: {total} bytes"
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
