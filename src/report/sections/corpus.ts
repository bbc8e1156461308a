/**
 * The corpus: rows per split x label (the index), durations and how many clips the cut shortened (an audio
 * store's clips.csv, else the index's duration column), text lengths in tokens and how many --max-len
 * truncated (a text store's texts.csv), and failed rows per store and reason.
 */
import { SPLITS, type IndexManifest } from "../../manifest/index-csv.js";
import type { Block, Cell, Section } from "../doc.js";
import { histogramSvg } from "../figures/histogram.js";
import type { ReportInputs, StoreInput } from "../inputs.js";

const fmt1 = (x: number) => x.toFixed(1);
const pctOf = (a: number, b: number) => (b > 0 ? `${((100 * a) / b).toFixed(1)}%` : "–");

function splitLabelTable(index: IndexManifest): Block {
  const labels = [...new Set(index.utterances.map((u) => u.label))].sort();
  const splits = SPLITS.filter((s) => index.utterances.some((u) => u.split === s));
  const count = (s: string | null, l: string | null) => index.utterances.filter((u) => (s === null || u.split === s) && (l === null || u.label === l)).length;
  const rows: Cell[][] = labels.map((l) => [l, ...splits.map((s) => ({ text: String(count(s, l)), sort: count(s, l) })), { text: String(count(null, l)), sort: count(null, l) }]);
  rows.push(["all", ...splits.map((s) => String(count(s, null))), String(index.utterances.length)]);
  return {
    kind: "table",
    id: "corpus-split-label",
    caption: `Rows per label and split in the index (${index.utterances.length} rows, ${new Set(index.utterances.map((u) => u.session)).size} session(s)).`,
    columns: [{ label: "label" }, ...splits.map((s) => ({ label: s, numeric: true })), { label: "all", numeric: true }],
    rows,
  };
}

interface DurationSource {
  what: string;
  seconds: Map<string, number>;
  truncated?: Set<string>;
  cut?: number;
}

function durationSource(inputs: ReportInputs): DurationSource | null {
  const audio = inputs.stores.find((s) => s.meta?.modality === "audio" && s.clips && s.clips.length > 0);
  if (audio) {
    return {
      what: `clips.csv of ${audio.dir}`,
      seconds: new Map(audio.clips!.map((c) => [c.utterId, c.durationS])),
      truncated: new Set(audio.clips!.filter((c) => c.truncated).map((c) => c.utterId)),
      cut: audio.meta?.max_seconds,
    };
  }
  const index = inputs.index;
  if (index && index.columns.includes("duration")) {
    const seconds = new Map<string, number>();
    for (const u of index.utterances) {
      const v = Number(u.extra.duration);
      if (u.extra.duration !== "" && Number.isFinite(v)) seconds.set(u.utterId, v);
    }
    return { what: `the index's duration column`, seconds };
  }
  return null;
}

function durationBlocks(inputs: ReportInputs): Block[] {
  const src = durationSource(inputs);
  if (!src) return [{ kind: "para", cls: "note", text: "Durations: no audio store with clips.csv and no duration column in the index." }];
  const label = new Map(inputs.index?.utterances.map((u) => [u.utterId, u.label]) ?? []);
  const groups = new Map<string, number[]>();
  const cutBy = new Map<string, number>();
  for (const [id, s] of src.seconds) {
    const l = label.get(id) ?? "(not in index)";
    (groups.get(l) ?? groups.set(l, []).get(l)!).push(s);
    if (src.truncated?.has(id)) cutBy.set(l, (cutBy.get(l) ?? 0) + 1);
  }
  const all = [...src.seconds.values()];
  const stats = (xs: number[]) => {
    const sorted = [...xs].sort((a, b) => a - b);
    const total = xs.reduce((a, b) => a + b, 0);
    return { n: xs.length, total, mean: total / Math.max(1, xs.length), median: sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : NaN, max: sorted[sorted.length - 1] ?? NaN };
  };
  const rowOf = (name: string, xs: number[], cut: number): Cell[] => {
    const s = stats(xs);
    return [
      name,
      String(s.n),
      { text: fmt1(s.total / 60), sort: s.total },
      { text: s.mean.toFixed(2), sort: s.mean },
      { text: s.max.toFixed(2), sort: s.max },
      ...(src.truncated ? [{ text: `${cut} (${pctOf(cut, s.n)})`, sort: cut }] : []),
    ];
  };
  const labels = [...groups.keys()].sort();
  const rows = labels.map((l) => rowOf(l, groups.get(l)!, cutBy.get(l) ?? 0));
  rows.push(rowOf("all", all, src.truncated?.size ?? 0));
  const blocks: Block[] = [
    { kind: "heading", level: 3, text: "Durations", id: "corpus-durations" },
    {
      kind: "table",
      id: "corpus-durations-table",
      caption:
        `Audio per label from ${src.what}: clips, total minutes, mean and longest clip in seconds` +
        (src.truncated ? `, and the clips the cut to ${src.cut ?? "?"} s shortened.` : "."),
      columns: [
        { label: "label" },
        { label: "clips", numeric: true },
        { label: "minutes", numeric: true },
        { label: "mean s", numeric: true },
        { label: "max s", numeric: true },
        ...(src.truncated ? [{ label: "shortened by the cut", numeric: true }] : []),
      ],
      rows,
    },
    {
      kind: "figure",
      id: "fig-durations",
      svg: histogramSvg({
        title: "Clip durations",
        values: all,
        xLabel: "duration (s)",
        mark: src.cut ? { at: src.cut, label: `cut at ${src.cut} s` } : undefined,
      }),
      caption:
        `Distribution of the original clip durations (n = ${all.length} clips, from ${src.what})` +
        (src.cut ? `; the dashed line is the cut (--max-seconds ${src.cut}): ${src.truncated?.size ?? 0} clip(s) to its right were shortened to it.` : "."),
    },
  ];
  return blocks;
}

