/**
 * Audio files -> float32 samples in [-1, 1], streamed in blocks so that memory never depends on file length.
 * The format is recognised by its leading bytes, not the file name. WAV is read by our own streaming reader
 * (wav.ts explains why); FLAC, MP3 and Ogg Vorbis/FLAC by maintained wasm decoders (codecs.ts).
 */
import { open, stat } from "node:fs/promises";
import { BufferReader, type ByteReader } from "./bytes.js";
import { AudioInputError } from "./errors.js";
import { describeWav, looksLikeWav, readWavBlocks, readWavHeader } from "./wav.js";
import {
  decodeFlacBlocks,
  decodeMp3Blocks,
  decodeOggFlacBlocks,
  decodeOggVorbisBlocks,
  looksLikeMp3,
  oggCodec,
  parseFlacStreamInfo,
  type RawBlock,
} from "./codecs.js";

/** "pcm": samples handed over already decoded (raw PCM from a client), see `pcmStream`. */
export type AudioCodec = "wav" | "flac" | "mp3" | "ogg-vorbis" | "ogg-flac" | "pcm";

export interface AudioInfo {
  file: string;
  codec: AudioCodec;
  /** Human-readable encoding, e.g. "WAV PCM 24-bit (extensible)". */
  description: string;
  sampleRate: number;
  channels: number;
  /** Frames (samples per channel) when the header says so; null when only decoding tells (MP3, Ogg). */
  frames: number | null;
}

/** An open audio file whose samples are read block by block (one Float32Array per channel per block). */
export interface AudioStream extends AudioInfo {
  blocks(): AsyncGenerator<Float32Array[]>;
  close(): Promise<void>;
}

async function openFile(file: string): Promise<{ fh: ByteReader; size: number }> {
  let st;
  try {
    st = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw new AudioInputError(file, "file not found", { cause: err });
    if (code === "EACCES") throw new AudioInputError(file, "permission denied", { cause: err });
    throw new AudioInputError(file, `cannot read file (${code ?? (err as Error).message})`, { cause: err });
  }
  if (st.isDirectory()) throw new AudioInputError(file, "is a directory");
  if (!st.isFile()) throw new AudioInputError(file, "not a regular file");
  if (st.size === 0) throw new AudioInputError(file, "empty file (0 bytes)");
  try {
    return { fh: await open(file, "r"), size: st.size };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AudioInputError(file, code === "EACCES" ? "permission denied" : `cannot read file (${code})`, { cause: err });
  }
}

/**
 * Wraps a codec's blocks with the checks every format needs: no NaN/Inf, a steady sample rate and channel
 * count, and at least one sample in total.
 */
async function* checkedBlocks(
  file: string,
  info: { sampleRate: number; channels: number },
  raw: AsyncGenerator<RawBlock>,
  fh: ByteReader,
  checkFinite = true,
): AsyncGenerator<Float32Array[]> {
  let frames = 0;
  try {
    for await (const b of raw) {
      if (b.sampleRate !== info.sampleRate) {
        throw new AudioInputError(file, `sample rate changes mid-stream (${info.sampleRate} Hz -> ${b.sampleRate} Hz)`);
      }
      if (b.channelData.length !== info.channels) {
        throw new AudioInputError(file, `channel count changes mid-stream (${info.channels} -> ${b.channelData.length})`);
      }
      const n = b.channelData[0].length;
      if (checkFinite) for (const ch of b.channelData) {
        for (let i = 0; i < n; i++) {
          if (!Number.isFinite(ch[i])) {
            const at = frames + i;
            throw new AudioInputError(file, `NaN/Inf samples (first at frame ${at}, ${(at / info.sampleRate).toFixed(3)} s)`);
          }
        }
      }
      frames += n;
      yield b.channelData;
    }
  } finally {
    await fh.close().catch(() => undefined);
  }
  if (frames === 0) throw new AudioInputError(file, "zero samples");
}

/** Pulls blocks until the first non-empty one, to learn the rate and channel count of formats without a header. */
async function peekFirst(file: string, raw: AsyncGenerator<RawBlock>): Promise<{ first: RawBlock | null; rest: AsyncGenerator<RawBlock> }> {
  const r = await raw.next();
  if (r.done) return { first: null, rest: raw };
  return { first: r.value, rest: raw };
}

async function* prepend(first: RawBlock, rest: AsyncGenerator<RawBlock>): AsyncGenerator<RawBlock> {
  yield first;
  yield* rest;
}

/** Opens `file` and reads its header; the samples are read when `blocks()` is iterated. */
export async function openAudio(file: string): Promise<AudioStream> {
  const { fh, size } = await openFile(file);
  return openReader(fh, size, file);
}

/**
 * Audio from encoded bytes held in memory (an upload: WAV, FLAC, MP3, Ogg), through the same decoders and checks
 * as files. `name` stands for the file in messages.
 */
export async function openAudioBytes(bytes: Uint8Array, name: string): Promise<AudioStream> {
  if (bytes.length === 0) throw new AudioInputError(name, "empty file (0 bytes)");
  return openReader(new BufferReader(bytes), bytes.length, name);
}

/**
 * Samples that are already decoded (raw PCM sent by a client: one Float32Array per channel, all of one length)
 * as a stream, so that they are mixed, resampled, normalised and cut exactly as a decoded file would be.
 */
