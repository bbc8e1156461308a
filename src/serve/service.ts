/**
 * One loaded run as a service: checks an item against what the run's head needs, prepares its audio exactly
 * as extraction did (Predictor.prepareAudio), and puts the model work on the shared queue with a deadline.
 * Routes and streams both go through here, so every way in gets the same checks, limits and answers.
 */
import type { LoadedClip } from "../audio/clip.js";
import { AudioInputError } from "../audio/errors.js";
import type { Predictor, PreparedAudio } from "../predict/predict.js";
import { audioHttpError, HttpError } from "./errors.js";
import type { ItemInput } from "./inputs.js";
import type { ServeMetrics } from "./metrics.js";
import { CancelledError, Scheduler, type JobInput, type JobResult } from "./scheduler.js";

export const LONG_AUDIO = ["cut", "reject"] as const;
export type LongAudio = (typeof LONG_AUDIO)[number];

export interface ServiceLimits {
  /** Decoded audio longer than this is refused (413) before any model work. */
  maxAudioSeconds: number;
  /** Audio longer than the run's max_seconds: cut like training (with a warning), or refuse (413). */
  longAudio: LongAudio;
  /** Characters of text accepted (longer: 413); the tokenizer cuts to the store's max_len as at training. */
  maxTextChars: number;
  /** Per-request deadline for the queue and the model work. */
  timeoutMs: number;
}

export interface AudioSummary {
  duration_s: number;
  kept_s: number;
  truncated: boolean;
  sample_rate: number;
  channels: number;
  format: string;
}

/** The JSON answer for one utterance. */
export interface PredictionBody {
  id?: string;
  label: string;
  probabilities: Record<string, number>;
  beta?: number;
  timings_ms: { decode: number; queue: number; encode_audio: number; encode_text: number; head: number; total: number };
  audio?: AudioSummary;
  text_batch?: number;
  warnings?: string[];
}

/** An item checked and decoded, ready for the queue. */
export interface PreparedItem {
  id?: string;
  job: JobInput;
  decodeMs: number;
  audio?: AudioSummary;
  warnings: string[];
  received: number;
}

const round = (ms: number) => Math.round(ms * 100) / 100;

export class PredictionService {
  readonly scheduler: Scheduler;

  constructor(
    readonly predictor: Predictor,
    readonly limits: ServiceLimits,
    queue: { capacity: number; textBatch: number },
    private readonly metrics?: ServeMetrics,
  ) {
    // The queue slices batched text vectors by the encoder's row width (all layers of a layer store).
    const inputs = predictor.head.inputs.map((input, k) => ({ modality: input.modality, dim: predictor.encoderRowSize(k) }));
    this.scheduler = new Scheduler(
      {
        inputs,
        embedTexts: (k, texts) => predictor.embedTexts(k, texts),
        embedClip: (k, clip) => predictor.embedClip(k, clip),
        classify: (features, n) => predictor.classify(features, n),
        ...(predictor.takesSequences
          ? {
              sequences: {
                text: (k: number, text: string) => predictor.textSequence(k, text),
                clip: (k: number, clip: LoadedClip) => predictor.clipSequence(k, clip),
                classify: async (inputs: readonly Float32Array[]) => {
                  const row = Object.fromEntries(predictor.head.inputs.map((input, k) => [input.name, { values: inputs[k] }]));
                  return (await predictor.classifySequences([row]))[0];
                },
              },
            }
          : {}),
      },
      {
        ...queue,
        onStage: (stage, ms, batch) => {
          metrics?.stages.observe({ stage }, ms / 1000);
          if (stage === "encode_text") metrics?.textBatch.observe(batch);
        },
      },
    );
  }

  /** The modalities every item must bring. */
  get needs(): string[] {
    return this.predictor.modalities;
  }

  /** What the run needs, in words, for messages. */
  private needsText(): string {
    const stores = this.predictor.head.inputs.map((i) => `"${i.name}"`).join(", ");
    return `this run's head needs ${this.needs.join(" and ")} (store${this.predictor.head.inputs.length > 1 ? "s" : ""} ${stores})`;
  }

