/** vitest globalSetup: builds src/ once into dist-test/ so CLI tests start `node dist-test/cli/main.js` (see build-cli.ts). */
import { buildCli } from "./build-cli.js";

export default async function setup(): Promise<void> {
  await buildCli();
}
