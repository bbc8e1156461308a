/**
 * Text extraction defaults, in a module of their own so the CLI can show them in --help without loading
 * the encoder (transformers.js takes about a second to import).
 *
 * batchSize 16: texts are grouped by length, so batches pad little whatever their size; on a BERT-base-sized
 * model over 800 IEMOCAP-like texts on 2 cores, batches of 8 or 16 ran in 19.2 s and batches of 64 in
 * 23.2 s (larger batches' activations fall out of the CPU caches). The reference's 64 gives the same
 * embeddings (within float noise), only slower.
 */
export const TEXT_DEFAULTS = { dtype: "fp32", device: "auto", maxLen: 128, pooling: "mean", batchSize: 16 } as const;
