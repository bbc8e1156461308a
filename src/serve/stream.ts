/**
 * GET /v1/stream (WebSocket): live emotion while someone speaks.
 *
 * Protocol (JSON text messages, PCM in binary messages):
 *   client: {"type":"start","sample_rate":48000,"encoding":"pcm16"|"float32","channels":1,"window":3,"hop":1,"id":"..","text":".."}
 *           binary frames of little-endian interleaved PCM at that rate (whole sample frames per message)
 *           {"type":"text","text":"...","replace":false}   words as they are transcribed (appended; replace sets the whole text)
 *           {"type":"end"}                                 the utterance ended: the final prediction follows
 *   server: {"type":"ready", ...settings}
 *           {"type":"window","index","start_s","end_s","label","probabilities","beta"?,"timings_ms","latency_ms"}
 *             one per hop once `window` seconds have arrived (ends at window, window+hop, ...; stream time),
 *             or with "error"/"code" (e.g. no text yet for a run that needs it), or "dropped": true when the
 *             encoder fell behind and a newer window replaced it
 *           {"type":"partial",...}  text-only runs: a prediction of the words so far after each text message
 *           {"type":"final","duration_s","label","probabilities","beta"?,"audio","timings_ms","latency_ms","windows"}
 *           {"type":"error","code","message"}  a message that could not be used (the connection stays open)
 * After "final" the next audio starts a new utterance with the same settings (or send a new "start").
 *
 * Each window is the last `window` seconds of raw audio, prepared as a clip of its own (mono, resampled with
 * the training resampler, peak-normalised, cut): the same as POSTing those samples. The final prediction
 * streams the whole utterance through ClipBuilders (bounded memory), which gives exactly what POSTing the
 * whole recording gives.
 */
import { Ajv } from "ajv";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type {} from "@fastify/websocket";
import type { WebSocket } from "ws";
import { ClipBuilder } from "../audio/clip.js";
import { AudioInputError } from "../audio/errors.js";
import { mixToMono } from "../audio/decode.js";
import { addLog, readyService, type ServeContext } from "./context.js";
import { audioHttpError, describeError, HttpError } from "./errors.js";
import { PCM_ENCODINGS, pcmToChannels, validationMessage, type PcmEncoding } from "./inputs.js";
import type { PredictionBody, PredictionService } from "./service.js";
import { QueueFullError, type Submitted } from "./scheduler.js";

// allErrors off: messages come from untrusted clients (see server.ts).
const ajv = new Ajv({ allErrors: false });
const MESSAGE = ajv.compile({
  oneOf: [
    {
      type: "object",
      additionalProperties: false,
      required: ["type"],
      properties: {
        type: { const: "start" },
        sample_rate: { type: "integer", minimum: 1000, maximum: 384000 },
        encoding: { enum: [...PCM_ENCODINGS] },
        channels: { type: "integer", minimum: 1, maximum: 32 },
        window: { type: "number", minimum: 0.1, maximum: 60 },
        hop: { type: "number", minimum: 0.05, maximum: 60 },
        id: { type: "string", maxLength: 256 },
        text: { type: "string" },
      },
    },
    {
      type: "object",
      additionalProperties: false,
      required: ["type", "text"],
      properties: { type: { const: "text" }, text: { type: "string" }, replace: { type: "boolean" } },
    },
    { type: "object", additionalProperties: false, required: ["type"], properties: { type: { const: "end" } } },
  ],
});

interface StreamSettings {
  sampleRate: number;
  encoding: PcmEncoding;
  channels: number;
  window: number;
  hop: number;
  id?: string;
}

/** Cuts windows of W samples every H samples (stream time) from mono audio arriving in pieces; H <= W. */
export class WindowCutter {
  private buf = new Float32Array(1 << 14);
  private bufLen = 0;
  /** Global index of buf[0]. */
  private bufStart = 0;
  total = 0;
  private next: number;

  constructor(
    readonly W: number,
    readonly H: number,
  ) {
    this.next = W;
  }

  /** Adds samples; returns the windows that became complete, as [start, end) in samples with their data. */
  push(x: Float32Array): { start: number; end: number; samples: Float32Array }[] {
    if (this.bufLen + x.length > this.buf.length) {
      const grown = new Float32Array(Math.max(this.bufLen + x.length, this.buf.length * 2));
      grown.set(this.buf.subarray(0, this.bufLen));
      this.buf = grown;
    }
    this.buf.set(x, this.bufLen);
    this.bufLen += x.length;
    this.total += x.length;
    const out: { start: number; end: number; samples: Float32Array }[] = [];
    while (this.total >= this.next) {
      const start = this.next - this.W;
      out.push({ start, end: this.next, samples: this.buf.slice(start - this.bufStart, this.next - this.bufStart) });
      this.next += this.H;
    }
    const keepFrom = this.next - this.W;
    if (keepFrom > this.bufStart) {
      const drop = keepFrom - this.bufStart;
      this.buf.copyWithin(0, drop, this.bufLen);
      this.bufLen -= drop;
      this.bufStart = keepFrom;
    }
    return out;
  }
}

