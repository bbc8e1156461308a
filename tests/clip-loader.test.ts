import { rmSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { loadClip } from "../src/audio/clip.js";
import { ClipLoader } from "../src/audio/clip-loader.js";
import { AudioInputError } from "../src/audio/errors.js";
import { synthWav, tempDir, writeTemp } from "./helpers/audio-synth.js";

describe("ClipLoader (clips prepared in a worker thread while the encoder runs)", () => {
  const dir = tempDir();
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const opts = { targetSampleRate: 16000, maxSeconds: 0.5 };

  it("gives exactly loadClip's samples and info, in request order, and loadClip's errors", async () => {
    const files = [
      writeTemp(dir, "a.wav", synthWav({ sampleRate: 44100, channels: 2, frames: 30000, seed: 1, kind: "noise-saw" })),
      writeTemp(dir, "b.wav", synthWav({ sampleRate: 8000, channels: 1, frames: 9000, seed: 2, kind: "noise-saw" })),
      writeTemp(dir, "c.wav", "not a wav file at all"),
      writeTemp(dir, "d.wav", synthWav({ sampleRate: 22050, channels: 1, frames: 4000, seed: 3, kind: "noise-saw" })),
    ];
    const loader = new ClipLoader(opts);
    try {
      // All requested before any is awaited, as the extraction prefetches the next batch.
      const pending = files.map((f) => loader.load(f).then((c) => c, (e: unknown) => e));
      const got = await Promise.all(pending);
      for (const [i, f] of files.entries()) {
        const want: Awaited<ReturnType<typeof loadClip>> | Error = await loadClip(f, opts).catch((e: Error) => e);
        if (want instanceof Error) {
          expect(got[i]).toBeInstanceOf(AudioInputError);
          expect((got[i] as AudioInputError).message).toBe(want.message);
          expect((got[i] as AudioInputError).failureReason).toBe((want as AudioInputError).failureReason);
        } else {
          const c = got[i] as Awaited<ReturnType<typeof loadClip>>;
          expect(c.samples).toBeInstanceOf(Float32Array);
          expect(Buffer.from(c.samples.buffer, c.samples.byteOffset, c.samples.byteLength).equals(Buffer.from(want.samples.buffer, want.samples.byteOffset, want.samples.byteLength))).toBe(true);
          expect(c.info).toEqual(want.info);
        }
      }
      expect(got[2]).toBeInstanceOf(AudioInputError);
    } finally {
      await loader.close();
    }
  });

  it("loads on the main thread when the worker cannot start, with the same results", async () => {
    const f = writeTemp(dir, "f.wav", synthWav({ sampleRate: 22050, channels: 1, frames: 5000, seed: 5, kind: "noise-saw" }));
    let started = 0;
    const loader = new ClipLoader(opts, () => {
      started++;
      return new Worker("throw new Error('no worker here')", { eval: true });
    });
    const [a, b] = await Promise.all([loader.load(f), loader.load(`${dir}/missing.wav`).catch((e: unknown) => e)]);
    expect(started).toBe(1);
    expect(Array.from(a.samples)).toEqual(Array.from((await loadClip(f, opts)).samples));
    expect(b).toBeInstanceOf(AudioInputError);
    expect((await loader.load(f)).samples.length).toBe(a.samples.length); // later loads go straight to the main thread
    expect(started).toBe(1);
    await loader.close();
  });

  it("reports a missing file as loadClip does, and loads on the main thread after close", async () => {
    const loader = new ClipLoader(opts);
    const missing = `${dir}/missing.wav`;
    const err = await loader.load(missing).catch((e: unknown) => e);
    const want = await loadClip(missing, opts).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AudioInputError);
    expect((err as Error).message).toBe((want as Error).message);
    await loader.close();
    const f = writeTemp(dir, "e.wav", synthWav({ sampleRate: 16000, channels: 1, frames: 1600, seed: 4, kind: "noise-saw" }));
    expect((await loader.load(f)).samples.length).toBe(1600);
  });
});
