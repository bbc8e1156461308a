/**
 * `--classes`: which labels to keep and which to merge, e.g. `neutral,happy+excited,angry,sad` (the
 * standard 4-class IEMOCAP task from a 6-class index). A group `a+b` is named after its first member unless
 * it is written `name=a+b`. Class ids follow the order of --classes (the order of the confusion matrix and of
 * the head's outputs); without --classes, the sorted labels.
 */
import { EmofeatError, UsageError } from "../errors.js";

export interface ClassPlan {
  /** Class names in id order (--classes order, or sorted labels). */
  labels: string[];
  /** Original label -> class name; labels not in the map are left out (and reported). */
  map: Map<string, string>;
  /** The --classes text, or null when every label is its own class. */
  spec: string | null;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export function parseClasses(spec: string): ClassPlan {
  const map = new Map<string, string>();
  const names = new Set<string>();
  const groups = spec.split(",").map((g) => g.trim());
  if (groups.some((g) => g === "")) throw new UsageError(`--classes "${spec}": empty class (check the commas)`);
  for (const group of groups) {
    const eq = group.indexOf("=");
    const name = eq >= 0 ? group.slice(0, eq).trim() : undefined;
    const members = (eq >= 0 ? group.slice(eq + 1) : group).split("+").map((m) => m.trim());
    if (members.some((m) => m === "") || name === "") throw new UsageError(`--classes "${spec}": malformed group "${group}"`);
    const className = name ?? members[0];
    if (names.has(className)) throw new UsageError(`--classes "${spec}": class "${className}" defined twice`);
    names.add(className);
    for (const m of members) {
      if (map.has(m)) throw new UsageError(`--classes "${spec}": label "${m}" appears in two groups`);
      map.set(m, className);
    }
  }
  if (names.size < 2) throw new UsageError(`--classes "${spec}": need at least 2 classes`);
  return { labels: [...names], map, spec };
}

/** Every label of the index as its own class. */
export function identityClasses(labels: Iterable<string>): ClassPlan {
  const set = [...new Set(labels)].sort(byCodePoint);
  return { labels: set, map: new Map(set.map((l) => [l, l])), spec: null };
}
