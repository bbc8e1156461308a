/**
 * Test-only audio helpers: the integer test signal of scripts/gen/audio_fixtures.py (synth_ints), reproduced
 * bit for bit, and a WAV writer for every encoding the decoder must read. The writer builds the bytes by hand
 * from integer sample values, so tests compare the decoder against values they chose, not against itself.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

/** Interleaved int16 samples [frames * channels], exactly as synth_ints in the Python generator. */
export function synthInts(frames: number, channels: number, seed: number, kind: string): Int16Array {
  const out = new Int16Array(frames * channels);
  if (kind === "zero") return out;
  if (kind !== "noise-saw") throw new Error(kind);
  let state = seed >>> 0;
  let env = 0;
  const periods = Array.from({ length: channels }, (_, c) => 37 + 13 * c + (seed % 50));
  const lcg = (s: number) => (Math.imul(1664525, s) + 1013904223) >>> 0;
  let o = 0;
  for (let n = 0; n < frames; n++) {
    if (n % 800 === 0) {
      state = lcg(state);
      env = state >>> 24;
    }
    for (let c = 0; c < channels; c++) {
      state = lcg(state);
      const noise = (state >>> 16) - 32768;
      const saw = (Math.floor((n * 65536) / periods[c]) % 65536) - 32768;
      out[o++] = Math.floor(((saw + Math.floor(noise / 2)) * env) / 512);
    }
  }
  return out;
}

export interface WavSpec {
  sampleRate: number;
  channels: number;
  /** fmt format tag: 1 PCM, 3 float, 6 A-law, 7 mu-law, or anything for unsupported-codec tests. */
  formatTag: number;
  /** Bytes per sample in the data chunk. */
  bytesPerSample: number;
  /** Write WAVE_FORMAT_EXTENSIBLE with `formatTag` as the sub-format. */
  extensible?: boolean;
  /** Chunks to put between fmt and data (id -> body), e.g. LIST, an odd-sized one. */
  extraChunks?: [string, Buffer][];
  /** Omit the pad byte after odd-sized chunks (a common writer bug). */
  omitPad?: boolean;
  bitsPerSampleField?: number;
}

function chunk(id: string, body: Buffer, omitPad = false): Buffer {
  const head = Buffer.alloc(8);
  head.write(id, 0, "latin1");
  head.writeUInt32LE(body.length, 4);
  const pad = body.length % 2 === 1 && !omitPad ? Buffer.alloc(1) : Buffer.alloc(0);
  return Buffer.concat([head, body, pad]);
}

/** A WAV file around raw interleaved sample bytes. */
export function wavBytes(spec: WavSpec, data: Buffer): Buffer {
  const blockAlign = spec.channels * spec.bytesPerSample;
  const bits = spec.bitsPerSampleField ?? spec.bytesPerSample * 8;
  let fmt: Buffer;
  if (spec.extensible) {
    fmt = Buffer.alloc(40);
    fmt.writeUInt16LE(0xfffe, 0);
    fmt.writeUInt16LE(22, 16);
    fmt.writeUInt16LE(bits, 18); // valid bits
    fmt.writeUInt32LE(spec.channels === 2 ? 3 : 4, 20); // channel mask
    fmt.writeUInt16LE(spec.formatTag, 24);
    Buffer.from("000000001000800000aa00389b71", "hex").copy(fmt, 26);
  } else {
    fmt = Buffer.alloc(spec.formatTag === 1 ? 16 : 18);
  }
  if (!spec.extensible) fmt.writeUInt16LE(spec.formatTag, 0);
  fmt.writeUInt16LE(spec.channels, 2);
  fmt.writeUInt32LE(spec.sampleRate, 4);
  fmt.writeUInt32LE(spec.sampleRate * blockAlign, 8);
  fmt.writeUInt16LE(blockAlign, 12);
  fmt.writeUInt16LE(bits, 14);
  const parts = [
    chunk("fmt ", fmt),
    ...(spec.extraChunks ?? []).map(([id, b]) => chunk(id, b, spec.omitPad)),
    chunk("data", data, spec.omitPad),
  ];
  const body = Buffer.concat([Buffer.from("WAVE", "latin1"), ...parts]);
  const riff = Buffer.alloc(8);
  riff.write("RIFF", 0, "latin1");
  riff.writeUInt32LE(body.length, 4);
  return Buffer.concat([riff, body]);
}

/** Little-endian bytes of integer samples in `bytes` bytes each (two's complement; 8-bit is unsigned). */
export function intBytes(values: ArrayLike<number>, bytes: number): Buffer {
  const b = Buffer.alloc(values.length * bytes);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (bytes === 1) b.writeUInt8(v, i);
    else if (bytes === 2) b.writeInt16LE(v, i * 2);
    else if (bytes === 3) b.writeIntLE(v, i * 3, 3);
    else b.writeInt32LE(v, i * 4);
  }
  return b;
}

export function floatBytes(values: ArrayLike<number>, bytes: 4 | 8): Buffer {
  const b = Buffer.alloc(values.length * bytes);
  for (let i = 0; i < values.length; i++) {
    if (bytes === 4) b.writeFloatLE(values[i], i * 4);
    else b.writeDoubleLE(values[i], i * 8);
  }
  return b;
}

/** A 16-bit PCM WAV of the synthesised test signal. */
export function synthWav(spec: { sampleRate: number; channels: number; frames: number; seed: number; kind: string }): Buffer {
  const ints = synthInts(spec.frames, spec.channels, spec.seed, spec.kind);
  return wavBytes({ sampleRate: spec.sampleRate, channels: spec.channels, formatTag: 1, bytesPerSample: 2 }, intBytes(ints, 2));
}

export function tempDir(prefix = "emofeat-audio-"): string {
  return mkdtempSync(path.join(tmpdir(), prefix));
}

export function writeTemp(dir: string, name: string, data: Buffer | string): string {
  const p = path.join(dir, name);
  writeFileSync(p, data);
  return p;
}

/** Deinterleaves int samples into per-channel arrays scaled by `scale` (float32). */
export function planesOf(values: ArrayLike<number>, channels: number, scale: (v: number) => number): Float32Array[] {
  const frames = values.length / channels;
  return Array.from({ length: channels }, (_, c) => Float32Array.from({ length: frames }, (_, f) => scale(values[f * channels + c])));
}
