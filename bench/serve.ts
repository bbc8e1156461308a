/**
 * npm run bench:serve — `emofeat serve` under load, on loopback only, bounded in time.
 *
 * Trains the demo runs (demo corpus, bundled tiny models: text mlp, audio linear, audio+text concat-linear),
 * builds the CLI (dist/), then for each run starts `emofeat serve` as its own process and drives it with
 * autocannon at 1, 8 and 32 concurrent connections for BENCH_DURATION seconds each:
 *   text:   POST /v1/predict JSON {"text": ...}
 *   audio:  POST /v1/predict with a raw 3.0 s 16-bit WAV body (Content-Type: audio/wav)
 *   fusion: POST /v1/predict multipart (audio file + text), as `curl -F` sends it
 * and prints requests/s, latency p50/p95/p99 (from every response), errors (non-2xx, socket errors, timeouts)
 * and the server's peak RSS (VmRSS sampled every 100 ms). The reference measured in the same run: the same
 * request through `emofeat predict` as one process per request (median of BENCH_PROCS runs), whose time over
 * the server's p50 at 1 connection is printed as the ratio.
 * Streaming: a WebSocket client sends a 10 s recording in 100 ms frames at real-time pace (window 3 s, hop 1 s)
 * and records, per window, the time from sending the frame that completes the window to receiving its
 * prediction (and the server's own latency_ms).
 * Options (env): BENCH_DURATION (s per load step, default 20), BENCH_CONNECTIONS (default 1,8,32),
 * BENCH_PROCS (default 3), BENCH_JSON (write the results there).
 */
import { spawn, execFileSync } from "node:child_process";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import autocannon from "autocannon";
import WebSocket from "ws";
import { decodeAudioFile } from "../src/audio/decode.js";
import { wavBytes } from "../tests/helpers/audio-synth.js";
import { DEMO_WAV_DIR, trainDemoRuns } from "../tests/helpers/serve-runs.js";
import { ROOT } from "./common.js";

const DURATION = Number(process.env.BENCH_DURATION ?? 20);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? "1,8,32").split(",").map(Number);
const PROCS = Number(process.env.BENCH_PROCS ?? 3);
const TEXT = "I can't believe you did that to me!";
const CLI = path.join(ROOT, "dist", "cli", "main.js");

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
};
const median = (xs: number[]) => pct(xs, 50);
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "-");

