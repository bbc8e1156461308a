#!/usr/bin/env bash
# Synthesises the demo corpus audio (samples/demo/wav/*.wav) from samples/demo/index.csv with espeak-ng,
# with per-emotion prosody (pitch, speed, amplitude, pitch range) so the clips differ the way the labels say.
# The output is committed: CI and users never need espeak-ng or sox.
#
#   apt-get install -y espeak-ng sox      # once, on the machine that regenerates the clips
#   bash scripts/gen/demo_audio.sh
#
# Most clips are 16 kHz mono 16-bit; a few are written at 8, 22.05, 44.1 (stereo) and 48 kHz so the demo
# exercises resampling and channel mixing. Leading/trailing silence is trimmed to keep the files small.
set -euo pipefail
cd "$(dirname "$0")/../.."
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || { echo "demo_audio.sh: $tool not found (apt-get install -y espeak-ng sox)" >&2; exit 1; }
done

index=samples/demo/index.csv
out=samples/demo/wav
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Voice per session (two "speakers"), prosody per emotion: pitch (0-99), words/min, amplitude (0-200), range.
voice_for() { case "$1" in Session1) echo "en-us+m3" ;; *) echo "en-gb+f3" ;; esac; }
prosody_for() {
  case "$1" in
    angry) echo "62 200 190 95" ;;
    happy) echo "78 195 150 99" ;;
    neutral) echo "50 175 110 40" ;;
    sad) echo "28 135 70 15" ;;
    *) echo "50 160 100 50" ;;
  esac
}
# Clips kept at other formats: id -> "rate channels".
format_for() {
  case "$1" in
    demo_s1_003) echo "22050 1" ;;
    demo_s1_009) echo "44100 2" ;;
    demo_s1_012) echo "8000 1" ;;
    demo_s1_004) echo "48000 1" ;;
    *) echo "16000 1" ;;
  esac
}

n=0
# csv: utter_id,session,audio_path,text,label,split (text may be quoted and contain commas)
python3 - "$index" >"$tmp/rows.tsv" <<'EOF'
import csv, sys
with open(sys.argv[1], newline="", encoding="utf-8") as f:
    for r in csv.DictReader(f):
        print("\t".join([r["utter_id"], r["session"], r["audio_path"], r["text"], r["label"]]))
EOF
while IFS=$'\t' read -r id session audio text label; do
  read -r pitch speed amp range <<<"$(prosody_for "$label")"
  read -r rate channels <<<"$(format_for "$id")"
  espeak-ng -v "$(voice_for "$session")" -p "$pitch" -s "$speed" -a "$amp" -w "$tmp/raw.wav" \
    "<prosody range=\"$range\">$(printf '%s' "$text" | sed 's/&/\&amp;/g; s/</\&lt;/g')</prosody>" -m
  # -D: no dither, so regenerating gives the same bytes; gain -2 leaves headroom for the resampler.
  sox "$tmp/raw.wav" -D -b 16 -c "$channels" "$out/$(basename "$audio")" \
    silence 1 0.02 0.5% reverse silence 1 0.02 0.5% reverse gain -2 rate -v "$rate" pad 0.03 0.03
  n=$((n + 1))
done <"$tmp/rows.tsv"
echo "wrote $n clips to $out ($(du -ch "$out"/*.wav | tail -1 | cut -f1) total)"
