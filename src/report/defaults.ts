/**
 * Report defaults, in a module of their own so the CLI can show them in --help without loading the report
 * code (UMAP, matrix libraries) for every command.
 */
import type { ProjectionKind } from "./sections/stores.js";

export type ReportFormat = "html" | "md";

export const BOOTSTRAP_DEFAULTS = { resamples: 1000, seed: 0, level: 0.95 };

export const REPORT_DEFAULTS = { format: "html" as ReportFormat, projection: ["pca", "umap"] as ProjectionKind[], maxPoints: 2000, resamples: BOOTSTRAP_DEFAULTS.resamples, title: "emofeat report" };