function rssMb(pid: number): number {
  try {
    const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

interface Server {
  url: string;
  pid: number;
  stop(): Promise<number | null>;
}

async function startServer(run: string): Promise<Server> {
  const child = spawn(process.execPath, [CLI, "serve", "--run", run, "--port", "0", "--offline", "--log-level", "warn"], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  const t0 = Date.now();
  while (!/ready in/.test(err)) {
    if (child.exitCode !== null || Date.now() - t0 > 120_000) throw new Error(`serve did not start:\n${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = err.match(/listening on (http:\/\/[^/\s]+)\//)![1];
  return {
    url,
    pid: child.pid!,
    stop: async () => {
      child.kill("SIGTERM");
      return exited;
    },
  };
}

interface Step {
  scenario: string;
  connections: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  requests: number;
  errors: number;
  peakRssMb: number;
}

async function load(server: Server, scenario: string, connections: number, req: { headers: Record<string, string>; body: Buffer | string; path: string }): Promise<Step> {
  const latencies: number[] = [];
  let peak = rssMb(server.pid);
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(server.pid))), 100);
  const r = await new Promise<autocannon.Result>((resolve, reject) => {
    const inst = autocannon({ url: server.url + req.path, method: "POST", headers: req.headers, body: req.body, connections, duration: DURATION, timeout: 30 }, (err, res) =>
      err ? reject(err) : resolve(res),
    );
    inst.on("response", (_c, status, _bytes, ms) => {
      if (status === 200) latencies.push(ms);
    });
  });
  clearInterval(sampler);
  const errors = r.non2xx + r.errors + r.timeouts;
  return {
    scenario,
    connections,
    rps: latencies.length / DURATION,
    p50: pct(latencies, 50),
    p95: pct(latencies, 95),
    p99: pct(latencies, 99),
    requests: latencies.length,
    errors,
    peakRssMb: peak,
  };
}

/** Wall time of one `emofeat predict` process (start, load, predict, exit). */
function perProcess(args: string[]): number[] {
  const times: number[] = [];
  for (let i = 0; i < PROCS; i++) {
    const t0 = performance.now();
    execFileSync(process.execPath, [CLI, "predict", ...args, "--offline", "--json"], { stdio: ["ignore", "ignore", "inherit"] });
    times.push(performance.now() - t0);
  }
  return times;
}

/** Streams `samples` (16 kHz int16) at real-time pace; per window: client-side and server-side latency. */
async function stream(server: Server, samples: Int16Array, text: string | null): Promise<{ client: number[]; server: number[]; windows: number }> {
  const ws = new WebSocket(server.url.replace("http", "ws") + "/v1/stream");
  await new Promise((r, j) => ws.once("open", r).once("error", j));
  const sentAt = new Map<number, number>(); // window end (samples) -> when its last frame was sent
  const client: number[] = [];
  const srv: number[] = [];
  let windows = 0;
  const done = new Promise<void>((res) =>
    ws.on("message", (d) => {
      const m = JSON.parse(String(d));
      if (m.type === "window" && m.label) {
        windows++;
        const t = sentAt.get(Math.round(m.end_s * 16000));
        if (t !== undefined) client.push(performance.now() - t);
        srv.push(m.latency_ms);
      }
      if (m.type === "final") res();
    }),
  );
  ws.send(JSON.stringify({ type: "start", sample_rate: 16000, window: 3, hop: 1, ...(text ? { text } : {}) }));
  const frame = 1600;
  const t0 = performance.now();
  for (let i = 0; i < samples.length; i += frame) {
    const wait = t0 + (i / 16000) * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const chunk = samples.subarray(i, i + frame);
    ws.send(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    const end = i + chunk.length;
    if (end >= 48000 && (end - 48000) % 16000 === 0) sentAt.set(end, performance.now());
  }
  ws.send(JSON.stringify({ type: "end" }));
  await done;
  ws.close();
  return { client, server: srv, windows };
}

async function main(): Promise<void> {
  const cpus = os.cpus();
  const load1 = os.loadavg()[0];
  console.log(`machine: ${cpus.length} x ${cpus[0]?.model ?? "?"}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, ${os.platform()} ${os.release()}, node ${process.version}; load average at start ${load1.toFixed(1)}`);
  console.log(`load steps: ${CONNECTIONS.join(", ")} connections x ${DURATION} s; per-process reference: median of ${PROCS}`);
  execFileSync("npm", ["run", "build", "--silent"], { cwd: ROOT, stdio: "inherit" });
  const dir = mkdtempSync(path.join(os.tmpdir(), "emofeat-bench-serve-"));
  try {
    console.log("training the demo runs (tiny models) ...");
    const { runs } = await trainDemoRuns(dir, ["text", "audio", "concat"]);

    // A 3.0 s 16 kHz clip (speech from the demo corpus) and a 10 s recording for the stream.
    const parts = await Promise.all(["demo_s1_015", "demo_s1_014", "demo_s1_016", "demo_s2_008"].map((f) => decodeAudioFile(path.join(DEMO_WAV_DIR, `${f}.wav`))));
    const all = Int16Array.from(parts.flatMap((p) => Array.from(p.channelData[0])), (v) => Math.round(v * 32768));
    const clip3 = all.subarray(0, 48000);
    const rec10 = all.subarray(0, 160000);
    const wav3 = wavBytes({ sampleRate: 16000, channels: 1, formatTag: 1, bytesPerSample: 2 }, Buffer.from(clip3.buffer, clip3.byteOffset, clip3.byteLength));
    const wavFile = path.join(dir, "clip3.wav");
    writeFileSync(wavFile, wav3);
    const boundary = "----emofeatbench";
    const multipart = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n${TEXT}\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="audio"; filename="clip3.wav"\r\nContent-Type: audio/wav\r\n\r\n`),
      wav3,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const scenarios = [
      { name: "text", run: runs.text!, req: { path: "/v1/predict", headers: { "content-type": "application/json" }, body: JSON.stringify({ text: TEXT }) }, cli: ["--run", runs.text!, "--text", TEXT] },
      { name: "audio 3 s", run: runs.audio!, req: { path: "/v1/predict", headers: { "content-type": "audio/wav" }, body: wav3 }, cli: ["--run", runs.audio!, "--audio", wavFile] },
      { name: "fusion (3 s + text)", run: runs.concat!, req: { path: "/v1/predict", headers: { "content-type": `multipart/form-data; boundary=${boundary}` }, body: multipart }, cli: ["--run", runs.concat!, "--audio", wavFile, "--text", TEXT] },
    ];

    const steps: Step[] = [];
    const procs: Record<string, number> = {};
    const streams: Record<string, { client: number[]; server: number[]; windows: number }> = {};
    for (const sc of scenarios) {
      const server = await startServer(sc.run);
      const idleRss = rssMb(server.pid);
      // Warm-up (first calls allocate the sessions' buffers), not measured.
      for (let i = 0; i < 5; i++) await fetch(server.url + sc.req.path, { method: "POST", headers: sc.req.headers, body: typeof sc.req.body === "string" ? sc.req.body : new Uint8Array(sc.req.body) });
      for (const c of CONNECTIONS) {
        const s = await load(server, sc.name, c, sc.req);
        steps.push(s);
        console.log(`${sc.name.padEnd(20)} ${String(c).padStart(2)} conn: ${f1(s.rps)} req/s, p50 ${f1(s.p50)} ms, p95 ${f1(s.p95)} ms, p99 ${f1(s.p99)} ms, ${s.errors} errors, peak RSS ${f1(s.peakRssMb)} MB (idle ${f1(idleRss)} MB)`);
      }
      if (sc.name !== "text") {
        streams[sc.name] = await stream(server, rec10, sc.name.startsWith("fusion") ? TEXT : null);
        const st = streams[sc.name];
        console.log(`${sc.name.padEnd(20)} stream: ${st.windows} windows, end of window -> prediction: client p50 ${f1(median(st.client))} ms, max ${f1(Math.max(...st.client))} ms; server latency_ms p50 ${f1(median(st.server))}`);
      }
      const code = await server.stop();
      if (code !== 0) throw new Error(`serve exited with ${code} after SIGTERM`);
      const t = perProcess(sc.cli);
      procs[sc.name] = median(t);
      console.log(`${sc.name.padEnd(20)} emofeat predict, one process per request: median ${f1(procs[sc.name])} ms (${t.map((x) => x.toFixed(0)).join(", ")})`);
    }

    console.log("\n| request | connections | req/s | p50 ms | p95 ms | p99 ms | errors | peak RSS MB |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const s of steps) console.log(`| ${s.scenario} | ${s.connections} | ${f1(s.rps)} | ${f1(s.p50)} | ${f1(s.p95)} | ${f1(s.p99)} | ${s.errors} | ${f1(s.peakRssMb)} |`);
    console.log("\n| request | `emofeat predict` per process, ms | server p50 at 1 connection, ms | ratio |");
    console.log("|---|---:|---:|---:|");
    for (const sc of scenarios) {
      const one = steps.find((s) => s.scenario === sc.name && s.connections === CONNECTIONS[0])!;
      console.log(`| ${sc.name} | ${f1(procs[sc.name])} | ${f1(one.p50)} | ${f1(procs[sc.name] / one.p50)}x |`);
    }
    console.log("\n| stream (10 s at real time, window 3 s, hop 1 s) | windows | client p50 ms | client max ms | server latency_ms p50 |");
    console.log("|---|---:|---:|---:|---:|");
    for (const [name, st] of Object.entries(streams))
      console.log(`| ${name} | ${st.windows} | ${f1(median(st.client))} | ${f1(Math.max(...st.client))} | ${f1(median(st.server))} |`);
    console.log(`\nload average at the end ${os.loadavg()[0].toFixed(1)}`);
    if (process.env.BENCH_JSON) writeFileSync(process.env.BENCH_JSON, JSON.stringify({ steps, procs, streams, cpus: cpus.length, model: cpus[0]?.model }, null, 2));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
