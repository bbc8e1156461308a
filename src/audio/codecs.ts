/**
 * Compressed formats through maintained WebAssembly decoders (the wasm-audio-decoders family: libFLAC,
 * mpg123, libvorbis). Each is fed the file in fixed-size pieces and emits decoded blocks as it goes, so
 * memory stays bounded by the block size, not the file length.
 */
import type { ByteReader } from "./bytes.js";
import { AudioInputError } from "./errors.js";

/** Bytes read from the file per decoder call. */
const READ_BYTES = 1 << 20;

export interface RawBlock {
  channelData: Float32Array[];
  sampleRate: number;
}

interface DecodedLike {
  channelData: Float32Array[];
  samplesDecoded: number;
  sampleRate: number;
  errors: { message: string }[];
}

async function* readPieces(fh: ByteReader, start = 0): AsyncGenerator<Uint8Array> {
  let pos = start;
  for (;;) {
    const buf = Buffer.alloc(READ_BYTES);
    const { bytesRead } = await fh.read(buf, 0, READ_BYTES, pos);
    if (bytesRead === 0) return;
    pos += bytesRead;
    yield buf.subarray(0, bytesRead);
  }
}

function checkErrors(file: string, what: string, d: DecodedLike): void {
  if (d.errors && d.errors.length > 0) {
    throw new AudioInputError(file, `corrupt ${what} data (${d.errors[0].message})`);
  }
}

export interface FlacStreamInfo {
  sampleRate: number;
  channels: number;
  bitsPerSample: number;
  /** 0 when the encoder did not know the length. */
  totalSamples: number;
}

/** Parses the mandatory STREAMINFO block that follows the "fLaC" marker. */
export function parseFlacStreamInfo(head: Buffer, file: string): FlacStreamInfo {
  if (head.length < 42 || head.toString("latin1", 0, 4) !== "fLaC" || (head[4] & 0x7f) !== 0) {
    throw new AudioInputError(file, "truncated or garbage FLAC header (no STREAMINFO block)");
  }
  const b = head.subarray(8, 42);
  const sampleRate = (b[10] << 12) | (b[11] << 4) | (b[12] >> 4);
  const channels = ((b[12] >> 1) & 0x07) + 1;
  const bitsPerSample = (((b[12] & 0x01) << 4) | (b[13] >> 4)) + 1;
  const totalSamples = (b[13] & 0x0f) * 2 ** 32 + b.readUInt32BE(14);
  if (sampleRate === 0) throw new AudioInputError(file, "truncated or garbage FLAC header (sample rate 0)");
  return { sampleRate, channels, bitsPerSample, totalSamples };
}

/**
 * FLAC blocks. The decoder scales integers by 1/(2^(bits-1) - 1) (so -32768 comes out as -1.00003);
 * the reference divides by 2^(bits-1). For bit depths up to 24 the float32 value still identifies the integer
 * exactly (the rounding error is below half a step), so we recover it and rescale.
 */
export async function* decodeFlacBlocks(fh: ByteReader, file: string, info: FlacStreamInfo): AsyncGenerator<RawBlock> {
  const { FLACDecoder } = await import("@wasm-audio-decoders/flac");
  const decoder = new FLACDecoder();
  await decoder.ready;
  const full = 2 ** (info.bitsPerSample - 1);
  const libScale = full - 1;
  const fix = (d: DecodedLike): RawBlock => {
    for (const ch of d.channelData) {
      for (let i = 0; i < ch.length; i++) ch[i] = Math.round(ch[i] * libScale) / full;
    }
    return { channelData: d.channelData, sampleRate: d.sampleRate || info.sampleRate };
  };
  let decoded = 0;
  try {
    for await (const piece of readPieces(fh)) {
      const d = (await decoder.decode(piece)) as DecodedLike;
      checkErrors(file, "FLAC", d);
      if (d.samplesDecoded > 0) {
        decoded += d.samplesDecoded;
        yield fix(d);
      }
    }
    const d = (await decoder.flush()) as DecodedLike;
    checkErrors(file, "FLAC", d);
    if (d.samplesDecoded > 0) {
      decoded += d.samplesDecoded;
      yield fix(d);
    }
  } finally {
    decoder.free();
  }
  if (info.totalSamples > 0 && decoded < info.totalSamples) {
    throw new AudioInputError(
      file,
      decoded === 0
        ? `corrupt FLAC data (no decodable frames; STREAMINFO declares ${info.totalSamples} samples)`
        : `truncated FLAC data (STREAMINFO declares ${info.totalSamples} samples, decoded ${decoded})`,
    );
  }
}

