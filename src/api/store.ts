/**
 * `emofeat/store`: reading, checking and validating feature stores, without loading any model runtime
 * (transformers.js, onnxruntime). The whole library is `emofeat`.
 */
export { readStore, readStoreMeta, readIds, readFailures, openSequenceStore, type FeatureStore, type SequenceStoreReader } from "../store/read.js";
export { validateStores, type ValidationReport, type StoreReport, type Check } from "../store/validate.js";
export { encodeNpy, readNpy, parseNpyHeader, npyHeader, STORE_DTYPES, type NpyHeader, type StoreDtype } from "../store/npy.js";
export { STORE_FILES, STORE_FORMAT, STORE_FORMAT_VERSION, isSequenceStore, rowShape, type StoreMeta, type Failure, type ModelRecord, type BuiltinModelRecord, type Modality, type StoreLayout } from "../store/meta.js";
