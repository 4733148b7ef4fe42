// What every browser script here shares (browser.mjs, offline.mjs): Playwright from web/'s node_modules (no
// browser download: Debian's Chromium), the "ASK <what> <arg>" / answer-line exchange with the test on standard
// input and output, and the launch options.
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const require = createRequire(path.join(here, "..", "..", "web", "package.json"));
export const { chromium } = require("playwright-core");

export const lines = readline.createInterface({ input: process.stdin });
const iterator = lines[Symbol.asyncIterator]();
export async function readLine() {
  const { value, done } = await iterator.next();
  if (done) throw new Error("the test closed standard input");
  return value;
}
export async function ask(what, arg) {
  process.stdout.write(`ASK ${what} ${arg}\n`);
  return (await readLine()).trim();
}

/** Headless Chromium as every scenario runs it. */
export function launch(settings) {
  return chromium.launch({
    executablePath: settings.chromium ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
  });
}
