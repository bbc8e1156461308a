/**
 * A frozen BERT-family text encoder: tokenizer + ONNX encoder through transformers.js, and pooling.
 * Batches are padded to their longest member (not to max_len): with the attention mask, padding does not
 * change the real tokens' states, so the embeddings equal the reference's pad-to-max_len ones up to float noise.
 */
import { AutoTokenizer, Tensor } from "@huggingface/transformers";
import { loadEncoderModel, pretrainedOptions, type EncoderModel } from "../models/load.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../env.js";
import { checkDevice, tensorToFloat32, type Device } from "../backends/onnx.js";
import { EmofeatError, UsageError } from "../errors.js";
import {
  checkDtype,
  explainLoadError,
  modelRecord,
  readModelConfig,
  resolveModel,
  type ModelDtype,
  type ResolvedModel,
} from "../models/source.js";
import { pool, POOLING_MODES, type PoolingMode } from "../pooling.js";
import type { ModelRecord } from "../store/meta.js";
import { sha256File } from "../util/fs.js";
import { encodeCounted, encodeTruncated, learnTemplate, type SpecialTemplate, type TokenizerLike, type TruncationSide } from "./tokenize.js";

export interface TextModelOptions {
  /** Hub id (e.g. Xenova/bert-base-uncased) or a local folder in Hugging Face layout. */
  model: string;
  dtype?: ModelDtype;
  device?: Device;
  threads?: number;
  offline?: boolean;
  /** Truncation length in tokens, special tokens included (reference: 128). */
  maxLen?: number;
  pooling?: PoolingMode;
}

export const TEXT_DEFAULTS = { dtype: "fp32", device: "cpu", maxLen: 128, pooling: "mean", batchSize: 64 } as const;

export class TextEncoder {
  readonly model: ModelRecord;
  readonly dim: number;
  readonly maxLen: number;
  readonly pooling: PoolingMode;
  readonly device: Device;
  /** sha256 of tokenizer.json: the ids, and so the embeddings, depend on it. */
  readonly tokenizerSha256: string;
  private readonly tokenizer: TokenizerLike;
  private readonly template: SpecialTemplate;
  private readonly truncationSide: TruncationSide;
  private readonly padId: number;
  private readonly session: EncoderModel;

  private constructor(init: {
    model: ModelRecord;
    dim: number;
    maxLen: number;
    pooling: PoolingMode;
    device: Device;
    tokenizerSha256: string;
    tokenizer: TokenizerLike;
    template: SpecialTemplate;
    truncationSide: TruncationSide;
    padId: number;
    session: EncoderModel;
  }) {
    this.model = init.model;
    this.dim = init.dim;
    this.maxLen = init.maxLen;
    this.pooling = init.pooling;
    this.device = init.device;
    this.tokenizerSha256 = init.tokenizerSha256;
    this.tokenizer = init.tokenizer;
    this.template = init.template;
    this.truncationSide = init.truncationSide;
    this.padId = init.padId;
    this.session = init.session;
  }

  static async load(o: TextModelOptions): Promise<TextEncoder> {
    const dtype = checkDtype(o.dtype ?? TEXT_DEFAULTS.dtype);
    const device = checkDevice(o.device ?? TEXT_DEFAULTS.device);
    const maxLen = o.maxLen ?? TEXT_DEFAULTS.maxLen;
    const pooling = o.pooling ?? TEXT_DEFAULTS.pooling;
    if (!(POOLING_MODES as readonly string[]).includes(pooling))
      throw new EmofeatError(`unknown pooling "${pooling}" (expected one of: ${POOLING_MODES.join(", ")})`);
    if (!Number.isInteger(maxLen) || maxLen < 3) throw new UsageError(`--max-len must be an integer >= 3 (got ${maxLen})`);
    const offline = o.offline ?? env.offline;
    const required = [
      { file: "config.json", why: "the model configuration" },
      { file: "tokenizer.json", why: "the tokenizer" },
      { file: "tokenizer_config.json", why: "the tokenizer settings" },
    ];
    const resolved = await resolveModel(o.model, dtype, required, offline);
    let tokenizer: TokenizerLike;
    try {
      tokenizer = (await AutoTokenizer.from_pretrained(resolved.loadPath, pretrainedOptions(resolved, offline))) as unknown as TokenizerLike;
    } catch (err) {
      throw await explainLoadError(resolved, err, required);
    }
    const session = await loadEncoderModel(resolved, { device, threads: o.threads, offline }, required);
    const config = await readModelConfig(resolved);
    const maxPos = typeof config.max_position_embeddings === "number" ? config.max_position_embeddings : Infinity;
    if (maxLen > maxPos)
      throw new UsageError(`--max-len ${maxLen} exceeds the model's max_position_embeddings (${maxPos})`);
    const dim = Number(config.hidden_size);
    if (!Number.isInteger(dim) || dim <= 0) throw new EmofeatError(`${resolved.id}: config.json has no valid hidden_size`);
    const tokConfig = await readJson(resolved, "tokenizer_config.json");
    const padId = tokenizer.pad_token_id ?? 0;
    return new TextEncoder({
      model: await modelRecord(resolved, config),
      dim,
      maxLen,
      pooling,
      device,
      tokenizerSha256: await sha256File(path.join(resolved.dir, "tokenizer.json")),
      tokenizer,
      template: learnTemplate(tokenizer),
      truncationSide: tokConfig.truncation_side === "left" ? "left" : "right",
      padId,
      session,
    });
  }

