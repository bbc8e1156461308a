import type { Command } from "commander";

export function registerValidate(program: Command): void {
  program.command("validate").description("Check feature stores against the index, row by row");
}
