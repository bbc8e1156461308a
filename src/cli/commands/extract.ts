import type { Command } from "commander";

export function registerExtract(program: Command): void {
  program.command("extract").description("Extract utterance embeddings into a feature store (text | audio)");
}
