import { loadIndex, type Utterance } from "../manifest/index-csv.js";
import { STORE_FILES } from "../store/meta.js";
import { planByLength, TEXT_DEFAULTS, TextEncoder, type TextModelOptions } from "../text/encoder.js";
import { checkPerUtteranceIds, checkStoreOut } from "../store/write.js";
import { runExtraction, storeRunArgs, type ExtractionSummary, type StoreRunOptions } from "./run.js";

export interface ExtractTextOptions extends TextModelOptions, StoreRunOptions {
  batchSize?: number;
}

/** Embeds the `text` of every index row into a feature store (resumable; see store/write.ts). */
export async function extractText(o: ExtractTextOptions): Promise<ExtractionSummary> {
  const index = await loadIndex(o.csv, { require: ["text"] });
  if (o.layout === "per-utterance") checkPerUtteranceIds(index.path, index.utterances);
  await checkStoreOut(o.out, o.overwrite); // before the model loads: a bad --out fails in a second, not after minutes
  const batchSize = o.batchSize ?? TEXT_DEFAULTS.batchSize;
  o.onProgress?.({ phase: "load", done: 0, total: index.utterances.length, failed: 0, resumed: 0, message: `loading ${o.model}` });
  const encoder = await TextEncoder.load(o);
  try {
    const counted = index.utterances.map((u) => encoder.tokenizeCounted(u.text));
    const tokenized = counted.map((c) => c.ids);
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
      dim: encoder.dim,
      processBatch: async (positions) => ({
        positions,
        vectors: await encoder.embedTokenized(positions.map((p) => tokenized[p])),
        failures: [],
        records: Object.fromEntries(positions.map((p) => [p, textRecord(index.utterances[p], counted[p])])),
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
      totals: textTotals,
      recordsCsv: { file: STORE_FILES.texts, columns: [...TEXTS_COLUMNS] },
      ...storeRunArgs(o),
    });
  } finally {
    await encoder.dispose();
  }
}

/** Columns of texts.csv, the per-row token record written beside a text store. */
export const TEXTS_COLUMNS = ["utter_id", "row", "tokens", "kept_tokens", "truncated"] as const;

function textRecord(u: Utterance, c: { ids: number[]; tokens: number }): Record<string, string | number | boolean> {
  return { utter_id: u.utterId, row: u.row, tokens: c.tokens, kept_tokens: c.ids.length, truncated: c.tokens > c.ids.length ? "yes" : "no" };
}

/** meta.json totals: how many texts --max-len cut, and how many tokens it removed. */
function textTotals(records: Record<string, string | number | boolean>[]): Record<string, number> {
  let truncated = 0;
  let removed = 0;
  for (const r of records)
    if (r.truncated === "yes") {
      truncated++;
      removed += Number(r.tokens) - Number(r.kept_tokens);
    }
  return { texts: records.length, truncated, tokens_removed_by_cut: removed };
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
