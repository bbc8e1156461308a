/**
 * A training step that fails while the next batch is being read from a sequence store: trainHead must reject
 * with the step's own error, and only after that read has settled, so the caller can close the store (probe.ts
 * does) without a read landing on a closed file (before: an unhandled "file closed" that killed the process
 * and hid the real error).
 */
import { describe, expect, it, vi } from "vitest";
import type { Dataset, SequenceSource } from "../src/train/batches.js";
import { trainHead } from "../src/train/engine.js";
import type { HeadArch } from "../src/train/heads.js";
import { resolveFusionArch } from "../src/train/heads/fusion.js";

vi.mock("../src/train/graph/session.js", async (importOriginal) => {
  const orig = await importOriginal<typeof import("../src/train/graph/session.js")>();
  return {
    ...orig,
    // The training graph (it takes targets) fails on its first step; evaluation sessions work.
    createSession: async (...args: Parameters<typeof orig.createSession>) => {
      const s = await orig.createSession(...args);
      if (!s.inputNames.includes("targets")) return s;
      return new Proxy(s, {
        get: (t, k) => {
          if (k === "run") return async () => Promise.reject(new Error("step failed"));
          const v: unknown = Reflect.get(t, k, t);
          return typeof v === "function" ? v.bind(t) : v;
        },
      });
    },
  };
});

describe("training engine: a failing step with a batch read in flight", () => {
  it("rejects with the step's error after the read ahead has settled", async () => {
    const d = 4;
    let closed = false;
    let readAfterClose = false;
    const rows = Array.from({ length: 8 }, (_, i) => Float32Array.from({ length: (1 + (i % 3)) * d }, (_, k) => Math.sin(i + k)));
    const slow = (): SequenceSource => ({
      d,
      lengths: Int32Array.from(rows, (r) => r.length / d),
      async read(idx) {
        await new Promise((r) => setTimeout(r, 30));
        if (closed) readAfterClose = true;
        return idx.map((i) => rows[i]);
      },
    });
    const inputs = [
      { name: "audio", dim: d, sequence: true },
      { name: "text", dim: d, sequence: true },
    ];
    const fusion = resolveFusionArch("fusion", inputs, { dModel: 4, attnHeads: 2, blocks: 1 }, 0);
    const arch: HeadArch = { head: "fusion", inputs, numClasses: 2, hidden: 0, dropoutIn: 0, dropoutHidden: 0, fusion };
    const all = Int32Array.from(rows, (_, i) => i);
    const train: Dataset = { x: [{ source: slow(), rows: all }, { source: slow(), rows: all }], y: Int32Array.from(rows, (_, i) => i % 2), n: rows.length };
    const run = trainHead(arch, train, undefined, { epochs: 1, batchSize: 2, lr: 1e-3, weightDecay: 0, select: "last", seed: 0, labels: ["a", "b"], threads: 1 });
    await expect(run).rejects.toThrow("step failed");
    closed = true; // what the caller does next
    await new Promise((r) => setTimeout(r, 100));
    expect(readAfterClose).toBe(false);
  });
});
