/**
 * Prometheus metrics (GET /metrics) through prom-client, the maintained Prometheus client for Node: one
 * registry per server, so several servers in one process (tests) keep separate counts.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServeMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"route" | "method" | "status">;
  readonly errors: Counter<"route" | "code">;
  readonly latency: Histogram<"route">;
  readonly stages: Histogram<"stage">;
  readonly textBatch: Histogram;
  readonly streams: Gauge;
  readonly windows: Counter<"outcome">;
  readonly windowLatency: Histogram;

  constructor(queue: { length(): number; capacity: number }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: "emofeat_" });
    this.requests = new Counter({ name: "emofeat_http_requests_total", help: "HTTP requests answered, by route, method and status", labelNames: ["route", "method", "status"], registers });
    this.errors = new Counter({ name: "emofeat_http_errors_total", help: "HTTP error answers, by route and error code", labelNames: ["route", "code"], registers });
    this.latency = new Histogram({ name: "emofeat_http_request_duration_seconds", help: "time from request to answer", labelNames: ["route"], buckets: LATENCY_BUCKETS, registers });
    this.stages = new Histogram({ name: "emofeat_stage_duration_seconds", help: "time per stage: decode, queue (wait), encode_text (per call), encode_audio, head", labelNames: ["stage"], buckets: LATENCY_BUCKETS, registers });
    this.textBatch = new Histogram({ name: "emofeat_text_batch_size", help: "texts per text-encoder call", buckets: [1, 2, 4, 8, 16, 32, 64], registers });
    this.streams = new Gauge({ name: "emofeat_stream_connections", help: "open /v1/stream connections", registers });
    this.windows = new Counter({ name: "emofeat_stream_windows_total", help: "stream window predictions by outcome (sent, dropped, error)", labelNames: ["outcome"], registers });
    this.windowLatency = new Histogram({ name: "emofeat_stream_window_latency_seconds", help: "from the last sample of a window arriving to its prediction being sent", buckets: LATENCY_BUCKETS, registers });
    new Gauge({
      name: "emofeat_queue_length",
      help: "jobs waiting or running in the encoder queue",
      registers,
      collect() {
        this.set(queue.length());
      },
    });
    new Gauge({
      name: "emofeat_queue_capacity",
      help: "jobs the encoder queue holds before answering 503 (--queue-size)",
      registers,
      collect() {
        this.set(queue.capacity);
      },
    });
  }
}
