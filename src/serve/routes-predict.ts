/**
 * POST /v1/predict (one utterance) and POST /v1/predict/batch (many, each with its own answer or error).
 *
 * /v1/predict takes JSON (`text`, `audio_base64`, or raw PCM: `pcm_base64` / `samples` with `sample_rate`),
 * multipart/form-data (`audio` file, `text`, `id`), or a raw audio body (`Content-Type: audio/*` or
 * application/octet-stream, with `?text=`). /v1/predict/batch takes a JSON array of the same items (or
 * `{"items": [...]}`), a CSV body, or a multipart upload of a `csv` part plus the audio files its `audio`
 * column names.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Multipart } from "@fastify/multipart";
import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";
import { addLog, readyService, type ServeContext } from "./context.js";
import { describeError, HttpError } from "./errors.js";
import { checkBatchItem, decodeBase64, itemFromJson, itemSchema, type ItemInput, type JsonItem } from "./inputs.js";
import type { PredictionBody, PreparedItem } from "./service.js";

const tokenQuery = { token: { type: "string" } } as const;

const predictQuery = {
  type: "object",
  additionalProperties: false,
  properties: { ...tokenQuery, text: { type: "string" }, id: { type: "string", maxLength: 256 } },
} as const;

// The elements are checked one by one in the handler (checkBatchItem): a wrong element is its item's error.
const batchJson = {
  oneOf: [
    { type: "array" },
    { type: "object", additionalProperties: false, required: ["items"], properties: { items: { type: "array" } } },
  ],
} as const;

const PREDICT_TYPES = "application/json, multipart/form-data (audio, text, id), audio/* or application/octet-stream (the file; ?text=)";
const BATCH_TYPES = "application/json (an array of items), text/csv, multipart/form-data (csv + the audio files it names)";

/** What each POST route takes, for the 415 message (also when Fastify refuses the type before the handler). */
export const ACCEPTED_TYPES: Record<string, string> = { "/v1/predict": PREDICT_TYPES, "/v1/predict/batch": BATCH_TYPES };

/** Aborts when the client goes away before its answer is written, so its waiting work is withdrawn. */
function clientGone(req: FastifyRequest, reply: FastifyReply): AbortSignal {
  const ctrl = new AbortController();
  reply.raw.once("close", () => {
    if (!reply.raw.writableFinished) ctrl.abort();
  });
  void req;
  return ctrl.signal;
}

function contentKind(req: FastifyRequest): "json" | "multipart" | "audio" | "csv" | "other" {
  const ct = (req.headers["content-type"] ?? "").split(";")[0].trim().toLowerCase();
  if (ct === "application/json") return "json";
  if (ct === "multipart/form-data") return "multipart";
  if (ct.startsWith("audio/") || ct === "application/octet-stream") return "audio";
  if (ct === "text/csv") return "csv";
  return "other";
}

/** Reads a part's bytes, refusing fields that busboy cut at its size limit (it would do so silently). */
function fieldValue(part: Multipart & { type: "field" }, limit: number): string {
  if (part.valueTruncated) throw new HttpError(413, "body_too_large", `form field "${part.fieldname}" is over ${limit} bytes`);
  return String(part.value);
}

/** The request's parts; a body the multipart parser cannot read is a 400 naming its reason, not a crash. */
async function* partsOf(req: FastifyRequest, limits: Record<string, number>): AsyncGenerator<Multipart> {
  const it = req.parts({ limits })[Symbol.asyncIterator]();
  for (;;) {
    let r: IteratorResult<Multipart>;
    try {
      r = await it.next();
    } catch (err) {
      const e = err as { statusCode?: number; message?: string };
      if (err instanceof HttpError || typeof e.statusCode === "number") throw err;
      throw new HttpError(400, "bad_multipart", `malformed multipart/form-data body: ${e.message}`);
    }
    if (r.done) return;
    yield r.value;
  }
}

