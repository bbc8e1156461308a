import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { argmaxRows, computeMetrics, crossEntropy } from "../src/train/metrics.js";
import { TRAIN_FIXTURES } from "./helpers/synth.js";

interface Case {
  name: string;
  num_classes: number;
  y_true: number[];
  y_pred: number[];
  accuracy: number;
  unweighted_accuracy: number;
  macro_f1: number;
  weighted_f1: number;
  precision: number[];
  recall: number[];
  f1: number[];
  support: number[];
  confusion: number[][];
}

const ref = JSON.parse(readFileSync(path.join(TRAIN_FIXTURES, "metrics.json"), "utf8")) as { cases: Case[] };

describe("metrics match scikit-learn on fixed predictions", () => {
  it("has the edge cases", () => expect(ref.cases.length).toBeGreaterThanOrEqual(7));
  for (const c of ref.cases) {
    it(c.name, () => {
      const labels = Array.from({ length: c.num_classes }, (_, i) => `c${i}`);
      const m = computeMetrics(c.y_true, c.y_pred, labels);
      expect(m.accuracy).toBeCloseTo(c.accuracy, 12);
      expect(m.unweighted_accuracy).toBeCloseTo(c.unweighted_accuracy, 12);
      expect(m.macro_f1).toBeCloseTo(c.macro_f1, 12);
      expect(m.weighted_f1).toBeCloseTo(c.weighted_f1, 12);
      m.per_class.forEach((pc, k) => {
        expect(pc.precision).toBeCloseTo(c.precision[k], 12);
        expect(pc.recall).toBeCloseTo(c.recall[k], 12);
        expect(pc.f1).toBeCloseTo(c.f1[k], 12);
        expect(pc.support).toBe(c.support[k]);
      });
      expect(m.confusion).toEqual(c.confusion);
    });
  }
});

describe("helpers", () => {
  it("argmax takes the first maximum, as numpy", () => {
    expect(Array.from(argmaxRows([1, 3, 3, 0, -1, -2], 2, 3))).toEqual([1, 0]);
  });
  it("cross-entropy is torch's mean CE", () => {
    // logits [0, ln 3] for class 1: p = 3/4 -> -ln(0.75)
    expect(crossEntropy([0, Math.log(3)], [1], 2)).toBeCloseTo(-Math.log(0.75), 12);
  });
});