export function pcmStream(channelData: Float32Array[], sampleRate: number, name: string): AudioStream {
  if (!Number.isInteger(sampleRate) || sampleRate <= 0) throw new AudioInputError(name, `invalid sample rate ${sampleRate}`);
  if (channelData.length === 0 || channelData[0].length === 0) throw new AudioInputError(name, "zero samples");
  if (channelData.some((c) => c.length !== channelData[0].length)) throw new AudioInputError(name, "channels of different lengths");
  const info = { sampleRate, channels: channelData.length };
  const raw = (async function* () {
    yield { channelData, sampleRate };
  })();
  const none: ByteReader = { read: async () => ({ bytesRead: 0 }), close: async () => {} };
  return {
    file: name,
    codec: "pcm",
    description: `raw PCM, ${channelData.length} channel(s)`,
    ...info,
    frames: channelData[0].length,
    blocks: () => checkedBlocks(name, info, raw, none),
    close: async () => {},
  };
}

async function openReader(fh: ByteReader, size: number, file: string): Promise<AudioStream> {
  let ok = false;
  try {
    const headBuf = Buffer.alloc(Math.min(size, 4096));
    await fh.read(headBuf, 0, headBuf.length, 0);
    const head = headBuf;
    let stream: AudioStream;

    if (looksLikeWav(head) || head.toString("latin1", 0, 4) === "RIFF") {
      const fmt = await readWavHeader(fh, size, file);
      if (fmt.frames === 0) throw new AudioInputError(file, "zero samples");
      const info = { sampleRate: fmt.sampleRate, channels: fmt.channels };
      const raw = (async function* () {
        for await (const planes of readWavBlocks(fh, fmt, file)) yield { channelData: planes, sampleRate: fmt.sampleRate };
      })();
      stream = {
        file,
        codec: "wav",
        description: describeWav(fmt),
        ...info,
        frames: fmt.frames,
        // readWavBlocks checks float data for NaN/Inf itself; integer PCM cannot hold them.
        blocks: () => checkedBlocks(file, info, raw, fh, false),
        close: () => fh.close().catch(() => undefined),
      };
    } else if (head.toString("latin1", 0, 4) === "fLaC") {
      const si = parseFlacStreamInfo(head, file);
      const info = { sampleRate: si.sampleRate, channels: si.channels };
      stream = {
        file,
        codec: "flac",
        description: `FLAC ${si.bitsPerSample}-bit`,
        ...info,
        frames: si.totalSamples > 0 ? si.totalSamples : null,
        blocks: () => checkedBlocks(file, info, decodeFlacBlocks(fh, file, si), fh),
        close: () => fh.close().catch(() => undefined),
      };
    } else if (head.toString("latin1", 0, 4) === "OggS" || looksLikeMp3(head)) {
      const isOgg = head.toString("latin1", 0, 4) === "OggS";
      let codec: AudioCodec;
      let raw: AsyncGenerator<RawBlock>;
      if (isOgg) {
        const kind = oggCodec(head);
        if (kind === "vorbis") {
          codec = "ogg-vorbis";
          raw = decodeOggVorbisBlocks(fh, file);
        } else if (kind === "flac") {
          codec = "ogg-flac";
          raw = decodeOggFlacBlocks(fh, file);
        } else {
          throw new AudioInputError(file, `unsupported codec (Ogg ${kind === "unknown" ? "stream of unknown type" : kind})`);
        }
      } else {
        codec = "mp3";
        raw = decodeMp3Blocks(fh, file);
      }
      const { first, rest } = await peekFirst(file, raw);
      if (!first) throw new AudioInputError(file, "zero samples");
      const info = { sampleRate: first.sampleRate, channels: first.channelData.length };
      const description = codec === "mp3" ? "MPEG audio" : codec === "ogg-vorbis" ? "Ogg Vorbis" : "Ogg FLAC";
      stream = {
        file,
        codec,
        description,
        ...info,
        frames: null,
        blocks: () => checkedBlocks(file, info, prepend(first, rest), fh),
        close: () => fh.close().catch(() => undefined),
      };
    } else {
      throw new AudioInputError(file, "unrecognised file format (not WAV, FLAC, MP3 or Ogg)");
    }
    ok = true;
    return stream;
  } finally {
    if (!ok) await fh.close().catch(() => undefined);
  }
}

/**
 * Mean over channels, accumulated in float32 in channel order like torch's `wav.mean(dim=0)` on a [C, T]
 * float32 tensor. A single channel is returned as is.
 */
export function mixToMono(planes: Float32Array[]): Float32Array {
  if (planes.length === 1) return planes[0];
  const n = planes[0].length;
  const C = planes.length;
  const out = new Float32Array(n);
  if (C === 2) {
    const [a, b] = planes;
    for (let i = 0; i < n; i++) out[i] = Math.fround(a[i] + b[i]) / 2;
    return out;
  }
  for (let i = 0; i < n; i++) {
    let acc = planes[0][i];
    for (let c = 1; c < C; c++) acc = Math.fround(acc + planes[c][i]);
    out[i] = acc / C;
  }
  return out;
}

export interface DecodedAudio extends AudioInfo {
  /** One Float32Array per channel. */
  channelData: Float32Array[];
  /** Frames actually decoded. */
  length: number;
}

/**
 * Decodes a whole file into memory. Meant for short clips and tests; extraction streams through
 * `openAudio` instead (see clip.ts) so that long files do not need memory proportional to their length.
 */
export async function decodeAudioFile(file: string): Promise<DecodedAudio> {
  const s = await openAudio(file);
  const parts: Float32Array[][] = [];
  let length = 0;
  for await (const planes of s.blocks()) {
    parts.push(planes);
    length += planes[0].length;
  }
  const channelData = Array.from({ length: s.channels }, (_, c) => {
    const out = new Float32Array(length);
    let o = 0;
    for (const p of parts) {
      out.set(p[c], o);
      o += p[c].length;
    }
    return out;
  });
  const { blocks: _b, close: _c, ...info } = s;
  return { ...info, frames: info.frames ?? length, channelData, length };
}