/** multipart/form-data for /v1/predict: one `audio` file, `text` and `id` fields (text may be a file too). */
async function predictMultipart(req: FastifyRequest, ctx: ServeContext): Promise<ItemInput> {
  const s = ctx.settings;
  const fieldLimit = s.maxTextChars * 4 + 1024;
  const item: ItemInput = {};
  const seen = new Set<string>();
  for await (const part of partsOf(req, { files: 2, fields: 4, parts: 6, fileSize: s.bodyLimitBytes, fieldSize: fieldLimit })) {
    const name = part.fieldname;
    if (!["audio", "text", "id"].includes(name)) {
      if (part.type === "file") part.file.resume();
      throw new HttpError(400, "unknown_field", `unknown form field "${name}" (fields: audio (a file), text, id)`);
    }
    if (seen.has(name)) throw new HttpError(400, "bad_request", `form field "${name}" given twice`);
    seen.add(name);
    if (part.type === "file") {
      const bytes = await part.toBuffer();
      if (name === "audio") item.audio = { bytes, name: part.filename || "audio" };
      else item[name as "text" | "id"] = bytes.toString("utf8");
    } else {
      if (name === "audio") throw new HttpError(400, "bad_request", `form field "audio" must be a file (curl -F audio=@clip.wav)`);
      item[name as "text" | "id"] = fieldValue(part, fieldLimit);
    }
  }
  return item;
}

/** multipart/form-data for /v1/predict/batch: a `csv` part and the audio files its `audio` column names. */
async function batchMultipart(req: FastifyRequest, ctx: ServeContext): Promise<ItemInput[]> {
  const s = ctx.settings;
  let csv: string | null = null;
  const files = new Map<string, Buffer>();
  let total = 0;
  for await (const part of partsOf(req, { files: s.maxBatch + 1, fields: 1, fileSize: s.bodyLimitBytes })) {
    if (part.fieldname === "csv") {
      csv = part.type === "file" ? (await part.toBuffer()).toString("utf8") : fieldValue(part, s.bodyLimitBytes);
      continue;
    }
    if (part.type !== "file") throw new HttpError(400, "unknown_field", `unknown form field "${part.fieldname}" (a batch upload has a csv part and audio files)`);
    const bytes = await part.toBuffer();
    total += bytes.length;
    if (total > s.bodyLimitBytes) throw new HttpError(413, "body_too_large", `the uploaded files are over ${s.bodyLimitBytes} bytes in all (--body-limit)`);
    const key = part.filename || part.fieldname;
    if (files.has(key)) throw new HttpError(400, "bad_request", `two uploaded files are named "${key}"`);
    files.set(key, bytes);
  }
  if (csv === null) throw new HttpError(400, "bad_request", `no "csv" part: a batch upload has a csv part (columns id, text, audio, audio_base64) and the audio files its audio column names`);
  const items = itemsFromCsv(csv, files);
  const used = new Set(items.map((i) => (i.audio && typeof i.audio === "object" && "bytes" in i.audio ? i.audio.name : null)));
  const unused = [...files.keys()].filter((f) => !used.has(f));
  if (unused.length > 0) throw new HttpError(400, "bad_request", `uploaded file(s) no row names: ${unused.slice(0, 5).join(", ")}`);
  return items;
}

const CSV_COLUMNS = ["id", "utter_id", "text", "audio", "audio_base64"];

