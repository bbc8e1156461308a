/**
 * A frozen BERT-family text encoder: tokenizer + ONNX encoder through transformers.js, and pooling.
 * Batches are padded to their longest member (not to max_len): with the attention mask, padding does not
 * change the real tokens' states, so the embeddings equal the reference's pad-to-max_len ones up to float noise.
 * With `layers`, every kept hidden state is pooled alike and a row holds [layers, width]; with pooling `none`
 * the encoder returns each text's token states (special tokens included) instead of one vector.
 */
import { loadIfConfigMissing, openEncoder, pretrained, type EncoderModel, type HiddenStatesInfo } from "../models/load.js";
import { hiddenStateOutput } from "../models/hidden-states.js";
import type { LayerSpec } from "../models/layer-spec.js";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { env } from "../env.js";
import { ort, resolveDevice, tensorToFloat32, type Device, type DeviceChoice } from "../backends/onnx.js";
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
import { framesOf, poolLayers, pooledWidth, POOLING_MODES, type PoolingMode } from "../pooling.js";
import type { ModelRecord } from "../store/meta.js";
import { sha256File } from "../util/fs.js";
import { TEXT_DEFAULTS } from "./defaults.js";
import { encodeCounted, encodeTruncated, learnTemplate, type SpecialTemplate, type TokenizerLike, type TruncationSide } from "./tokenize.js";

export interface TextModelOptions {
  /** Hub id (e.g. Xenova/bert-base-uncased) or a local folder in Hugging Face layout. */
  model: string;
  dtype?: ModelDtype;
  /** auto (default): CUDA when it works here, else the CPU. */
  device?: DeviceChoice;
  threads?: number;
  offline?: boolean;
  /** Truncation length in tokens, special tokens included (reference: 128). */
  maxLen?: number;
  /** mean (default), cls, max, mean+std, or none (token sequences). */
  pooling?: PoolingMode;
  /** Hidden states to keep: "last" (default), "all", "0,4-8,12", or indices (see models/layer-spec.ts). */
  layers?: LayerSpec;
}

export type { HiddenStatesInfo };

export { TEXT_DEFAULTS };

