// What every browser script here shares (browser.mjs, offline.mjs, documents.mjs): Playwright from web/'s
// node_modules (no browser download: Debian's Chromium), the "ASK <what> <arg>" / answer-line exchange with the
// test on standard input and output, the launch options, pages, screenshots, axe-core, and how a scenario ends.
import { readFileSync } from "node:fs";
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

export const VIEWPORTS = {
  phone: { viewport: { width: 390, height: 844 }, locale: "vi-VN", timezoneId: "Asia/Ho_Chi_Minh", hasTouch: true },
  desktop: { viewport: { width: 1280, height: 800 }, locale: "vi-VN", timezoneId: "Asia/Ho_Chi_Minh" },
};

/** A page in a browser context of its own: every wait up to ``timeout`` ms, each dialog answered with the next of
 * ``page.answers`` (accepted when there is none), the page's uncaught errors written to standard error. */
export async function openPage(browser, options, timeout) {
  const context = await browser.newContext(options);
  context.setDefaultTimeout(timeout);
  const page = await context.newPage();
  page.answers = [];
  page.on("dialog", (dialog) => dialog.accept(page.answers.shift()));
  page.on("pageerror", (error) => process.stderr.write(`page error: ${error.message}\n`));
  return page;
}

export const screenshot = (page, artifacts, name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: false });

const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf-8");

/** axe-core run inside the page: its serious and critical violations, as "rule: target" strings. ``iframes``
 * false leaves a book's frames (the publisher's) out. */
export async function axe(page, { iframes = true } = {}) {
  await page.evaluate(AXE);
  return page.evaluate(async (inFrames) => {
    const result = await window.axe.run(document, { iframes: inFrames, resultTypes: ["violations"] });
    return result.violations
      .filter((violation) => ["serious", "critical"].includes(violation.impact))
      .map((violation) => `${violation.id}: ${violation.nodes.map((node) => node.target.join(" ")).slice(0, 3).join(", ")}`);
  }, iframes);
}

/** What every open page showed when a scenario failed: a screenshot each in ``artifacts`` and, on standard error
 * (the test's failure message), its address and the words on its screen. Never waits long: the failure matters. */
async function describePages(browser, artifacts, name) {
  let index = 0;
  for (const page of browser.contexts().flatMap((context) => context.pages())) {
    index += 1;
    try {
      await page.screenshot({ path: path.join(artifacts, `${name}-failure-${index}.png`), timeout: 5_000 });
      const text = await page.locator("body").innerText({ timeout: 5_000 });
      process.stderr.write(`page ${index} at ${page.url()} showed (${name}-failure-${index}.png):\n${text.slice(0, 2_000)}\n`);
    } catch (error) {
      process.stderr.write(`page ${index} at ${page.url()} could not be described: ${error.message}\n`);
    }
  }
}

/** Runs the scenario named on the command line: "RESULT <json>" on standard output, or the pages described and a
 * non-zero exit. The browser and standard input are closed either way. */
export async function runScenario(browser, scenarios, artifacts) {
  const name = process.argv[2];
  try {
    const result = await scenarios[name]();
    process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  } catch (error) {
    await describePages(browser, artifacts, name);
    throw error;
  } finally {
    await browser.close();
    lines.close();
  }
}