  /**
   * Checks an item and decodes its audio; HttpError for anything the run cannot use. `ready` is audio already
   * prepared elsewhere (a live stream's clips) in place of `item.audio`.
   */
  async prepare(item: ItemInput, received = performance.now(), ready?: PreparedAudio): Promise<PreparedItem> {
    const warnings: string[] = [];
    const needText = this.needs.includes("text");
    const needAudio = this.needs.includes("audio");
    if (needText) {
      if (item.text === undefined) throw new HttpError(400, "missing_text", `no text given; ${this.needsText()}`);
      if (item.text.trim() === "") throw new HttpError(400, "empty_text", `the text is empty; ${this.needsText()}`);
      if (item.text.length > this.limits.maxTextChars)
        throw new HttpError(413, "text_too_long", `the text has ${item.text.length} characters; this server takes at most ${this.limits.maxTextChars} (--max-text-chars)`);
    } else if (item.text !== undefined && item.text !== "") warnings.push("text ignored: this run's head uses audio only");
    if (needAudio && item.audio === undefined && !ready) throw new HttpError(400, "missing_audio", `no audio given; ${this.needsText()}`);
    if (!needAudio && item.audio !== undefined) warnings.push("audio ignored: this run's head uses text only");

    let prepared: PreparedAudio | null = ready ?? null;
    let decodeMs = 0;
    if (needAudio && !prepared) {
      const t = performance.now();
      try {
        prepared = await this.predictor.prepareAudio(item.audio!);
      } catch (err) {
        if (err instanceof AudioInputError) throw audioHttpError(err);
        throw err;
      }
      decodeMs = performance.now() - t;
      this.metrics?.stages.observe({ stage: "decode" }, decodeMs / 1000);
    }
    if (prepared) {
      const { duration_s, kept_s, truncated } = prepared;
      if (duration_s > this.limits.maxAudioSeconds)
        throw new HttpError(413, "audio_too_long", `the audio is ${duration_s.toFixed(2)} s; this server takes at most ${this.limits.maxAudioSeconds} s (--max-audio-seconds)`);
      if (truncated) {
        const msg = `the audio is ${duration_s.toFixed(2)} s, longer than the run's max_seconds (${kept_s.toFixed(2)} s)`;
        if (this.limits.longAudio === "reject") throw new HttpError(413, "audio_too_long", `${msg}; this server refuses longer audio (--long-audio reject)`);
        warnings.push(`${msg}: only the first ${kept_s.toFixed(2)} s were used, as at training`);
      }
    }
    const job: JobInput = {
      texts: this.predictor.head.inputs.map((i) => (i.modality === "text" ? item.text! : null)),
      clips: prepared ? prepared.clips : this.predictor.head.inputs.map(() => null),
    };
    return {
      ...(item.id !== undefined ? { id: item.id } : {}),
      job,
      decodeMs,
      ...(prepared
        ? {
            audio: {
              duration_s: prepared.duration_s,
              kept_s: prepared.kept_s,
              truncated: prepared.truncated,
              sample_rate: prepared.info.sampleRate,
              channels: prepared.info.channels,
              format: prepared.info.description,
            },
          }
        : {}),
      warnings,
      received,
    };
  }

  /**
   * Queues prepared items together (all or none: QueueFullError) and answers each within the deadline
   * (503 "timeout" otherwise). `signal` withdraws waiting work when the client has gone.
   */
  run(items: readonly PreparedItem[], signal?: AbortSignal): Promise<PredictionBody>[] {
    const submitted = this.scheduler.submit(items.map((i) => i.job));
    const onAbort = () => submitted.forEach((s) => s.cancel(new CancelledError("client gone")));
    signal?.addEventListener("abort", onAbort, { once: true });
    const answers = submitted.map(async (s, n) => {
      const item = items[n];
      let timer: NodeJS.Timeout | undefined;
      try {
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            s.cancel(new CancelledError("timeout"));
            reject(
              new HttpError(503, "timeout", `no answer within ${this.limits.timeoutMs} ms (--timeout); the server is busy, retry later`, {
                "retry-after": String(this.scheduler.retryAfter()),
              }),
            );
          }, this.limits.timeoutMs);
        });
        const r = await Promise.race([s.result, deadline]);
        return this.body(item, r);
      } finally {
        clearTimeout(timer);
      }
    });
    void Promise.allSettled(answers).then(() => signal?.removeEventListener("abort", onAbort));
    return answers;
  }

  private body(item: PreparedItem, r: JobResult): PredictionBody {
    const t = r.timings_ms;
    return {
      ...(item.id !== undefined ? { id: item.id } : {}),
      label: r.label,
      probabilities: r.probabilities,
      ...(r.beta !== undefined ? { beta: r.beta } : {}),
      timings_ms: {
        decode: round(item.decodeMs),
        queue: round(t.queue),
        encode_audio: round(t.encode_audio),
        encode_text: round(t.encode_text),
        head: round(t.head),
        total: round(performance.now() - item.received),
      },
      ...(item.audio ? { audio: item.audio } : {}),
      ...(r.text_batch !== undefined ? { text_batch: r.text_batch } : {}),
      ...(item.warnings.length ? { warnings: item.warnings } : {}),
    };
  }
}
