import { loadIndex, type Utterance } from "../manifest/index-csv.js";
import { STORE_FILES } from "../store/meta.js";
import { textTotals } from "../store/records.js";
import { planByLength, TEXT_DEFAULTS, TextEncoder, type TextModelOptions } from "../text/encoder.js";
import { paddedTokenCosts } from "../shards/partition.js";
import { checkPerUtteranceIds, checkStoreOut } from "../store/write.js";
import { checkStoreDtype, modelDataSetting, representationSettings, runExtraction, storeRunArgs, type ExtractionSummary, type StoreRunOptions } from "./run.js";

export interface ExtractTextOptions extends TextModelOptions, StoreRunOptions {
  batchSize?: number;
}

/** Embeds the `text` of every index row into a feature store (resumable; see store/write.ts). */
export async function extractText(o: ExtractTextOptions): Promise<ExtractionSummary> {
  const index = await loadIndex(o.csv, { require: ["text"] });
  if (o.layout === "per-utterance") checkPerUtteranceIds(index.path, index.utterances);
  await checkStoreOut(o.out, o.overwrite); // before the model loads: a bad --out fails in a second, not after minutes
  const batchSize = o.batchSize ?? TEXT_DEFAULTS.batchSize;
  const dtype = checkStoreDtype(o.storeDtype);
  o.onProgress?.({ phase: "load", done: 0, total: index.utterances.length, failed: 0, resumed: 0, message: `loading ${o.model}` });
  const encoder = await TextEncoder.load(o);
  try {
    const counted = index.utterances.map((u) => encoder.tokenizeCounted(u.text));
    const tokenized = counted.map((c) => c.ids);
    const batches = planByLength(tokenized.map((t) => t.length), batchSize);
    const sequence = encoder.pooling === "none";
    const { prefix, suffix } = encoder.specialTokens;
    return await runExtraction({
      index,
      modality: "text",
      fingerprintSettings: {
        modality: "text",
        model_sha256: encoder.model.sha256,
        ...modelDataSetting(encoder.model),
        tokenizer_sha256: encoder.tokenizerSha256,
        dtype: encoder.model.dtype,
        device: encoder.device,
        pooling: encoder.pooling,
        max_len: encoder.maxLen,
        batch_size: batchSize,
        index_sha256: index.sha256,
        ...representationSettings({ layers: encoder.layers, pooling: encoder.pooling, defaultPooling: encoder.pooling, dtype }),
      },
      sameNumbers: ["batch_size"], // each text's embedding does not depend on the texts batched with it
      batches,
      batchCosts: async () => paddedTokenCosts(batches, tokenized.map((t) => t.length)),
      dim: encoder.layerWidth,
      rowShape: encoder.layers ? [encoder.layers.length, encoder.layerWidth] : [encoder.layerWidth],
      sequence,
      special: sequence ? { prefix, suffix } : undefined,
      processBatch: async (positions) => {
        const batch = positions.map((p) => tokenized[p]);
        const records = Object.fromEntries(positions.map((p) => [p, textRecord(index.utterances[p], counted[p])]));
        if (!sequence) return { positions, vectors: await encoder.embedTokenized(batch), failures: [], records };
        const seqs = await encoder.sequencesTokenized(batch);
        const lengths = batch.map((ids) => ids.length);
        const vectors = new Float32Array(seqs.reduce((a, s) => a + s.length, 0));
        const special = new Uint8Array(lengths.reduce((a, b) => a + b, 0));
        let off = 0;
        let row = 0;
        seqs.forEach((s, k) => {
          vectors.set(s, off);
          off += s.length;
          special.fill(1, row, row + prefix.length);
          special.fill(1, row + lengths[k] - suffix.length, row + lengths[k]);
          row += lengths[k];
        });
        return { positions, vectors, lengths, special, failures: [], records };
      },
      meta: {
        model: encoder.model,
        device: encoder.device,
        pooling: encoder.pooling,
        max_len: encoder.maxLen,
        ...(encoder.layers ? { layers: encoder.layers, hidden_states: encoder.hiddenStates! } : {}),
        settings: {
          batch_size: batchSize,
          padding: "longest in batch; batches grouped by token length",
          truncation: "content truncated to max_len minus special tokens (Hugging Face semantics)",
          tokenizer_sha256: encoder.tokenizerSha256,
          token_type_ids: 0,
          ...(sequence ? { sequences: "every token of each text, special tokens included (special.npy marks them)" } : {}),
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

export interface EmbedTextsResult {
  /** Row-major [texts.length, dim] (with layers: [texts.length, layers, width]). */
  embeddings: Float32Array;
  dim: number;
  encoder: Pick<TextEncoder, "model" | "maxLen" | "pooling" | "device" | "layers">;
}

/** One-shot API: embeds `texts` (in order) with a freshly loaded encoder, then releases it. */
export async function embedTexts(texts: readonly string[], o: TextModelOptions & { batchSize?: number }): Promise<EmbedTextsResult> {
  const encoder = await TextEncoder.load(o);
  try {
    const embeddings = await encoder.embed(texts, o.batchSize ?? TEXT_DEFAULTS.batchSize);
    return {
      embeddings,
      dim: encoder.layerWidth,
      encoder: { model: encoder.model, maxLen: encoder.maxLen, pooling: encoder.pooling, device: encoder.device, layers: encoder.layers },
    };
  } finally {
    await encoder.dispose();
  }
}
