/** `emofeat train` options of the fusion heads (beta-gate, fusion, fusion-decoder). */
import { Command, Option } from "commander";
import { FUSION_DEFAULTS, type FusionSettings } from "../train/heads/fusion.js";
import { intArg } from "./options.js";

export function addFusionOptions(cmd: Command): Command {
  const d = FUSION_DEFAULTS;
  return cmd
    .option("--d-model <n>", "fusion heads: model width; stores of another width are projected to it by a Linear layer each (default: their width, or the smaller one)", intArg("--d-model"))
    .option("--attn-heads <n>", `fusion heads: attention heads (default ${d.attnHeads})`, intArg("--attn-heads"))
    .option("--blocks <n>", `fusion, fusion-decoder: cross-modal blocks (default ${d.blocks})`, intArg("--blocks", 0))
    .addOption(new Option("--gate <kind>", `fusion heads: beta gate, vector (one weight per dimension, LayerNorms) or scalar (the older one-weight gate) (default ${d.gate})`).choices(["vector", "scalar"]))
    .option("--decoder-layers <n>", `fusion-decoder: emotion decoder layers (default ${d.decoderLayers})`, intArg("--decoder-layers"))
    .addOption(new Option("--loss <loss>", "fusion heads: ce (softmax cross-entropy, single label) or bce (one sigmoid per emotion)").choices(["ce", "bce"]))
    .addOption(
      new Option("--fuse-length <rule>", "sequence stores: both = gated audio and text positions side by side (default); text = the reference's rule, audio position i fused with token i over the text's length").choices(["both", "text"]),
    );
}

/** The fusion settings given on the command line (absent = the head's default). */
export function fusionSettingsFrom(o: Record<string, unknown>): Partial<FusionSettings> {
  const s: Partial<FusionSettings> = {};
  if (o.dModel !== undefined) s.dModel = o.dModel as number;
  if (o.attnHeads !== undefined) s.attnHeads = o.attnHeads as number;
  if (o.blocks !== undefined) s.blocks = o.blocks as number;
  if (o.gate !== undefined) s.gate = o.gate as FusionSettings["gate"];
  if (o.decoderLayers !== undefined) s.decoderLayers = o.decoderLayers as number;
  if (o.loss !== undefined) s.loss = o.loss as FusionSettings["loss"];
  if (o.fuseLength !== undefined) s.fuseLength = o.fuseLength as FusionSettings["fuseLength"];
  return s;
}
