/**
 * Prediction for runs trained on a weight-free baseline store (`builtin:fbank`, `builtin:mfcc`): the feature is
 * rebuilt from the store's meta.json (sample rate, cut, pooling), and refused if this version computes it
 * with other parameters than the store records, since the head would then see different numbers.
 */
import { BuiltinFrameExtractor, builtinFeature } from "../audio/builtin.js";
import { EmofeatError } from "../errors.js";
import type { StoreMeta } from "../store/meta.js";
import { canonicalJson } from "../util/json.js";

export async function builtinExtractorForStore(meta: StoreMeta, o: { storeName: string; model?: string }): Promise<BuiltinFrameExtractor> {
  const id = meta.model.id;
  if (o.model !== undefined && o.model !== id)
    throw new EmofeatError(`store "${o.storeName}" holds the weight-free feature ${id}; it has no model files to replace (--model ${o.storeName}=${o.model})`);
  const spec = builtinFeature(id);
  const recorded = meta.model.source === "builtin" ? meta.model.params : undefined;
  if (canonicalJson(recorded) !== canonicalJson(spec.params))
    throw new EmofeatError(
      `store "${o.storeName}" was made with ${id} parameters ${canonicalJson(recorded)}, but this version of emofeat computes ` +
        `${canonicalJson(spec.params)}; predictions would not match the training features`,
    );
  const f = await BuiltinFrameExtractor.load({ model: id, targetSampleRate: meta.sr, maxSeconds: meta.max_seconds, pooling: meta.pooling });
  if (f.dim !== meta.d) throw new EmofeatError(`store "${o.storeName}": ${id} with ${meta.pooling} pooling gives ${f.dim} values, the store has ${meta.d}`);
  return f;
}
