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
echo "== done: numpy reads $OUT/features/{text,audio}/embeddings.npy (np.load); ids in ids.txt; provenance in"
echo "   meta.json; per-clip durations in $OUT/features/audio/clips.csv"
