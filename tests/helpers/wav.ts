import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { wavBytes } from "./audio-synth.js";

/**
 * A PCM WAV of `seconds` of a quiet 220 Hz tone (16-bit). Extra chunks (`extraChunks`, id -> body) go between
 * `fmt ` and `data`, as some writers put LIST chunks there.
 */
export function tinyWav(seconds: number, options: { sampleRate?: number; channels?: number; extraChunks?: [string, Buffer][] } = {}): Buffer {
  const sampleRate = options.sampleRate ?? 16000;
  const channels = options.channels ?? 1;
  const frames = Math.round(seconds * sampleRate);
  const data = Buffer.alloc(frames * channels * 2);
  for (let i = 0; i < frames; i++) {
    const v = Math.round(1000 * Math.sin((2 * Math.PI * 220 * i) / sampleRate));
    for (let c = 0; c < channels; c++) data.writeInt16LE(v, (i * channels + c) * 2);
  }
  return wavBytes({ sampleRate, channels, formatTag: 1, bytesPerSample: 2, extraChunks: options.extraChunks }, data);
}

/** Writes `content` at `root/rel`, creating folders; strings are written as UTF-8 unless given as a Buffer. */
export async function put(root: string, rel: string, content: string | Buffer): Promise<string> {
  const file = path.join(root, rel);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, content);
  return file;
}
