/** Progress output: no ETA before rows have finished (a guess from nothing misleads), one once they have. */
import { describe, expect, it } from "vitest";
import { createReporter, lineReporter } from "../src/cli/progress.js";

function fakeStream(isTTY: boolean) {
  const out: string[] = [];
  const stream = { isTTY, columns: 120, rows: 40, write: (s: string) => (out.push(String(s)), true), on: () => stream, off: () => stream, removeListener: () => stream };
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => out.join("") };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("progress reporters", () => {
  it("log lines: no ETA while no row has finished, an ETA once rows are done, none on the final line", async () => {
    const { stream, text } = fakeStream(false);
    const r = lineReporter("extract text", stream, 0);
    r.listener({ phase: "extract", done: 0, total: 100, failed: 0, resumed: 0 });
    await sleep(20);
    r.listener({ phase: "extract", done: 0, total: 100, failed: 0, resumed: 0 });
    expect(text()).toMatch(/^extract text: 100 rows\n(extract text: 0\/100 rows \(0\.0%\), 0\.0 rows\/s, 0 failed\n)+$/);
    await sleep(20);
    r.listener({ phase: "extract", done: 40, total: 100, failed: 0, resumed: 0 });
    expect(text()).toMatch(/40\/100 rows \(40\.0%\), [\d.]+ rows\/s, ETA \d+s, 0 failed\n$/);
    r.listener({ phase: "done", done: 100, total: 100, failed: 0, resumed: 0 });
    expect(text()).toMatch(/100\/100 rows \(100\.0%\), [\d.]+ rows\/s, 0 failed, done\n$/);
  });

  it("terminal bar: no ETA before the first rows finish", async () => {
    const prevCI = process.env.CI;
    delete process.env.CI;
    try {
      const { stream, text } = fakeStream(true);
      const r = createReporter({ label: "extract audio", stream });
      r.listener({ phase: "extract", done: 0, total: 50, failed: 0, resumed: 0 });
      await sleep(250);
      r.listener({ phase: "extract", done: 0, total: 50, failed: 0, resumed: 0 });
      await sleep(250);
      expect(text()).toMatch(/0\/50 rows \| - rows\/s \| 0 failed/);
      expect(text()).not.toMatch(/ETA/);
      r.listener({ phase: "extract", done: 10, total: 50, failed: 0, resumed: 0 });
      await sleep(250);
      r.stop();
      expect(text()).toMatch(/10\/50 rows \| [\d.]+ rows\/s \| ETA \d+s \| 0 failed/);
    } finally {
      if (prevCI !== undefined) process.env.CI = prevCI;
    }
  });
});