/** Batch CSV: columns id (or utter_id), text, audio (an uploaded file's name), audio_base64. */
function itemsFromCsv(csv: string, files: Map<string, Buffer> = new Map()): ItemInput[] {
  let rows: Record<string, string>[];
  let header: string[] = [];
  try {
    // The header is kept as read: a header-only CSV with a wrong column is refused too, not answered with [].
    rows = parse(csv, { columns: (h: string[]) => (header = h), skip_empty_lines: true, bom: true }) as Record<string, string>[];
  } catch (err) {
    throw new HttpError(400, "bad_csv", `the CSV cannot be parsed: ${(err as Error).message}`);
  }
  const unknown = header.filter((c) => !CSV_COLUMNS.includes(c));
  if (unknown.length > 0)
    throw new HttpError(400, "unknown_field", `unknown CSV column(s) ${unknown.join(", ")}; a batch CSV has columns id (or utter_id), text, audio (an uploaded file's name), audio_base64`);
  return rows.map((r, i) => {
    const item: ItemInput = {};
    const id = r.id || r.utter_id;
    if (id) item.id = id;
    if (r.text !== undefined) item.text = r.text;
    try {
      if (r.audio && r.audio_base64) throw new HttpError(400, "bad_request", "give audio or audio_base64, not both");
      if (r.audio) {
        const bytes = files.get(r.audio);
        if (!bytes) throw new HttpError(400, "bad_request", `audio "${r.audio}" was not uploaded with the CSV`);
        item.audio = { bytes, name: r.audio };
      } else if (r.audio_base64) item.audio = { bytes: decodeBase64(r.audio_base64, "audio_base64"), name: `row ${i + 1}` };
    } catch (err) {
      if (err instanceof HttpError) throw new HttpError(err.statusCode, err.code, `CSV row ${i + 1}${id ? ` (${id})` : ""}: ${err.message}`);
      throw err;
    }
    return item;
  });
}

/** Logs what a request was about: sizes always, the words only with --log-content. */
function logItem(req: FastifyRequest, ctx: ServeContext, item: ItemInput): void {
  const audio = item.audio;
  const audioBytes = audio && typeof audio === "object" ? ("bytes" in audio ? audio.bytes.length : audio.channels[0].length * audio.channels.length * 4) : undefined;
  addLog(req, {
    ...(item.text !== undefined ? { text_chars: item.text.length } : {}),
    ...(audioBytes !== undefined ? { audio_bytes: audioBytes } : {}),
    ...(ctx.settings.logContent && item.text !== undefined ? { text: item.text } : {}),
  });
}

