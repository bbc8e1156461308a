import { existsSync } from "node:fs";
import path from "node:path";
import { ROOT, SHARED } from "./paths.js";

export const REPO = ROOT;
/** Real corpus samples beside the repository (never copied into it). */
export const SHARED_DATA = path.join(SHARED, "data");

export function sharedData(sub: string): string {
  const dir = path.join(SHARED_DATA, sub);
  if (!existsSync(dir)) throw new Error(`${dir} is missing: these tests need ../shared/data beside the repository (see its README.md)`);
  return dir;
}