  /** Token ids of one text, truncated to maxLen with the special tokens kept. */
  tokenize(text: string): number[] {
    return encodeTruncated(this.tokenizer, this.template, text, this.maxLen, this.truncationSide);
  }

  /** tokenize, plus the whole text's length in tokens (special tokens included), to count what the cut removes. */
  tokenizeCounted(text: string): { ids: number[]; tokens: number } {
    return encodeCounted(this.tokenizer, this.template, text, this.maxLen, this.truncationSide);
  }

  /**
   * Embeds already-tokenized texts as one batch padded to its longest member (or to `padTo`, as the reference
   * pads to max_len; only benchmarks and parity checks need that). Returns [B, dim].
   */
  async embedTokenized(batch: readonly number[][], padTo?: number): Promise<Float32Array> {
    const B = batch.length;
    const T = Math.max(padTo ?? 0, ...batch.map((ids) => ids.length));
    const ids = new BigInt64Array(B * T).fill(BigInt(this.padId));
    const mask = new BigInt64Array(B * T);
    batch.forEach((seq, b) =>
      seq.forEach((id, t) => {
        ids[b * T + t] = BigInt(id);
        mask[b * T + t] = 1n;
      }),
    );
    const inputs = {
      input_ids: new Tensor("int64", ids, [B, T]),
      attention_mask: new Tensor("int64", mask, [B, T]),
      // Single-sequence inputs: all segment ids are 0. Models without this input ignore it.
      token_type_ids: new Tensor("int64", new BigInt64Array(B * T), [B, T]),
    };
    const out = await this.session(inputs);
    const h = out.last_hidden_state;
    if (!h) throw new EmofeatError(`${this.model.id}: the model has no last_hidden_state output (outputs: ${Object.keys(out).join(", ")})`);
    const [b, t, d] = h.dims as [number, number, number];
    if (b !== B || t !== T || d !== this.dim)
      throw new EmofeatError(`${this.model.id}: last_hidden_state has dims ${h.dims.join("x")}, expected ${B}x${T}x${this.dim}`);
    return pool(this.pooling, tensorToFloat32(h), [B, T, d], mask);
  }

  /**
   * Embeds texts in any order and returns them in input order, [N, dim]. Texts are grouped by token length so
   * each batch pads little; `batchSize` and the order of `texts` do not change any embedding beyond float noise.
   */
  async embed(texts: readonly string[], batchSize: number = TEXT_DEFAULTS.batchSize): Promise<Float32Array> {
    const tokenized = texts.map((t) => this.tokenize(t));
    const out = new Float32Array(texts.length * this.dim);
    for (const batch of planByLength(tokenized.map((t) => t.length), batchSize)) {
      const vecs = await this.embedTokenized(batch.map((i) => tokenized[i]));
      batch.forEach((i, k) => out.set(vecs.subarray(k * this.dim, (k + 1) * this.dim), i * this.dim));
    }
    return out;
  }

  async dispose(): Promise<void> {
    await this.session.dispose();
  }
}

/** Batches of positions, sorted by length (ties by position) so neighbours pad little. Deterministic. */
export function planByLength(lengths: readonly number[], batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new UsageError(`--batch-size must be a positive integer (got ${batchSize})`);
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  return batches;
}

async function readJson(m: ResolvedModel, file: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(path.join(m.dir, file), "utf8")) as Record<string, unknown>;
}