export function registerPredictRoutes(app: FastifyInstance, ctx: ServeContext): void {
  app.addContentTypeParser(/^audio\/.+/, { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.addContentTypeParser("application/octet-stream", { parseAs: "buffer" }, (_req, body, done) => done(null, body));
  app.addContentTypeParser("text/csv", { parseAs: "string" }, (_req, body, done) => done(null, body));

  app.post(
    "/v1/predict",
    { schema: { querystring: predictQuery, body: { content: { "application/json": { schema: itemSchema } } } } },
    async (req, reply) => {
      // From the request's arrival (Fastify's clock starts at onRequest), so body upload and parsing count.
      const received = performance.now() - reply.elapsedTime;
      const service = readyService(ctx);
      const q = req.query as { text?: string; id?: string };
      const kind = contentKind(req);
      let item: ItemInput;
      if (kind === "json") item = itemFromJson(req.body as JsonItem);
      else if (kind === "multipart") item = await predictMultipart(req, ctx);
      else if (kind === "audio") item = { audio: { bytes: req.body as Buffer, name: "body" } };
      else throw new HttpError(415, "unsupported_media_type", `Content-Type "${req.headers["content-type"] ?? ""}" is not taken here; send ${PREDICT_TYPES}`);
      if (kind !== "audio" && (q.text !== undefined || q.id !== undefined))
        throw new HttpError(400, "bad_request", "?text= and ?id= go with a raw audio body; put them in the JSON or form instead");
      if (q.text !== undefined) item.text = q.text;
      if (q.id !== undefined) item.id = q.id;
      logItem(req, ctx, item);
      const prepared = await service.prepare(item, received);
      const [answer] = service.run([prepared], clientGone(req, reply));
      const body = await answer;
      addLog(req, { label: body.label, ms_queue: body.timings_ms.queue });
      return body;
    },
  );

  app.post(
    "/v1/predict/batch",
    { schema: { querystring: { type: "object", additionalProperties: false, properties: tokenQuery }, body: { content: { "application/json": { schema: batchJson } } } } },
    async (req, reply) => {
      const received = performance.now() - reply.elapsedTime;
      const service = readyService(ctx);
      const kind = contentKind(req);
      let items: ItemInput[];
      let parseErrors: (HttpError | null)[] = [];
      if (kind === "json") {
        const body = req.body as unknown[] | { items: unknown[] };
        const list = Array.isArray(body) ? body : body.items;
        if (list.length > ctx.settings.maxBatch)
          throw new HttpError(413, "batch_too_large", `${list.length} items; this server takes at most ${ctx.settings.maxBatch} per batch (--max-batch)`);
        items = [];
        parseErrors = list.map((j, i) => {
          try {
            items[i] = itemFromJson(checkBatchItem(j, `item ${i + 1}`), `item ${i + 1}`);
            return null;
          } catch (err) {
            const id = (j as { id?: unknown } | null)?.id;
            items[i] = typeof id === "string" ? { id } : {};
            if (err instanceof HttpError) return err;
            throw err;
          }
        });
      } else if (kind === "csv") items = itemsFromCsv(req.body as string);
      else if (kind === "multipart") items = await batchMultipart(req, ctx);
      else throw new HttpError(415, "unsupported_media_type", `Content-Type "${req.headers["content-type"] ?? ""}" is not taken here; send ${BATCH_TYPES}`);
      if (items.length > ctx.settings.maxBatch)
        throw new HttpError(413, "batch_too_large", `${items.length} items; this server takes at most ${ctx.settings.maxBatch} per batch (--max-batch)`);
      if (items.length > ctx.settings.queueSize)
        throw new HttpError(413, "batch_too_large", `${items.length} items is more than the encoder queue holds (${ctx.settings.queueSize}, --queue-size)`);

      // Each item is checked and decoded on its own: a bad one gets its error, the others their answers.
      type Slot = { prepared: PreparedItem } | { error: unknown };
      const slots: Slot[] = [];
      for (let i = 0; i < items.length; i++) {
        if (parseErrors[i]) {
          slots.push({ error: parseErrors[i] });
          continue;
        }
        try {
          slots.push({ prepared: await service.prepare(items[i], received) });
        } catch (err) {
          if (describeError(err).status === 500) throw err;
          slots.push({ error: err });
        }
      }
      const ok = slots.flatMap((s) => ("prepared" in s ? [s.prepared] : []));
      const answers = service.run(ok, clientGone(req, reply));
      const settled = await Promise.allSettled(answers);
      let k = 0;
      const predictions = slots.map((s, i) => {
        const id = items[i].id !== undefined ? { id: items[i].id } : {};
        const failure = (err: unknown) => {
          const d = describeError(err);
          if (d.status === 500) throw err;
          return { ...id, index: i, label: null, probabilities: null, error: d.message, code: d.code, status: d.status };
        };
        if ("error" in s) return failure(s.error);
        const r = settled[k++];
        return r.status === "fulfilled" ? { ...r.value, index: i } : failure(r.reason);
      });
      const failed = predictions.filter((p) => p.label === null).length;
      addLog(req, { items: items.length, failed });
      if ((req.headers.accept ?? "").includes("text/csv")) {
        const labels = service.predictor.labels;
        const hasBeta = predictions.some((p) => "beta" in p);
        reply.type("text/csv; charset=utf-8");
        return stringify(
          predictions.map((p) => [
            p.id ?? "",
            p.label ?? "",
            ...labels.map((l) => p.probabilities?.[l] ?? ""),
            ...(hasBeta ? [(p as PredictionBody).beta ?? ""] : []),
            "error" in p ? p.error : "",
          ]),
          { header: true, columns: ["id", "label", ...labels.map((l) => `probabilities.${l}`), ...(hasBeta ? ["beta"] : []), "error"] },
        );
      }
      return { predictions, failed };
    },
  );
}