interface Utterance {
  cutter: WindowCutter | null;
  builders: (ClipBuilder | null)[];
  text: string;
  windows: number;
  frames: number;
  /** When the latest audio arrived (the final's latency is measured from there). */
  lastAudioAt: number;
}

interface PendingWindow {
  index: number;
  submitted: Submitted;
  message: Record<string, unknown>;
}

const ms = (x: number) => Math.round(x * 100) / 100;

class StreamSession {
  private settings: StreamSettings | null = null;
  private utt: Utterance | null = null;
  private pending: PendingWindow[] = [];
  /** Serialises the asynchronous parts (window preparation, the final) in message order. */
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  readonly stats = { windows: 0, dropped: 0, finals: 0, errors: 0, frames: 0, opened: performance.now() };

  constructor(
    private readonly socket: WebSocket,
    private readonly service: PredictionService,
    private readonly ctx: ServeContext,
  ) {}

  private get needsAudio(): boolean {
    return this.service.needs.includes("audio");
  }

  private send(msg: Record<string, unknown>): void {
    if (this.socket.readyState === this.socket.OPEN) this.socket.send(JSON.stringify(msg));
  }

  private error(code: string, message: string): void {
    this.stats.errors++;
    this.send({ type: "error", code, message });
  }

  onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    if (isBinary) return this.onAudio(data);
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(data.toString("utf8"));
    } catch {
      return this.error("bad_json", "text messages are JSON: {\"type\":\"start\"|\"text\"|\"end\", ...}; audio goes in binary messages");
    }
    if (!MESSAGE(msg)) {
      const known = ["start", "text", "end"].includes(msg?.type as string);
      const errors = (MESSAGE.errors ?? []).filter((e) => !known || e.schemaPath.startsWith(`#/oneOf/${["start", "text", "end"].indexOf(msg.type as string)}`));
      const detail = validationMessage(errors, "message");
      return this.error("invalid_message", known ? `bad "${msg.type}" message: ${detail}` : `unknown message type ${JSON.stringify(msg?.type)} (expected start, text, end)`);
    }
    if (msg.type === "start") this.onStart(msg);
    else if (msg.type === "text") this.onText(msg.text as string, msg.replace === true);
    else this.onEnd();
  }

  private onStart(m: Record<string, unknown>): void {
    const s = this.ctx.settings;
    const window = (m.window as number | undefined) ?? s.window;
    const hop = (m.hop as number | undefined) ?? s.hop;
    if (hop > window) return this.error("invalid_message", `hop (${hop} s) must not exceed window (${window} s)`);
    if (this.needsAudio && m.sample_rate === undefined) return this.error("invalid_message", "start needs sample_rate (Hz) of the audio you will send");
    if (this.utt && (this.utt.frames > 0 || this.utt.text)) return this.error("invalid_message", `an utterance is in progress; send {"type":"end"} first`);
    this.settings = {
      sampleRate: (m.sample_rate as number | undefined) ?? 16000,
      encoding: (m.encoding as PcmEncoding | undefined) ?? "pcm16",
      channels: (m.channels as number | undefined) ?? 1,
      window,
      hop,
      ...(m.id !== undefined ? { id: m.id as string } : {}),
    };
    this.utt = null;
    if (m.text !== undefined) this.current().text = m.text as string;
    const opts = this.service.predictor.audioClipOptions.find((o) => o !== null);
    this.send({
      type: "ready",
      sample_rate: this.settings.sampleRate,
      encoding: this.settings.encoding,
      channels: this.settings.channels,
      window,
      hop,
      needs: this.service.needs,
      labels: this.service.predictor.labels,
      model_sample_rate: opts?.targetSampleRate ?? null,
      max_seconds: opts?.maxSeconds ?? null,
    });
  }

  private current(): Utterance {
    if (!this.utt) {
      const st = this.settings!;
      const opts = this.service.predictor.audioClipOptions;
      this.utt = {
        cutter: this.needsAudio ? new WindowCutter(Math.round(st.window * st.sampleRate), Math.round(st.hop * st.sampleRate)) : null,
        builders: opts.map((o) => (o ? new ClipBuilder(st.sampleRate, "stream", o) : null)),
        text: "",
        windows: 0,
        frames: 0,
        lastAudioAt: performance.now(),
      };
    }
    return this.utt;
  }

  private onAudio(data: Buffer): void {
    const st = this.settings;
    if (!st) return this.error("no_start", `send {"type":"start","sample_rate":...} before audio`);
    if (!this.needsAudio) return this.error("audio_not_used", "this run's head uses text only: send text messages");
    let mono: Float32Array;
    try {
      mono = mixToMono(pcmToChannels(data, st.encoding, st.channels, "audio frame"));
    } catch (err) {
      return this.error("bad_pcm", `${(err as Error).message}; the frame was ignored`);
    }
    for (let i = 0; i < mono.length; i++)
      if (!Number.isFinite(mono[i])) return this.error("bad_pcm", "audio frame: NaN/Inf samples; the frame was ignored");
    const utt = this.current();
    const arrived = performance.now();
    utt.frames += mono.length;
    utt.lastAudioAt = arrived;
    this.stats.frames += mono.length;
    for (const b of utt.builders) b?.push(mono);
    for (const w of utt.cutter!.push(mono)) this.window(utt, w, arrived);
  }

  private window(utt: Utterance, w: { start: number; end: number; samples: Float32Array }, arrived: number): void {
    const st = this.settings!;
    const index = utt.windows++;
    const base = { type: "window", index, start_s: w.start / st.sampleRate, end_s: w.end / st.sampleRate };
    const text = utt.text;
    this.chain = this.chain.then(async () => {
      const item = { audio: { channels: [w.samples], sampleRate: st.sampleRate, name: `window ${index}` }, ...(text ? { text } : {}) };
      let submitted: Submitted;
      try {
        const prepared = await this.service.prepare(item, arrived);
        // A stream that sends faster than the encoder keeps up drops its oldest waiting window, not the newest.
        if (this.pending.length >= this.ctx.settings.maxPendingWindows) this.dropWaiting(1, "the encoder fell behind the stream; a newer window replaced this one");
        [submitted] = this.service.scheduler.submit([prepared.job]);
        const entry: PendingWindow = { index, submitted, message: base };
        this.pending.push(entry);
        submitted.result.then(
          (r) => {
            this.pending.splice(this.pending.indexOf(entry), 1);
            const latency = performance.now() - arrived;
            this.stats.windows++;
            this.ctx.metrics.windows.inc({ outcome: "sent" });
            this.ctx.metrics.windowLatency.observe(latency / 1000);
            this.send({
              ...base,
              label: r.label,
              probabilities: r.probabilities,
              ...(r.beta !== undefined ? { beta: r.beta } : {}),
              timings_ms: { decode: ms(prepared.decodeMs), ...Object.fromEntries(Object.entries(r.timings_ms).map(([k, v]) => [k, ms(v)])) },
              latency_ms: ms(latency),
            });
          },
          (err) => {
            const i = this.pending.indexOf(entry);
            if (i < 0) return; // dropped, already reported
            this.pending.splice(i, 1);
            this.windowError(base, err);
          },
        );
      } catch (err) {
        this.windowError(base, err);
      }
    });
  }

  /** Withdraws up to `n` of this stream's windows that have not started, oldest first, telling the client. */
  private dropWaiting(n: number, reason: string): void {
    for (const p of [...this.pending]) {
      if (n <= 0) break;
      if (!p.submitted.cancel(new HttpError(503, "dropped", reason))) continue;
      n--;
      this.pending.splice(this.pending.indexOf(p), 1);
      this.stats.dropped++;
      this.ctx.metrics.windows.inc({ outcome: "dropped" });
      this.send({ ...p.message, dropped: true, reason });
    }
  }

  private windowError(base: Record<string, unknown>, err: unknown): void {
    const d = describeError(err instanceof AudioInputError ? audioHttpError(err) : err);
    this.ctx.metrics.windows.inc({ outcome: "error" });
    this.send({ ...base, error: d.message, code: d.code });
  }

  private onText(text: string, replace: boolean): void {
    if (!this.settings) return this.error("no_start", `send {"type":"start"} before text`);
    const utt = this.current();
    const next = replace ? text : utt.text ? `${utt.text} ${text}` : text;
    if (next.length > this.ctx.settings.maxTextChars)
      return this.error("text_too_long", `the utterance's text would have ${next.length} characters; this server takes at most ${this.ctx.settings.maxTextChars} (--max-text-chars); the segment was ignored`);
    utt.text = next;
    if (this.needsAudio) return;
    // Text-only runs: the words so far, at once.
    const words = utt.text;
    const received = performance.now();
    this.chain = this.chain.then(() => this.predictWhole({ type: "partial" }, { text: words }, received));
  }

  private onEnd(): void {
    if (!this.settings) return this.error("no_start", `send {"type":"start"} first`);
    const utt = this.current();
    this.utt = null;
    const st = this.settings;
    const base = { type: "final", ...(st.id !== undefined ? { id: st.id } : {}), windows: utt.windows };
    if (this.needsAudio && utt.frames === 0) {
      this.stats.errors++;
      this.send({ ...base, error: "no audio was received for this utterance", code: "missing_audio" });
      return;
    }
    this.chain = this.chain.then(async () => {
      try {
        const clips = utt.builders.map((b) => b?.finishClip({ file: "stream", codec: "pcm", description: `stream ${st.encoding}`, channels: st.channels }) ?? null);
        const audio = this.needsAudio ? this.service.predictor.preparedAudio(clips) : null;
        await this.predictWhole(base, { ...(utt.text ? { text: utt.text } : {}) }, utt.lastAudioAt, audio ?? undefined, true);
        this.stats.finals++;
      } catch (err) {
        this.windowError(base, err);
      }
    });
  }

  /** A prediction of the whole utterance so far (final, or text-only partials). */
  private async predictWhole(
    base: Record<string, unknown>,
    item: { text?: string },
    received: number,
    audio?: ReturnType<PredictionService["predictor"]["preparedAudio"]>,
    final = false,
  ): Promise<void> {
    try {
      const prepared = await this.service.prepare(item, received, audio);
      let answer: Promise<PredictionBody>;
      try {
        [answer] = this.service.run([prepared]);
      } catch (err) {
        // The final answer matters more than this stream's own windows still waiting: make room once.
        if (!(final && err instanceof QueueFullError && this.pending.length > 0)) throw err;
        this.dropWaiting(Infinity, "superseded by the final prediction (the encoder queue was full)");
        [answer] = this.service.run([prepared]);
      }
      const body: PredictionBody = await answer;
      const { id: _id, ...rest } = body;
      this.send({ ...base, ...rest, duration_s: body.audio?.duration_s ?? null, latency_ms: ms(performance.now() - received) });
    } catch (err) {
      this.windowError(base, err);
    }
  }

  /** Stops taking messages, lets the queued predictions finish (up to `waitMs`), then closes. */
  async shutdown(code: number, reason: string, waitMs: number): Promise<void> {
    this.closed = true;
    const pendingDone = Promise.allSettled([this.chain, ...this.pending.map((p) => p.submitted.result)]);
    await Promise.race([pendingDone, new Promise((r) => setTimeout(r, waitMs))]);
    if (this.socket.readyState === this.socket.OPEN) this.socket.close(code, reason);
  }

  onClose(): void {
    this.closed = true;
    for (const p of this.pending) p.submitted.cancel(new HttpError(499, "client_gone", "client gone"));
  }
}

