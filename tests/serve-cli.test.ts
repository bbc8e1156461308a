/**
 * `emofeat serve` as a real process: help, a wrong run, the startup lines, one JSON log line per request, and
 * SIGTERM with a request in flight (it is finished and answered right, new connections are refused, exit 0).
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { predict } from "../src/predict/predict.js";
import { runEmofeat, spawnEmofeat } from "./helpers/cli.js";
import { removeDir, tempDir } from "./helpers/paths.js";
import { trainDemoRuns } from "./helpers/serve-runs.js";

const TEXT = "I can't believe you did that to me!";

let dir: string;
let run: string;

beforeAll(async () => {
  dir = await tempDir("emofeat-serve-cli-");
  run = (await trainDemoRuns(dir, ["text"])).runs.text!;
});
afterAll(() => removeDir(dir));

/** Resolves with the first match of `re` in the growing text `read()`, or rejects after `ms`. */
async function waitFor(read: () => string, re: RegExp, ms = 60_000): Promise<RegExpMatchArray> {
  const t0 = Date.now();
  for (;;) {
    const m = read().match(re);
    if (m) return m;
    if (Date.now() - t0 > ms) throw new Error(`timed out waiting for ${re} in:\n${read()}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("emofeat serve (CLI)", () => {
  it("--help explains the routes and options; a wrong run fails before listening", async () => {
    const help = await runEmofeat(["serve", "--help"]);
    expect(help.code).toBe(0);
    for (const s of ["--run", "--port", "--host", "--token", "--window", "--hop", "--queue-size", "--timeout", "--long-audio", "--log-content", "/v1/predict", "/v1/stream"])
      expect(help.stdout).toContain(s);
    const bad = await runEmofeat(["serve", "--run", `${dir}/no-such-run`, "--port", "0", "--offline"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/no-such-run\/config\.json: missing/);
    expect(bad.stderr).not.toContain("listening");
  });

  it("SIGTERM while the run is still loading: a clean stop, exit 0 (was a stack trace: the listener was gone when 'ready' was printed)", async () => {
    const srv = spawnEmofeat(["serve", "--run", run, "--port", "0", "--offline"]);
    try {
      await waitFor(srv.stderr, /listening on http:\/\/127\.0\.0\.1:\d+\//);
      srv.child.kill("SIGTERM"); // loading the encoders takes a few hundred ms: the signal lands during it
      const { code } = await srv.exited;
      expect(srv.stderr()).not.toMatch(/unexpected error|\n\s+at /);
      expect(srv.stderr()).toMatch(/SIGTERM: no new connections; finishing the requests in flight\n(.*\n)*emofeat serve: stopped\n$/);
      expect(code).toBe(0);
    } finally {
      srv.child.kill("SIGKILL");
    }
  });

  it("SIGTERM: stops accepting, finishes the request in flight (answered right), exits 0; one log line per request, no words", async () => {
    const srv = spawnEmofeat(["serve", "--run", run, "--port", "0", "--offline"]);
    try {
      const [, url, port] = await waitFor(srv.stderr, /listening on (http:\/\/127\.0\.0\.1:(\d+))\//);
      await waitFor(srv.stderr, /ready in [\d.]+ s: angry, happy, neutral, sad; needs text/);
      const health = await fetch(`${url}/v1/health`);
      expect(await health.json()).toMatchObject({ status: "ready" });

      // A request whose body is only half sent when SIGTERM arrives.
      const body = JSON.stringify({ text: TEXT });
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${url}/v1/predict`, { method: "POST", headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) } }, (res) => {
          let data = "";
          res.on("data", (d) => (data += d));
          res.on("end", () => resolve({ status: res.statusCode!, body: data }));
        });
        req.on("error", reject);
        req.write(body.slice(0, 10));
        setTimeout(() => {
          srv.child.kill("SIGTERM");
          setTimeout(async () => {
            req.end(body.slice(10));
          }, 700);
        }, 300);
      });
      await waitFor(srv.stderr, /SIGTERM: no new connections; finishing the requests in flight/);
      // Fastify closes the listener a few ms after the signal (its preClose hooks run first): poll for up to
      // 500 ms, well before the half-sent request's body is finished (700 ms after the signal).
      const connect = () =>
        new Promise<string>((res) => {
          const sock = net.connect(Number(port), "127.0.0.1");
          sock.on("connect", () => {
            sock.destroy();
            res("connected");
          });
          sock.on("error", (e: NodeJS.ErrnoException) => res(e.code ?? "error"));
        });
      let refused = await connect();
      for (let t0 = Date.now(); refused === "connected" && Date.now() - t0 < 500; refused = await connect()) await new Promise((r) => setTimeout(r, 20));
      expect(refused).toBe("ECONNREFUSED");
      const r = await answer;
      expect(r.status).toBe(200);
      const [lib] = await predict(run, [{ text: TEXT }], { offline: true });
      expect(JSON.parse(r.body).probabilities).toEqual(lib.probabilities);
      const { code } = await srv.exited;
      expect(code).toBe(0);
      expect(srv.stderr()).toMatch(/stopped\n$/);
      const lines = srv
        .stdout()
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const requests = lines.filter((l) => l.msg === "request");
      expect(requests.map((l) => [l.route, l.status])).toEqual([
        ["/v1/health", 200],
        ["/v1/predict", 200],
      ]);
      expect(requests[1]).toMatchObject({ method: "POST", text_chars: TEXT.length, label: lib.label });
      expect(srv.stdout()).not.toContain("believe");
    } finally {
      srv.child.kill("SIGKILL");
    }
  });
});