/** MPEG audio (layers I-III). mpg123-decoder always returns two channels (mono is duplicated). */
export async function* decodeMp3Blocks(fh: ByteReader, file: string): AsyncGenerator<RawBlock> {
  const { MPEGDecoder } = await import("mpg123-decoder");
  const decoder = new MPEGDecoder();
  await decoder.ready;
  try {
    for await (const piece of readPieces(fh)) {
      const d = decoder.decode(piece) as DecodedLike;
      checkErrors(file, "MP3", d);
      if (d.samplesDecoded > 0) yield { channelData: d.channelData, sampleRate: d.sampleRate };
    }
  } finally {
    decoder.free();
  }
}

export async function* decodeOggVorbisBlocks(fh: ByteReader, file: string): AsyncGenerator<RawBlock> {
  const { OggVorbisDecoder } = await import("@wasm-audio-decoders/ogg-vorbis");
  const decoder = new OggVorbisDecoder();
  await decoder.ready;
  try {
    for await (const piece of readPieces(fh)) {
      const d = (await decoder.decode(piece)) as DecodedLike;
      checkErrors(file, "Ogg Vorbis", d);
      if (d.samplesDecoded > 0) yield { channelData: d.channelData, sampleRate: d.sampleRate };
    }
    const d = (await decoder.flush()) as DecodedLike;
    checkErrors(file, "Ogg Vorbis", d);
    if (d.samplesDecoded > 0) yield { channelData: d.channelData, sampleRate: d.sampleRate };
  } finally {
    decoder.free();
  }
}

/** Ogg-encapsulated FLAC goes through the FLAC decoder, which detects the Ogg framing itself. */
export async function* decodeOggFlacBlocks(fh: ByteReader, file: string): AsyncGenerator<RawBlock> {
  const { FLACDecoder } = await import("@wasm-audio-decoders/flac");
  const decoder = new FLACDecoder();
  await decoder.ready;
  try {
    for await (const piece of readPieces(fh)) {
      const d = (await decoder.decode(piece)) as DecodedLike & { bitDepth?: number };
      checkErrors(file, "Ogg FLAC", d);
      if (d.samplesDecoded > 0) yield { channelData: rescaleFlac(d), sampleRate: d.sampleRate };
    }
    const d = (await decoder.flush()) as DecodedLike & { bitDepth?: number };
    checkErrors(file, "Ogg FLAC", d);
    if (d.samplesDecoded > 0) yield { channelData: rescaleFlac(d), sampleRate: d.sampleRate };
  } finally {
    decoder.free();
  }
}

function rescaleFlac(d: DecodedLike & { bitDepth?: number }): Float32Array[] {
  const bits = d.bitDepth ?? 16;
  const full = 2 ** (bits - 1);
  for (const ch of d.channelData) for (let i = 0; i < ch.length; i++) ch[i] = Math.round(ch[i] * (full - 1)) / full;
  return d.channelData;
}

/** What sort of Ogg stream this is, from the first packet of the first page. */
export function oggCodec(head: Buffer): "vorbis" | "flac" | "opus" | "speex" | "unknown" {
  if (head.length < 28 || head.toString("latin1", 0, 4) !== "OggS") return "unknown";
  const segments = head[26];
  const packet = head.subarray(27 + segments);
  if (packet.length >= 7 && packet[0] === 0x01 && packet.toString("latin1", 1, 7) === "vorbis") return "vorbis";
  if (packet.length >= 5 && packet[0] === 0x7f && packet.toString("latin1", 1, 5) === "FLAC") return "flac";
  if (packet.length >= 8 && packet.toString("latin1", 0, 8) === "OpusHead") return "opus";
  if (packet.length >= 8 && packet.toString("latin1", 0, 8) === "Speex   ") return "speex";
  return "unknown";
}

/** An MPEG audio file starts with an ID3v2 tag or a frame sync (11 set bits) with a valid layer. */
export function looksLikeMp3(head: Buffer): boolean {
  if (head.length >= 3 && head.toString("latin1", 0, 3) === "ID3") return true;
  return head.length >= 2 && head[0] === 0xff && (head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0;
}
