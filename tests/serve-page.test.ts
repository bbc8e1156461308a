/**
 * The page at / in a real browser: Debian's headless Chromium with a fake microphone playing a WAV file. It must
 * load with no console error and no request to any other origin, show live window predictions while recording,
 * a final one when recording stops, a prediction for a dropped file, the history, and the beta gate of a gated
 * head (equal to the library's beta for the same file and words). The screenshot goes to
 * test-output/serve-page.png.
 */
import { cp, mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import type { Browser, Page } from "puppeteer-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { predict } from "../src/predict/predict.js";
import { EmofeatServer } from "../src/serve/server.js";
import { launchChromium } from "./helpers/browser.js";
import { writeGatedHead } from "./helpers/gated-head.js";
import { removeDir, ROOT, tempDir } from "./helpers/paths.js";
import { DEMO_WAV_DIR, trainDemoRuns } from "./helpers/serve-runs.js";

// The page functions below run in the browser; the test program is compiled without the DOM library.
declare const document: { body: { dataset: Record<string, string> }; getElementById(id: string): { textContent: string | null; hidden: boolean; children: { length: number } } | null };
type HTMLElement = { dataset: Record<string, string>; hidden: boolean; style: Record<string, string> };

const OUT = path.join(ROOT, "test-output");
const MIC_WAV = path.join(DEMO_WAV_DIR, "demo_s1_015.wav");
const FILE_WAV = path.join(DEMO_WAV_DIR, "demo_s1_001.wav");
const TEXT = "I can't believe you did that to me!";

let dir: string;
let server: EmofeatServer;
let gated: EmofeatServer; // the concat run with a gated head (beta)
let gatedRun: string;
let browser: Browser;
let page: Page;
const consoleErrors: string[] = [];
const foreign: string[] = [];

beforeAll(async () => {
  dir = await tempDir("emofeat-serve-page-");
  const { runs } = await trainDemoRuns(dir, ["concat"]);
  server = await EmofeatServer.start({ run: runs.concat!, port: 0, logLevel: "silent", predictor: { offline: true } });
  gatedRun = path.join(dir, "runs", "gated");
  await cp(runs.concat!, gatedRun, { recursive: true });
  await writeGatedHead(gatedRun, 32, 4);
  gated = await EmofeatServer.start({ run: gatedRun, port: 0, logLevel: "silent", predictor: { offline: true } });
  await Promise.all([server.ready, gated.ready]);
  browser = await launchChromium([
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${MIC_WAV}`,
    "--autoplay-policy=no-user-gesture-required",
  ]);
  page = await browser.newPage();
  page.on("console", (m) => m.type() === "error" && consoleErrors.push(m.text()));
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.on("request", (r) => !r.url().startsWith(server.url) && !r.url().startsWith(gated.url) && !r.url().startsWith("data:") && !r.url().startsWith("blob:") && foreign.push(r.url()));
  await page.setViewport({ width: 1200, height: 860 });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await gated?.close();
  await removeDir(dir);
});

const historyCount = () => page.$$eval("#history li", (l) => l.length);

describe("the live page at /", () => {
  it("records from the (fake) microphone: live window bars, then the whole utterance in the history; a dropped file too", async () => {
    await page.goto(`${server.url}/?window=1&hop=0.5`);
    await page.waitForFunction(() => document.body.dataset.state === "ready");
    expect(await page.$$eval("#bars .bar", (b) => b.map((x) => (x as HTMLElement).dataset.label))).toEqual(["angry", "happy", "neutral", "sad"]);
    expect(await page.$eval("#run", (e) => e.textContent)).toMatch(/concat · concat-linear · needs audio \+ text/);
    await page.type("#text", TEXT);
    await page.click("#record");
    await page.waitForFunction(() => document.body.dataset.state === "recording");
    // A live window: bars filled, the label shown, the window's times in the meta line.
    await page.waitForFunction(() => /^live · \d+\.\d–\d+\.\d s/.test(document.getElementById("meta")!.textContent!), { timeout: 20_000 });
    const live = await page.$$eval("#bars .bar .val", (v) => v.map((x) => Number(x.textContent)));
    expect(live.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 2);
    expect(await page.$eval("#current", (e) => e.textContent)).toMatch(/^(angry|happy|neutral|sad)$/);
    await new Promise((r) => setTimeout(r, 800));
    await page.click("#stop");
    await page.waitForFunction(() => document.getElementById("history")!.children.length === 1, { timeout: 20_000 });
    expect(await page.$eval("#meta", (e) => e.textContent)).toMatch(/^utterance · \d+\.\d\d s/);
    expect(await page.$eval("#history li", (e) => e.children[1].textContent)).toBe("mic");

    const input = await page.$("#file");
    await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(FILE_WAV);
    await page.waitForFunction(() => document.getElementById("history")!.children.length === 2, { timeout: 20_000 });
    expect(await page.$eval("#meta", (e) => e.textContent)).toMatch(/^demo_s1_001\.wav · 1\.59 s/);
    // The bars show exactly what the API answers for the same file and words.
    const form = new FormData();
    form.append("text", TEXT);
    form.append("audio", new Blob([await readFile(FILE_WAV)]), "demo_s1_001.wav");
    const api = (await (await fetch(`${server.url}/v1/predict`, { method: "POST", body: form })).json()) as { probabilities: Record<string, number> };
    const shown = await page.$$eval("#bars .bar", (b) => b.map((x) => [(x as HTMLElement).dataset.label, Number(x.querySelector(".val")!.textContent)]));
    for (const [label, v] of shown) expect(v).toBeCloseTo(api.probabilities[label as string], 3);
    expect(await page.$eval("#beta", (e) => (e as HTMLElement).hidden)).toBe(true);
  });

  it("shows the beta gate of a gated head (the library's beta for the same file and words)", async () => {
    await page.goto(`${gated.url}/`);
    await page.waitForFunction(() => document.body.dataset.state === "ready");
    await page.type("#text", TEXT);
    const input = await page.$("#file");
    await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(FILE_WAV);
    await page.waitForFunction(() => !document.getElementById("beta")!.hidden, { timeout: 20_000 });
    const [lib] = await predict(gatedRun, [{ audio: FILE_WAV, text: TEXT }], { offline: true });
    expect(lib.beta).toBeGreaterThan(0);
    expect(await page.$eval("#beta-value", (e) => e.textContent)).toBe(`= ${lib.beta!.toFixed(3)}`);
    expect(parseFloat(await page.$eval("#beta-mark", (e) => (e as HTMLElement).style.left))).toBeCloseTo(100 * lib.beta!, 3);
    expect(await page.$eval("#current", (e) => e.textContent!.toLowerCase())).toBe(lib.label);
    const shown = await page.$$eval("#bars .bar", (b) => b.map((x) => [(x as HTMLElement).dataset.label, Number(x.querySelector(".val")!.textContent)]));
    for (const [label, v] of shown) expect(v).toBeCloseTo(lib.probabilities![label as string], 3);
    expect(await page.$eval("#history li", (e) => e.textContent)).toContain(`β ${lib.beta!.toFixed(2)}`);
  });

  it("a stubbed answer: the gate's mark and the history line follow the answer's beta; no console error, nothing fetched from elsewhere", async () => {
    await page.setRequestInterception(true);
    const stub = (req: import("puppeteer-core").HTTPRequest) => {
      if (req.url().endsWith("/v1/predict") && req.method() === "POST")
        return req.respond({
          status: 200,
          contentType: "application/json",
          body: JSON.stringify({
            label: "sad",
            probabilities: { angry: 0.1, happy: 0.05, neutral: 0.25, sad: 0.6 },
            beta: 0.375,
            timings_ms: { decode: 1, queue: 0, encode_audio: 2, encode_text: 3, head: 0.2, total: 7 },
            audio: { duration_s: 1.59, kept_s: 1.59, truncated: false, sample_rate: 16000, channels: 1, format: "WAV PCM 16-bit" },
          }),
        });
      return req.continue();
    };
    page.on("request", stub);
    try {
      const input = await page.$("#file");
      await (input as unknown as { uploadFile(f: string): Promise<void> }).uploadFile(FILE_WAV);
      await page.waitForFunction(() => document.getElementById("history")!.children.length === 2, { timeout: 20_000 });
    } finally {
      page.off("request", stub);
      await page.setRequestInterception(false);
    }
    expect(await page.$eval("#beta-value", (e) => e.textContent)).toBe("= 0.375");
    expect(await page.$eval("#beta-mark", (e) => (e as HTMLElement).style.left)).toBe("37.5%");
    expect(await page.$eval("#current", (e) => e.textContent)).toBe("sad");
    expect(await historyCount()).toBe(2);
    expect(await page.$eval("#history li", (e) => e.textContent)).toMatch(/sad.*60%.*β 0\.38/);
    await mkdir(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, "serve-page.png"), fullPage: true });
    expect(consoleErrors).toEqual([]);
    expect(foreign).toEqual([]);
  });
});
