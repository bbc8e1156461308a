/**
 * Hub ids: a local HTTP server stands in for huggingface.co (same URL layout), so downloading, caching and
 * --offline reuse of the cache are tested without network access.
 */
import { createReadStream, existsSync, readdirSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { env } from "../src/env.js";
import { embedTexts } from "../src/extract/text.js";
import { copiedModel, DEMO_MODEL, removeDir, tempDir } from "./helpers/paths.js";

describe("models from a hub", () => {
  let server: http.Server;
  let cache: string;
  const requests: string[] = [];
  const saved = { ...env };

  beforeAll(async () => {
    cache = await tempDir("emofeat-cache-");
    server = http.createServer((req, res) => {
      requests.push(req.url!);
      const m = /^\/test-org\/tiny-bert(?:-layers)?\/resolve\/main\/(.+)$/.exec(req.url!);
      const file = m ? path.join(DEMO_MODEL, decodeURIComponent(m[1])) : "";
      if (!m || !existsSync(file) || !statSync(file).isFile()) {
        res.writeHead(404).end("not found");
        return;
      }
      res.writeHead(200, { "content-length": statSync(file).size });
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    env.remoteHost = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    env.cacheDir = cache;
  });
  afterAll(async () => {
    Object.assign(env, saved);
    await new Promise((r) => server.close(r));
    await removeDir(cache);
  });

  it("downloads a hub id once into the cache, then works --offline from it", async () => {
    const texts = ["Excuse me.", "I can't believe you did that!"];
    const local = await embedTexts(texts, { model: DEMO_MODEL, offline: true });
    const online = await embedTexts(texts, { model: "test-org/tiny-bert" });
    expect(Array.from(online.embeddings)).toEqual(Array.from(local.embeddings));
    expect(online.encoder.model).toMatchObject({ id: "test-org/tiny-bert", source: "hub", file: "onnx/model.onnx", sha256: local.encoder.model.sha256 });
    expect(requests.some((u) => u.endsWith("/onnx/model.onnx"))).toBe(true);
    expect(existsSync(path.join(cache, "test-org/tiny-bert/onnx/model.onnx"))).toBe(true);

    const before = requests.length;
    const offline = await embedTexts(texts, { model: "test-org/tiny-bert", offline: true });
    expect(requests.length).toBe(before); // nothing fetched
    expect(Array.from(offline.embeddings)).toEqual(Array.from(local.embeddings));
  });

  it("--layers on a hub id not downloaded yet: fetched first, the hidden-state model cached beside it", async () => {
    const texts = ["Excuse me.", "I can't believe you did that!"];
    const local = await embedTexts(texts, { model: await copiedModel(DEMO_MODEL, cache), offline: true, layers: "all" });
    const online = await embedTexts(texts, { model: "test-org/tiny-bert-layers", layers: "all" });
    expect(Array.from(online.embeddings)).toEqual(Array.from(local.embeddings));
    const onnxDir = path.join(cache, "test-org/tiny-bert-layers/onnx");
    expect(readdirSync(onnxDir).filter((f) => /^model\.hidden-states-v1-[0-9a-f]{16}\.onnx$/.test(f))).toHaveLength(1);
  });

  it("explains an unknown hub id", async () => {
    await expect(embedTexts(["x"], { model: "test-org/no-such-model" })).rejects.toThrow(/model "test-org\/no-such-model" could not be loaded from http:\/\/127\.0\.0\.1:\d+\/: these files were not found there:\n  - config\.json/);
  });
});
