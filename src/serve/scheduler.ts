/**
 * The encoder queue. All model work runs here, one step at a time (the encoders are onnxruntime sessions that
 * already use every core; running requests side by side would only make each slower), in arrival order.
 *
 * Batching only where it changes no number:
 *  - texts of waiting jobs are encoded together (up to `textBatch` per call): BERT-family encoders mask
 *    padding, and the tests hold a text's probabilities alone and amid 200 others to exact equality;
 *  - every audio clip runs alone (exact mode: no padding, no batch-size effect), and the head runs per job.
 * So the answer to a request never depends on what else is in flight.
 *
 * The queue is bounded (`capacity` jobs waiting or running): a full queue refuses new work at once
 * (QueueFullError -> 503 with Retry-After) instead of letting latency grow without bound. A job can be
 * cancelled (timeout, client gone) while it waits; if it is already running its result is dropped.
 */
import type { LoadedClip } from "../audio/clip.js";
import type { Classification } from "../predict/predict.js";
import { HttpError } from "./errors.js";

/** What the queue needs from a loaded run (the Predictor's staged API). */
export interface ModelRunner {
  readonly inputs: readonly { modality: string; dim: number }[];
  embedTexts(k: number, texts: readonly string[]): Promise<Float32Array>;
  embedClip(k: number, clip: LoadedClip): Promise<Float32Array>;
  classify(features: readonly Float32Array[], n: number): Promise<Classification[]>;
  /**
   * Heads on sequence stores (frames and tokens): the per-input calls give one job's [T, dim] positions, and
   * the head runs on one job's sequences (no padding). Texts are then encoded alone, not batched.
   */
  readonly sequences?: {
    text(k: number, text: string): Promise<Float32Array>;
    clip(k: number, clip: LoadedClip): Promise<Float32Array>;
    classify(inputs: readonly Float32Array[]): Promise<Classification>;
  };
}

/** One prediction's work: per head input, its text or its prepared clip. */
export interface JobInput {
  texts: (string | null)[];
  clips: (LoadedClip | null)[];
}

export interface StageTimings {
  queue: number;
  encode_text: number;
  encode_audio: number;
  head: number;
}

export interface JobResult extends Classification {
  timings_ms: StageTimings;
  /** Texts encoded in the same call as this job's text (1 = alone); absent without text. */
  text_batch?: number;
}

interface Job {
  input: JobInput;
  vectors: (Float32Array | undefined)[];
  timings: StageTimings;
  textBatch: number;
  enqueued: number;
  started: boolean;
  settled: boolean;
  resolve(r: JobResult): void;
  reject(err: unknown): void;
}

export interface SchedulerOptions {
  /** Jobs waiting or running before new ones are refused. */
  capacity: number;
  /** Texts per encoder call. */
  textBatch: number;
  /** Called after each model call with its stage and duration (metrics). */
  onStage?: (stage: keyof StageTimings, ms: number, batch: number) => void;
}

export class QueueFullError extends HttpError {
  constructor(capacity: number, retryAfterS: number) {
    super(503, "queue_full", `the encoder queue is full (${capacity} jobs, --queue-size); retry in about ${retryAfterS} s`, {
      "retry-after": String(retryAfterS),
    });
  }
}

export class CancelledError extends Error {}

export interface Submitted {
  result: Promise<JobResult>;
  /** Withdraws the job if it has not started; its promise then rejects with `reason`. Returns whether it did. */
  cancel(reason: unknown): boolean;
}

const now = () => performance.now();

export class Scheduler {
  private readonly queue: Job[] = [];
  private running = false;
  private idleWaiters: (() => void)[] = [];
  /** Recent job durations (ms), to tell a refused client when to come back. */
  private recent: number[] = [];

  constructor(
    private readonly runner: ModelRunner,
    readonly options: SchedulerOptions,
  ) {}

  /** Jobs waiting or running. */
  get length(): number {
    return this.queue.length;
  }

  get capacity(): number {
    return this.options.capacity;
  }

  /** Seconds a refused client should wait: the queue's expected drain time, at least 1. */
  retryAfter(): number {
    const avg = this.recent.length ? this.recent.reduce((a, b) => a + b, 0) / this.recent.length : 100;
    return Math.max(1, Math.ceil((avg * this.queue.length) / 1000));
  }

