#!/usr/bin/env bash
# The main job on the bundled sample corpus (samples/demo), with the bundled tiny models.
# The models have RANDOM weights: the pipeline runs end to end, but their numbers mean nothing. The weight-free
# log-mel baseline (builtin:fbank) needs no weights at all, so its probe gives a number that means something.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent # cheap, and never runs a stale dist/
emofeat() { node dist/cli/main.js "$@"; }
OUT=${DEMO_OUT:-demo-out}
CSV=samples/demo/index.csv

echo "== emofeat demo: $CSV -> $OUT/ (random-weight tiny models: meaningless numbers, real pipeline;"
echo "   the weight-free builtin:fbank baseline: numbers that mean something)"
echo
echo "== 1. text embeddings (tiny BERT, mean pooling, max 128 tokens)"
emofeat extract text --csv "$CSV" --model models/tiny-bert-demo --offline --out "$OUT/features/text"
echo
echo "== 2. audio embeddings (tiny WavLM; clips at 8-48 kHz, one stereo: decoded, mixed, resampled to 16 kHz)"
emofeat extract audio --csv "$CSV" --model models/tiny-wavlm-demo --offline --out "$OUT/features/audio"
echo
echo "== 2b. every layer of the same encoder (Hugging Face hidden_states 0..L: a store [N, L, D])"
emofeat extract audio --csv "$CSV" --model models/tiny-wavlm-demo --offline --layers all --out "$OUT/features/audio-layers" -q
echo
echo "== 3. weight-free baseline: Kaldi log-mel filterbank (80 bins, 25 ms / 10 ms, as torchaudio's kaldi.fbank) of the same clips"
emofeat extract audio --csv "$CSV" --model builtin:fbank --out "$OUT/features/fbank"
echo
echo "== 4. validate the four stores against the index, every row"
emofeat validate "$OUT/features/text" "$OUT/features/audio" "$OUT/features/audio-layers" "$OUT/features/fbank" --csv "$CSV"
echo
echo "== 5. probes: the reference mlp on text, the linear probe on [audio; text] (random weights), and the mlp on"
echo "   the fbank baseline and on the random WavLM, trained on one voice and tested on the other (2 sessions, 5 seeds)"
emofeat train --csv "$CSV" --features text="$OUT/features/text" --head mlp --out "$OUT/runs/text-mlp" --overwrite -q
emofeat train --csv "$CSV" --features audio="$OUT/features/audio",text="$OUT/features/text" --head concat-linear --out "$OUT/runs/concat" --overwrite -q
emofeat train --csv "$CSV" --features audio="$OUT/features/fbank" --head mlp --folds session --seeds 5 --out "$OUT/runs/fbank-mlp-loso" --overwrite -q
emofeat train --csv "$CSV" --features audio="$OUT/features/audio" --head mlp --folds session --seeds 5 --out "$OUT/runs/wavlm-mlp-loso" --overwrite -q
echo
echo "== 5b. fusion and layers: the beta gate on (audio, text) (w * LN(a) + (1 - w) * LN(t), beta = mean(w) per"
echo "   utterance), and the SUPERB weighted sum of the WavLM layers (learned layer weights)"
emofeat train --csv "$CSV" --features audio="$OUT/features/audio",text="$OUT/features/text" --head beta-gate --epochs 10 --out "$OUT/runs/beta-gate" --overwrite -q
emofeat train --csv "$CSV" --features audio="$OUT/features/audio-layers" --head weighted-layers --epochs 20 --out "$OUT/runs/wavlm-layers" --overwrite -q
echo
echo "== 6. the results table"
emofeat runs summarize "$OUT"/runs/*
echo "   input tiny-*-demo: RANDOM weights, the numbers are meaningless (they only show the pipeline runs)."
echo "   input builtin:fbank: the weight-free log-mel baseline (s3prl's FBANK), a real number (24 clips, so a rough one); chance is 25% (4 classes)."
echo
echo "== 7. one prediction: the run's encoders (same models and preprocessing as its stores) + its head"
emofeat predict --run "$OUT/runs/concat" --audio samples/demo/wav/demo_s1_001.wav --text "I can't believe you did that to me!" --offline
echo "   the same with the beta-gate run (its gate: beta near 1 leans on audio, near 0 on text):"
emofeat predict --run "$OUT/runs/beta-gate" --audio samples/demo/wav/demo_s1_001.wav --text "I can't believe you did that to me!" --offline
echo
echo "== 8. the report: results, significance, per-run figures, corpus, stores (one self-contained HTML page)"
emofeat report "$OUT"/runs/* --features "$OUT/features/text" "$OUT/features/audio" "$OUT/features/fbank" --csv "$CSV" --baselines reference --out "$OUT/report.html" -q
echo
echo "== done: numpy reads $OUT/features/{text,audio,fbank}/embeddings.npy (np.load); ids in ids.txt; provenance in"
echo "   meta.json; per-clip durations in $OUT/features/audio/clips.csv; runs in $OUT/runs/ (metrics.json,"
echo "   epochs.csv, predictions.csv, head.onnx, confusion and training-curve plots)"
echo "   report: $(cd "$OUT" && pwd)/report.html (open it in a browser; it works offline)"
