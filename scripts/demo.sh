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
echo "== 2. validate the store against the index, every row"
emofeat validate "$OUT/features/text" --csv "$CSV"
echo
echo "== done: numpy reads $OUT/features/text/embeddings.npy (np.load); ids in ids.txt; provenance in meta.json"
