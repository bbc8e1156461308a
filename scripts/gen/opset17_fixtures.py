#!/usr/bin/python3
"""The two tiny WavLM test models of the layer tests, exported again with opset 17 (issue #9 review).

    /usr/bin/python3 scripts/gen/opset17_fixtures.py

From opset 17 on, torch.onnx (and Optimum, which newer hub exports use) writes every LayerNorm as ONE
`LayerNormalization` node (`/encoder/layers.N/final_layer_norm/LayerNormalization`) instead of the
ReduceMean/Sub/Pow/.../Add chain of opset 14, so the layer boundaries are other tensors. The weights are the
same as those of the opset-14 files (same configs and seeds), so tests/repr-layers.test.ts holds these exports
to the torch hidden states already in fixtures/reference/repr/ (no new reference arrays).

Writes
  fixtures/models/tiny-wavlm-opset17/        = tiny-wavlm-mask (post-LN Base layout, 2 layers, attention_mask input)
  fixtures/models/tiny-wavlm-large-opset17/  = tiny-wavlm-large (pre-LN Large layout, 3 layers, attention_mask input)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import audio_fixtures as af  # noqa: E402
import repr_fixtures as rf  # noqa: E402
from hf_modules import WavLMModel, init_wavlm  # noqa: E402

OPSET = 17


def export(m: WavLMModel, folder: Path, config: dict) -> list[Path]:
    import onnx

    path = af.export_model(m, folder, with_mask=True, config=config, opset=OPSET)
    # The point of these files: the layer LayerNorms are single LayerNormalization nodes.
    model = onnx.load(str(path))
    if not any(n.op_type == "LayerNormalization" and "/encoder/" in n.name for n in model.graph.node):
        raise RuntimeError(f"{path}: no LayerNormalization node in the encoder (opset {OPSET})")
    return [path, folder / "config.json", folder / "preprocessor_config.json"]


def main() -> int:
    written: list[Path] = []
    base = af.build_model(af.TINY, seed=3)  # = tiny-wavlm-mask (audio_fixtures.py)
    written += export(base, af.FIX_MODELS / "tiny-wavlm-opset17", af.TINY.hf_config())
    large = init_wavlm(WavLMModel(rf.LARGE), rf.LARGE_SEED)  # = tiny-wavlm-large (repr_fixtures.py)
    written += export(large, af.FIX_MODELS / "tiny-wavlm-large-opset17", rf.LARGE.hf_config())
    for p in written:
        print(f"{p.relative_to(af.REPO)}: {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