export class TextEncoder {
  readonly model: ModelRecord;
  /** Hidden size D (one layer's state). */
  readonly dim: number;
  readonly maxLen: number;
  readonly pooling: PoolingMode;
  /** hidden_states indices kept, or null for the plain last_hidden_state. */
  readonly layers: number[] | null;
  readonly hiddenStates: HiddenStatesInfo | null;
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
    layers: number[] | null;
    hiddenStates: HiddenStatesInfo | null;
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
    this.layers = init.layers;
    this.hiddenStates = init.hiddenStates;
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
    const device = (await resolveDevice(o.device ?? TEXT_DEFAULTS.device)).device;
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
      const { t, options } = await pretrained(resolved, offline);
      tokenizer = (await t.AutoTokenizer.from_pretrained(resolved.loadPath, options)) as unknown as TokenizerLike;
    } catch (err) {
      throw await explainLoadError(resolved, err, required);
    }
    const settings = { device, threads: o.threads, offline };
    const first = await loadIfConfigMissing(resolved, settings, required);
    let pending = first; // released here on errors until openEncoder takes it over
    let opened: Awaited<ReturnType<typeof openEncoder>>;
    let dim: number;
    let record: ModelRecord;
    try {
      const config = await readModelConfig(resolved);
      const maxPos = typeof config.max_position_embeddings === "number" ? config.max_position_embeddings : Infinity;
      if (maxLen > maxPos)
        throw new UsageError(`--max-len ${maxLen} exceeds the model's max_position_embeddings (${maxPos})`);
      dim = Number(config.hidden_size);
      if (!Number.isInteger(dim) || dim <= 0) throw new EmofeatError(`${resolved.id}: config.json has no valid hidden_size`);
      const recordP = modelRecord(resolved, config);
      recordP.catch(() => {}); // awaited below, after the session loaded
      pending = null;
      opened = await openEncoder(resolved, settings, required, { config, sha256: async () => (await recordP).sha256, layers: o.layers, first });
      try {
        record = await recordP;
      } catch (err) {
        await opened.session.dispose();
        throw err;
      }
    } catch (err) {
      await pending?.dispose();
      throw err;
    }
    const { session, layers, hiddenStates } = opened;
    const tokConfig = await readJson(resolved, "tokenizer_config.json");
    const padId = tokenizer.pad_token_id ?? 0;
    return new TextEncoder({
      model: record,
      dim,
      maxLen,
      pooling,
      layers,
      hiddenStates,
      device,
      tokenizerSha256: await sha256File(path.join(resolved.dir, "tokenizer.json")),
      tokenizer,
      template: learnTemplate(tokenizer),
      truncationSide: tokConfig.truncation_side === "left" ? "left" : "right",
      padId,
      session,
    });
  }

  /** Values per stored row: one pooled vector ([layers,] width), or one token's states ([layers,] D) with pooling none. */
  get rowSize(): number {
    return (this.layers?.length ?? 1) * (this.pooling === "none" ? this.dim : pooledWidth(this.pooling, this.dim));
  }

  /** Width of one layer's entry in a row: D, or 2D for mean+std (the store's `d`). */
  get layerWidth(): number {
    return this.pooling === "none" ? this.dim : pooledWidth(this.pooling, this.dim);
  }

  /** Special tokens the template puts around every text: the first `prefix` and last `suffix` positions. */
  get specialTokens(): { prefix: number[]; suffix: number[] } {
    return { prefix: [...this.template.prefix], suffix: [...this.template.suffix] };
  }

  /** Token ids of one text, truncated to maxLen with the special tokens kept. */
  tokenize(text: string): number[] {
    return encodeTruncated(this.tokenizer, this.template, text, this.maxLen, this.truncationSide);
  }

  /** tokenize, plus the whole text's length in tokens (special tokens included), to count what the cut removes. */
  tokenizeCounted(text: string): { ids: number[]; tokens: number } {
    return encodeCounted(this.tokenizer, this.template, text, this.maxLen, this.truncationSide);
  }

  private idToToken?: Map<number, string>;

  /** The tokens of one text as strings (e.g. "[CLS]", "believ", "##e"), one per position of its sequence. */
  tokenStrings(text: string): string[] {
    this.idToToken ??= new Map([...(this.tokenizer.get_vocab?.() ?? new Map<string, number>())].map(([t, id]) => [id, t]));
    return this.tokenize(text).map((id) => this.idToToken!.get(id) ?? `#${id}`);
  }

  /** One model call on a batch padded to its longest member (or `padTo`): the kept layers' states [B, T, D] and the mask. */
  private async forward(batch: readonly number[][], padTo?: number) {
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
    const { Tensor } = ort();
    const inputs = {
      input_ids: new Tensor("int64", ids, [B, T]),
      attention_mask: new Tensor("int64", mask, [B, T]),
      // Single-sequence inputs: all segment ids are 0. Models without this input ignore it.
      token_type_ids: new Tensor("int64", new BigInt64Array(B * T), [B, T]),
    };
    const out = await this.session(inputs);
    const names = this.layers === null ? ["last_hidden_state"] : this.layers.map(hiddenStateOutput);
    const states = names.map((name) => {
      const h = out[name];
      if (!h) throw new EmofeatError(`${this.model.id}: the model has no ${name} output (outputs: ${Object.keys(out).join(", ")})`);
      const [b, t, d] = h.dims as [number, number, number];
      if (b !== B || t !== T || d !== this.dim)
        throw new EmofeatError(`${this.model.id}: ${name} has dims ${h.dims.join("x")}, expected ${B}x${T}x${this.dim}`);
      return tensorToFloat32(h);
    });
    return { states, dims: [B, T, this.dim] as [number, number, number], mask };
  }

  /**
   * Embeds already-tokenized texts as one batch padded to its longest member (or to `padTo`, as the reference
   * pads to max_len; only benchmarks and parity checks need that). Returns [B, rowSize] (rows [layers, width]).
   */
  async embedTokenized(batch: readonly number[][], padTo?: number): Promise<Float32Array> {
    if (this.pooling === "none") throw new EmofeatError("pooling none gives token sequences: use sequencesTokenized");
    const { states, dims, mask } = await this.forward(batch, padTo);
    return poolLayers(this.pooling, states, dims, mask);
  }

  /** Token states of each text, special tokens included: per text [T_i, rowSize] (T_i = its token count). */
  async sequencesTokenized(batch: readonly number[][]): Promise<Float32Array[]> {
    const { states, dims } = await this.forward(batch);
    return batch.map((ids, b) => framesOf(states, dims, b, ids.length));
  }

  /**
   * Embeds texts in any order and returns them in input order, [N, dim]. Texts are grouped by token length so
   * each batch pads little; `batchSize` and the order of `texts` do not change any embedding beyond float noise.
   */
  async embed(texts: readonly string[], batchSize: number = TEXT_DEFAULTS.batchSize): Promise<Float32Array> {
    const tokenized = texts.map((t) => this.tokenize(t));
    const w = this.rowSize;
    const out = new Float32Array(texts.length * w);
    for (const batch of planByLength(tokenized.map((t) => t.length), batchSize)) {
      const vecs = await this.embedTokenized(batch.map((i) => tokenized[i]));
      batch.forEach((i, k) => out.set(vecs.subarray(k * w, (k + 1) * w), i * w));
    }
    return out;
  }

  /** Token states of texts in any order, returned in input order: per text [T_i, rowSize]. */
  async sequences(texts: readonly string[], batchSize: number = TEXT_DEFAULTS.batchSize): Promise<Float32Array[]> {
    const tokenized = texts.map((t) => this.tokenize(t));
    const out: Float32Array[] = new Array(texts.length);
    for (const batch of planByLength(tokenized.map((t) => t.length), batchSize)) {
      const seqs = await this.sequencesTokenized(batch.map((i) => tokenized[i]));
      batch.forEach((i, k) => (out[i] = seqs[k]));
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