export function registerStream(app: FastifyInstance, ctx: ServeContext, sessions: Set<StreamSession>): void {
  app.get(
    "/v1/stream",
    {
      websocket: true,
      schema: { querystring: { type: "object", additionalProperties: false, properties: { token: { type: "string" } } } },
      preValidation: async () => {
        readyService(ctx);
        if (sessions.size >= ctx.settings.maxStreams)
          throw new HttpError(503, "too_many_streams", `${sessions.size} streams are open; this server takes at most ${ctx.settings.maxStreams} (--max-streams)`, {
            "retry-after": "5",
          });
      },
    },
    (socket: WebSocket, req: FastifyRequest) => {
      const session = new StreamSession(socket, readyService(ctx), ctx);
      sessions.add(session);
      ctx.metrics.streams.inc();
      socket.on("message", (data: Buffer, isBinary: boolean) => {
        try {
          session.onMessage(data, isBinary);
        } catch (err) {
          req.log.error({ err }, "stream message failed");
          session["error"]("internal", "internal error (a bug; the server log has the details)");
        }
      });
      socket.on("close", () => {
        sessions.delete(session);
        ctx.metrics.streams.dec();
        session.onClose();
        const s = session.stats;
        req.log.info(
          { route: "/v1/stream", windows: s.windows, dropped: s.dropped, finals: s.finals, errors: s.errors, audio_frames: s.frames, ms: Math.round(performance.now() - s.opened) },
          "stream closed",
        );
      });
      addLog(req, { stream: true });
    },
  );
}

export type { StreamSession };
