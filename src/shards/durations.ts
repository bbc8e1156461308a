/**
 * Seconds of audio per index row, for dividing audio work into shards and for cluster time estimates: the
 * index's `duration` column when it has one (the recipes write it from the WAV headers), otherwise the WAV
 * header itself, read as the recipes read it (no samples decoded). Rows whose duration cannot be known this
 * way (a FLAC or MP3 file, a missing file) get null.
 */
import type { Utterance } from "../manifest/index-csv.js";
import { mapLimit, readWavHeader } from "../recipes/wav-header.js";

export async function clipSeconds(utterances: readonly Utterance[]): Promise<(number | null)[]> {
  return mapLimit(utterances, 16, async (u) => {
    const col = u.extra.duration;
    if (col !== undefined && col.trim() !== "") {
      const v = Number(col);
      if (Number.isFinite(v) && v >= 0) return v;
    }
    if (!u.audioFile) return null;
    try {
      return (await readWavHeader(u.audioFile)).duration;
    } catch {
      return null;
    }
  });
}

/**
 * Audio work per batch: the seconds the encoder sees, min(duration, maxSeconds) per clip. A clip of unknown
 * duration counts as the mean of the known ones (maxSeconds when none is known).
 */
export function audioBatchCosts(batches: readonly (readonly number[])[], seconds: readonly (number | null)[], maxSeconds: number): number[] {
  const kept = seconds.map((s) => (s === null ? null : Math.min(s, maxSeconds)));
  const known = kept.filter((s): s is number => s !== null);
  const fill = known.length > 0 ? known.reduce((a, b) => a + b, 0) / known.length : maxSeconds;
  return batches.map((b) => b.reduce((sum, p) => sum + (kept[p] ?? fill), 0));
}
