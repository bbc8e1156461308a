/**
 * Duration of a WAV file from its RIFF header alone, without decoding samples.
 *
 * Hand-written on purpose: the recipes only need `data` bytes / block size / sample rate for the statistics
 * table, for thousands of files, and reading a few hundred header bytes per file is far cheaper than a full
 * decode. Decoding (and every check the audio extractor needs) belongs to the audio module.
 */
import { open, type FileHandle } from "node:fs/promises";

export interface WavHeader {
  /** WAVE format tag (1 PCM, 3 IEEE float, 0xFFFE extensible, ...). */
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

async function readAt(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  const { bytesRead } = await fh.read(buf, 0, length, position);
  return buf.subarray(0, bytesRead);
}

/** Reads the RIFF chunk list up to the `data` chunk. Throws WavHeaderError for anything that is not a usable WAV. */
export async function readWavHeader(file: string): Promise<WavHeader> {
  const fh = await open(file, "r");
  try {
    const size = (await fh.stat()).size;
    const head = await readAt(fh, 0, 12);
    if (head.length < 12) throw new WavHeaderError(`too short for a WAV header (${size} bytes)`);
    const riff = head.toString("latin1", 0, 4);
    // Corpora distributed through Git LFS (CREMA-D) leave small text pointers behind when cloned without it.
    if (riff === "vers" && (await readAt(fh, 0, 40)).toString("latin1").startsWith("version https://git-lfs"))
      throw new WavHeaderError("a Git LFS pointer file, not audio (fetch the corpus with git-lfs)");
    if (riff !== "RIFF") {
      throw new WavHeaderError(
        riff === "RF64" ? "RF64 (64-bit WAV) is not supported" : `not a RIFF/WAVE file (starts with ${JSON.stringify(riff)})`,
      );
    }
    if (head.toString("latin1", 8, 12) !== "WAVE") throw new WavHeaderError("RIFF file but not WAVE");

    let fmt: Buffer | null = null;
    let pos = 12;
    while (pos + 8 <= size) {
      const ch = await readAt(fh, pos, 8);
      if (ch.length < 8) break;
      const id = ch.toString("latin1", 0, 4);
      const chunkSize = ch.readUInt32LE(4);
      const body = pos + 8;
      if (id === "fmt ") {
        if (chunkSize < 16) throw new WavHeaderError(`fmt chunk too short (${chunkSize} bytes)`);
        fmt = await readAt(fh, body, 16);
        if (fmt.length < 16) throw new WavHeaderError("file ends inside the fmt chunk");
      } else if (id === "data") {
        if (!fmt) throw new WavHeaderError("data chunk before the fmt chunk");
        const formatTag = fmt.readUInt16LE(0);
        const channels = fmt.readUInt16LE(2);
        const sampleRate = fmt.readUInt32LE(4);
        const blockAlign = fmt.readUInt16LE(12);
        const bitsPerSample = fmt.readUInt16LE(14);
        if (channels === 0 || sampleRate === 0 || blockAlign === 0)
          throw new WavHeaderError(`invalid fmt chunk (channels ${channels}, rate ${sampleRate}, block ${blockAlign})`);
        // Streaming writers leave 0 or 0xFFFFFFFF here; a truncated file holds less than announced.
        const available = size - body;
        const dataBytes = chunkSize === 0 || chunkSize === 0xffffffff || chunkSize > available ? available : chunkSize;
        const frames = Math.floor(dataBytes / blockAlign);
        return { formatTag, channels, sampleRate, bitsPerSample, blockAlign, dataBytes, frames, duration: frames / sampleRate };
      }
      pos = body + chunkSize + (chunkSize % 2); // chunks are padded to an even size
    }
    throw new WavHeaderError(fmt ? "no data chunk" : "no fmt chunk");
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