function textBlocks(inputs: ReportInputs): Block[] {
  const textStores = inputs.stores.filter((s) => s.meta?.modality === "text");
  if (textStores.length === 0) return [];
  const blocks: Block[] = [{ kind: "heading", level: 3, text: "Text lengths", id: "corpus-text" }];
  const withRecords = textStores.filter((s) => s.texts && s.texts.length > 0);
  for (const s of textStores.filter((t) => !withRecords.includes(t))) {
    const truncated = s.meta?.totals?.truncated;
    blocks.push({
      kind: "para",
      cls: "note",
      text: `${s.dir}: no texts.csv (a store made before token counts were recorded)` + (truncated !== undefined ? `; meta.json says --max-len truncated ${truncated} text(s).` : "."),
    });
  }
  // Token counts depend only on the tokenizer: one histogram per distinct model.
  const seen = new Set<string>();
  for (const s of withRecords) {
    const key = `${s.meta?.model?.sha256}|${s.meta?.max_len}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const tokens = s.texts!.map((t) => t.tokens);
    const truncated = s.texts!.filter((t) => t.truncated).length;
    const sorted = [...tokens].sort((a, b) => a - b);
    blocks.push({
      kind: "figure",
      id: `fig-tokens-${seen.size}`,
      svg: histogramSvg({
        title: `Text length in tokens (${s.meta?.model?.id ?? s.dir})`,
        values: tokens,
        xLabel: "tokens (special tokens included)",
        integer: true,
        mark: s.meta?.max_len ? { at: s.meta.max_len, label: `--max-len ${s.meta.max_len}` } : undefined,
      }),
      caption:
        `Tokens per text with ${s.meta?.model?.id ?? "the store's"} tokenizer (texts.csv of ${s.dir}; n = ${tokens.length} texts; median ${sorted[Math.floor((sorted.length - 1) / 2)]}, max ${sorted[sorted.length - 1]}). ` +
        `${truncated} text(s) (${pctOf(truncated, tokens.length)}) were longer than --max-len ${s.meta?.max_len ?? "?"} and truncated.`,
    });
  }
  return blocks;
}

function failureBlocks(stores: StoreInput[]): Block[] {
  const blocks: Block[] = [{ kind: "heading", level: 3, text: "Failed rows", id: "corpus-failures" }];
  const rows: Cell[][] = [];
  for (const s of stores) {
    const by = new Map<string, string[]>();
    for (const f of s.failures) (by.get(f.reason) ?? by.set(f.reason, []).get(f.reason)!).push(`${f.utterId} (row ${f.row})`);
    for (const [reason, items] of [...by.entries()].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0])))
      rows.push([s.dir, reason, { text: String(items.length), sort: items.length }, items.slice(0, 3).join(", ") + (items.length > 3 ? ", ..." : "")]);
  }
  if (stores.length === 0) blocks.push({ kind: "para", cls: "note", text: "No feature stores given." });
  else if (rows.length === 0) blocks.push({ kind: "para", cls: "ok", text: `No row failed in any of the ${stores.length} store(s).` });
  else
    blocks.push({
      kind: "table",
      id: "corpus-failures-table",
      sortable: true,
      caption: `Rows the extraction could not use (failures.csv), per store and reason (${rows.reduce((a, r) => a + Number((r[2] as { sort: number }).sort), 0)} in all); such rows are absent from the store and left out of training.`,
      columns: [{ label: "store" }, { label: "reason" }, { label: "rows", numeric: true }, { label: "examples" }],
      rows,
    });
  return blocks;
}

export function corpusSection(inputs: ReportInputs): Section {
  const blocks: Block[] = [{ kind: "para", cls: "note", text: inputs.indexNote }];
  if (inputs.index) blocks.push(splitLabelTable(inputs.index));
  blocks.push(...durationBlocks(inputs), ...textBlocks(inputs), ...failureBlocks(inputs.stores));
  return { id: "corpus", title: "Corpus", blocks };
}
