import { loadIndex } from "../manifest/index-csv.js";
import { planByLength, TEXT_DEFAULTS, TextEncoder, type TextModelOptions } from "../text/encoder.js";
import { paddedTokenCosts } from "../shards/partition.js";
import { runExtraction, storeRunArgs, type ExtractionSummary, type StoreRunOptions } from "./run.js";

export interface ExtractTextOptions extends TextModelOptions, StoreRunOptions {
  batchSize?: number;
}

/** Embeds the `text` of every index row into a feature store (resumable; see store/write.ts). */
export async function extractText(o: ExtractTextOptions): Promise<ExtractionSummary> {
  const index = await loadIndex(o.csv, { require: ["text"] });
  const batchSize = o.batchSize ?? TEXT_DEFAULTS.batchSize;
  o.onProgress?.({ phase: "load", done: 0, total: index.utterances.length, failed: 0, resumed: 0, message: `loading ${o.model}` });
  const encoder = await TextEncoder.load(o);
  try {
    const tokenized = index.utterances.map((u) => encoder.tokenize(u.text));
    const batches = planByLength(tokenized.map((t) => t.length), batchSize);
    return await runExtraction({
      index,
      modality: "text",
      fingerprintSettings: {
        modality: "text",
        model_sha256: encoder.model.sha256,
        tokenizer_sha256: encoder.tokenizerSha256,
        dtype: encoder.model.dtype,
        device: encoder.device,
        pooling: encoder.pooling,
        max_len: encoder.maxLen,
        batch_size: batchSize,
        index_sha256: index.sha256,
      },
      batches,
      batchCosts: async () => paddedTokenCosts(batches, tokenized.map((t) => t.length)),
      dim: encoder.dim,
      processBatch: async (positions) => ({
        positions,
        vectors: await encoder.embedTokenized(positions.map((p) => tokenized[p])),
        failures: [],
      }),
      meta: {
        model: encoder.model,
        device: encoder.device,
        pooling: encoder.pooling,
        max_len: encoder.maxLen,
        settings: {
          batch_size: batchSize,
          padding: "longest in batch; batches grouped by token length",
          truncation: "content truncated to max_len minus special tokens (Hugging Face semantics)",
          tokenizer_sha256: encoder.tokenizerSha256,
          token_type_ids: 0,
        },
      },
      ...storeRunArgs(o),
    });
  } finally {
    await encoder.dispose();
  }
}

export interface EmbedTextsResult {
  /** Row-major [texts.length, dim]. */
  embeddings: Float32Array;
  dim: number;
  encoder: Pick<TextEncoder, "model" | "maxLen" | "pooling" | "device">;
}

/** One-shot API: embeds `texts` (in order) with a freshly loaded encoder, then releases it. */
export async function embedTexts(texts: readonly string[], o: TextModelOptions & { batchSize?: number }): Promise<EmbedTextsResult> {
  const encoder = await TextEncoder.load(o);
  try {
    const embeddings = await encoder.embed(texts, o.batchSize ?? TEXT_DEFAULTS.batchSize);
    return { embeddings, dim: encoder.dim, encoder: { model: encoder.model, maxLen: encoder.maxLen, pooling: encoder.pooling, device: encoder.device } };
  } finally {
    await encoder.dispose();
  }
}
