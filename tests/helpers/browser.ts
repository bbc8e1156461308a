/**
 * Headless Chromium for browser checks (the serve page, the report): Debian's `chromium` driven by puppeteer-core,
 * which never downloads a browser of its own. `.ci/run` installs chromium with apt when it is missing.
 */
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type { Browser, LaunchOptions } from "puppeteer-core";

const CANDIDATES = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The browser binary, or undefined when none is installed. */
export function chromiumPath(): string | undefined {
  return CANDIDATES.find((p): p is string => !!p && existsSync(p));
}

/**
 * Starts headless Chromium with the flags this machine needs (no sandbox as root, no background networking: the
 * network is closed) and a fresh profile that is removed on close. `extraArgs` e.g. a fake microphone.
 */
export async function launchChromium(extraArgs: string[] = [], options: LaunchOptions = {}): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("no chromium found: install Debian's chromium (apt-get install chromium) or set CHROMIUM_PATH");
  const { default: puppeteer } = await import("puppeteer-core");
  const profile = await mkdtemp(path.join(os.tmpdir(), "emofeat-chromium-"));
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    userDataDir: profile,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      ...extraArgs,
    ],
    ...options,
  });
  const close = browser.close.bind(browser);
  browser.close = async () => {
    await close();
    await rm(profile, { recursive: true, force: true });
  };
  return browser;
}