  /** Queues jobs all at once, or none of them (QueueFullError) when they do not all fit. */
  submit(inputs: readonly JobInput[]): Submitted[] {
    if (this.queue.length + inputs.length > this.options.capacity) throw new QueueFullError(this.options.capacity, this.retryAfter());
    const out = inputs.map((input) => {
      let resolve!: (r: JobResult) => void;
      let reject!: (e: unknown) => void;
      const result = new Promise<JobResult>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      // A caller that never awaits (a dropped stream window) must not crash the process.
      result.catch(() => undefined);
      const job: Job = {
        input,
        vectors: input.texts.map(() => undefined),
        timings: { queue: 0, encode_text: 0, encode_audio: 0, head: 0 },
        textBatch: 0,
        enqueued: now(),
        started: false,
        settled: false,
        resolve,
        reject,
      };
      this.queue.push(job);
      return {
        result,
        cancel: (reason: unknown) => {
          if (job.started || job.settled) return false;
          this.remove(job);
          this.settle(job, () => job.reject(reason));
          return true;
        },
      };
    });
    void this.run();
    return out;
  }

  /** Resolves when no job is waiting or running (shutdown). */
  idle(): Promise<void> {
    if (this.queue.length === 0 && !this.running) return Promise.resolve();
    return new Promise((res) => this.idleWaiters.push(res));
  }

  private remove(job: Job): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private settle(job: Job, f: () => void): void {
    if (job.settled) return;
    job.settled = true;
    f();
  }

  private async run(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (this.queue.length > 0) {
        const job = this.queue[0];
        job.started = true;
        job.timings.queue = now() - job.enqueued;
        const t0 = now();
        try {
          await this.step(job);
          this.recent.push(now() - t0);
          if (this.recent.length > 20) this.recent.shift();
        } catch (err) {
          this.settle(job, () => job.reject(err));
        }
        this.remove(job);
      }
    } finally {
      this.running = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private async step(job: Job): Promise<void> {
    if (this.runner.sequences) return this.sequenceStep(job, this.runner.sequences);
    const inputs = this.runner.inputs;
    for (let k = 0; k < inputs.length; k++) {
      if (job.vectors[k] !== undefined) continue;
      const text = job.input.texts[k];
      const clip = job.input.clips[k];
      if (text !== null) await this.textBatch(k);
      else if (clip !== null) {
        const t = now();
        job.vectors[k] = await this.runner.embedClip(k, clip);
        job.timings.encode_audio += this.stage("encode_audio", now() - t, 1);
      } else throw new Error(`job has neither text nor audio for head input ${k}`);
    }
    await this.classify(job, async (vectors) => (await this.runner.classify(vectors, 1))[0]);
  }

  /** A job of a sequence head: every input encoded alone, then the head on its unpadded sequences. */
  private async sequenceStep(job: Job, seq: NonNullable<ModelRunner["sequences"]>): Promise<void> {
    for (let k = 0; k < this.runner.inputs.length; k++) {
      const text = job.input.texts[k];
      const clip = job.input.clips[k];
      const t = now();
      if (text !== null) {
        job.vectors[k] = await seq.text(k, text);
        job.timings.encode_text += this.stage("encode_text", now() - t, 1);
        job.textBatch = 1;
      } else if (clip !== null) {
        job.vectors[k] = await seq.clip(k, clip);
        job.timings.encode_audio += this.stage("encode_audio", now() - t, 1);
      } else throw new Error(`job has neither text nor audio for head input ${k}`);
    }
    await this.classify(job, (vectors) => seq.classify(vectors));
  }

  /** Runs the head on a job's encoded inputs (timed as the head stage) and answers the job. */
  private async classify(job: Job, head: (vectors: Float32Array[]) => Promise<Classification>): Promise<void> {
    const t = now();
    const c = await head(job.vectors as Float32Array[]);
    job.timings.head = this.stage("head", now() - t, 1);
    const hasText = job.input.texts.some((x) => x !== null);
    this.settle(job, () => job.resolve({ ...c, timings_ms: job.timings, ...(hasText ? { text_batch: job.textBatch } : {}) }));
  }

  /** Encodes the text of input k for the first waiting jobs that need it (the current job first). */
  private async textBatch(k: number): Promise<void> {
    const group = this.queue.filter((j) => !j.settled && j.input.texts[k] !== null && j.vectors[k] === undefined).slice(0, this.options.textBatch);
    const t = now();
    let emb: Float32Array;
    try {
      emb = await this.runner.embedTexts(k, group.map((j) => j.input.texts[k]!));
    } catch (err) {
      // Nothing in a text should make the encoder fail; if it does, every job of the call hears about it.
      for (const j of group.slice(1)) {
        this.remove(j);
        this.settle(j, () => j.reject(err));
      }
      throw err;
    }
    const ms = this.stage("encode_text", now() - t, group.length);
    const dim = this.runner.inputs[k].dim;
    group.forEach((j, g) => {
      j.vectors[k] = emb.slice(g * dim, (g + 1) * dim);
      j.timings.encode_text += ms;
      j.textBatch = Math.max(j.textBatch, group.length);
    });
  }

  private stage(stage: keyof StageTimings, ms: number, batch: number): number {
    this.options.onStage?.(stage, ms, batch);
    return ms;
  }
}
