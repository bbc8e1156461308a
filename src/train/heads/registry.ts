/**
 * Heads defined in their own modules (src/train/heads/*.ts) register here; src/train/heads.ts dispatches to
 * them for defaults, checks and the forward graph, and `emofeat train --head` lists them. This module holds
 * no values from heads.ts, so the head modules and heads.ts can import it without an evaluation cycle.
 */
import type { GraphBuilder, Tensor } from "../graph/builder.js";
import type { HeadArch, TrainSettings } from "../heads.js";

/** Names of the heads defined in their own modules. */
export type ModuleHeadName = "weighted-layers" | "beta-gate" | "fusion" | "fusion-decoder";

export interface HeadPlot {
  /** File name without extension: NAME.svg (and NAME.png) in the run directory. */
  name: string;
  svg: string;
}

export interface HeadModule {
  name: ModuleHeadName;
  /** One line for `emofeat train --help`: the graph and its default training settings. */
  help(): string;
  /** The training settings, given the user's overrides (some heads' defaults depend on an option such as --base). */
  defaults(overrides: Partial<TrainSettings>): TrainSettings;
  /** Throws an EmofeatError when the head cannot take these inputs / options. */
  check(arch: HeadArch): void;
  /** inputs -> logits [N, C]. */
  forward(g: GraphBuilder, arch: HeadArch, xs: Tensor[]): Tensor;
  /**
   * Heads over sequence stores and with extra outputs (fusion): inputs with their masks ([N, T] per sequence
   * input, undefined for [N, D] ones) -> logits and the gate value beta [N]; attention maps go to `sink`.
   * When present it is used instead of `forward`.
   */
  forwardWithMasks?(
    g: GraphBuilder,
    arch: HeadArch,
    xs: Tensor[],
    masks: (Tensor | undefined)[],
    sink?: (name: string, weights: Tensor) => void,
  ): { logits: Tensor; beta?: Tensor };
  /**
   * Extra run outputs computed from the selected parameters of every trained (seed, fold): fields added to
   * metrics.json and plots. Undefined when there is nothing to add.
   */
  report?(arch: HeadArch, trained: ReadonlyMap<string, Float32Array>[], title: string): { metrics: Record<string, unknown>; plots: HeadPlot[] } | undefined;
}

const modules = new Map<string, HeadModule>();

export function registerHead(m: HeadModule): void {
  modules.set(m.name, m);
}

export function headModule(name: string): HeadModule | undefined {
  return modules.get(name);
}

export function moduleHeadNames(): ModuleHeadName[] {
  return [...modules.values()].map((m) => m.name);
}
