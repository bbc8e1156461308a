#!/usr/bin/env bash
# The main job on the bundled sample corpus (samples/demo), with the bundled tiny models.
# The models have RANDOM weights: the pipeline runs end to end, but the numbers mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent # cheap, and never runs a stale dist/
emofeat() { node dist/cli/main.js "$@"; }
OUT=${DEMO_OUT:-demo-out}
CSV=samples/demo/index.csv

echo "== emofeat demo: $CSV -> $OUT/ (random-weight tiny models: meaningless numbers, real pipeline)"
echo
echo "== 1. text embeddings (tiny BERT, mean pooling, max 128 tokens)"
emofeat extract text --csv "$CSV" --model models/tiny-bert-demo --offline --out "$OUT/features/text"
echo
echo "== 2. audio embeddings (tiny WavLM; clips at 8-48 kHz, one stereo: decoded, mixed, resampled to 16 kHz)"
emofeat extract audio --csv "$CSV" --model models/tiny-wavlm-demo --offline --out "$OUT/features/audio"
echo
echo "== 3. validate both stores against the index, every row"
emofeat validate "$OUT/features/text" "$OUT/features/audio" --csv "$CSV"
echo
echo "== 4. probes: the reference mlp on text, and the linear probe on [audio; text]"
emofeat train --csv "$CSV" --features text="$OUT/features/text" --head mlp --out "$OUT/runs/text-mlp" --overwrite -q
emofeat train --csv "$CSV" --features audio="$OUT/features/audio",text="$OUT/features/text" --head concat-linear --out "$OUT/runs/concat" --overwrite -q
echo
echo "== 5. the results table"
emofeat runs summarize "$OUT"/runs/*
echo
echo "== 6. one prediction: the run's encoders (same models and preprocessing as its stores) + its head"
emofeat predict --run "$OUT/runs/concat" --audio samples/demo/wav/demo_s1_001.wav --text "I can't believe you did that to me!" --offline
echo
echo "== 7. the report: results, significance, per-run figures, corpus, stores (one self-contained HTML page)"
emofeat report "$OUT"/runs/* --features "$OUT/features/text" "$OUT/features/audio" --csv "$CSV" --baselines reference --out "$OUT/report.html" -q
echo
echo "== done: numpy reads $OUT/features/{text,audio}/embeddings.npy (np.load); ids in ids.txt; provenance in"
echo "   meta.json; per-clip durations in $OUT/features/audio/clips.csv; runs in $OUT/runs/ (metrics.json,"
echo "   epochs.csv, predictions.csv, head.onnx, confusion and training-curve plots)"
echo "   report: $(cd "$OUT" && pwd)/report.html (open it in a browser; it works offline)"
