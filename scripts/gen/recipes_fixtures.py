"""Reference WAV header values for the corpus-recipe tests.

Reads every WAV under ../shared/data with Python's standard `wave` module (an implementation independent of
src/recipes/wav-header.ts) and writes sample rate, channels, sample width and frame count per file to
fixtures/recipes/shared-wav-headers.json. Only these numbers are committed, never the audio.

    /usr/bin/python3 scripts/gen/recipes_fixtures.py
"""

from __future__ import annotations

import json
import wave
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data").resolve()
OUT = REPO / "fixtures" / "recipes" / "shared-wav-headers.json"


def main() -> None:
    files = sorted(p for p in DATA.rglob("*.wav") if not p.name.startswith("."))
    table = {}
    for p in files:
        with wave.open(str(p), "rb") as w:
            table[p.relative_to(DATA).as_posix()] = {
                "sampleRate": w.getframerate(),
                "channels": w.getnchannels(),
                "sampleWidth": w.getsampwidth(),
                "frames": w.getnframes(),
            }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"source": "../shared/data, read with Python's wave module", "files": table}, indent=1, sort_keys=True) + "\n")
    print(f"{OUT.relative_to(REPO)}: {len(table)} files")


if __name__ == "__main__":
    main()
