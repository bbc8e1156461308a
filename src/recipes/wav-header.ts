/**
 * Duration of a WAV file from its RIFF header alone, without decoding samples: the recipes need
 * `data` bytes / block size / sample rate for the statistics table, for thousands of files. The chunk walk
 * is the audio decoder's (audio/wav.ts), told to count what a truncated file holds instead of refusing it,
 * and to accept any codec (a duration needs no decoding).
 */
import { open } from "node:fs/promises";
import { AudioInputError } from "../audio/errors.js";
import { walkWavChunks } from "../audio/wav.js";

export interface WavHeader {
  /** WAVE format tag (1 PCM, 3 IEEE float, ...; the sub-format for WAVE_FORMAT_EXTENSIBLE). */
  formatTag: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes per sample frame (all channels). */
  blockAlign: number;
  /** Size of the sample data in bytes (clipped to what the file holds). */
  dataBytes: number;
  frames: number;
  /** Seconds: frames / sampleRate. */
  duration: number;
}

/** A file whose header cannot give a duration; the message says why. */
export class WavHeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WavHeaderError";
  }
}

/** Reads the RIFF chunk list up to the `data` chunk. Throws WavHeaderError for anything that is not a usable WAV. */
export async function readWavHeader(file: string): Promise<WavHeader> {
  const fh = await open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(40);
    const { bytesRead } = await fh.read(head, 0, 40, 0);
    // Corpora distributed through Git LFS (CREMA-D) leave small text pointers behind when cloned without it.
    if (head.subarray(0, bytesRead).toString("latin1").startsWith("version https://git-lfs"))
      throw new WavHeaderError("a Git LFS pointer file, not audio (fetch the corpus with git-lfs)");
    try {
      const { fmt, data } = await walkWavChunks(fh, size, file, { truncatedData: "clip" });
      const frames = Math.floor(data.bytes / fmt.blockAlign);
      return {
        formatTag: fmt.formatTag,
        channels: fmt.channels,
        sampleRate: fmt.sampleRate,
        bitsPerSample: fmt.bitsPerSample,
        blockAlign: fmt.blockAlign,
        dataBytes: data.bytes,
        frames,
        duration: frames / fmt.sampleRate,
      };
    } catch (err) {
      if (err instanceof AudioInputError) throw new WavHeaderError(err.reason);
      throw err;
    }
  } finally {
    await fh.close();
  }
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the input order in the result. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
