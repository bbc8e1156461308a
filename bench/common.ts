/** What the benchmarks share: the generated base-sized models and a fixed-seed random source. */
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** bench/models/<name>, or exit with the command that generates it (the models are large and not committed). */
export function benchModel(name: string, generator: string): string {
  const dir = path.join(ROOT, "bench", "models", name);
  if (!existsSync(path.join(dir, "onnx", "model.onnx"))) {
    console.error(`missing ${dir}: generate it with\n  /usr/bin/python3 ${generator} --bench\n(needs Debian's python3-torch and python3-onnx)`);
    process.exit(2);
  }
  return dir;
}

/** A seeded LCG with uniform [0, 1) and standard normal draws, so every run sees the same inputs. */
export function seededRandom(seed: number): { rnd: () => number; gauss: () => number } {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
  return { rnd, gauss };
}
