// Drives headless Debian Chromium through the web app with Playwright (npm playwright-core from web/; no browser
// download). One scenario per run: `node browser.mjs SCENARIO` with the settings as JSON on the first line of
// standard input. It asks its caller for what only the server side knows with "ASK <what> <arg>" lines and
// reads one answer line back; it ends with "RESULT <json>" or throws (non-zero exit).
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "..", "..", "web", "package.json"));
const { chromium } = require("playwright-core");

const lines = readline.createInterface({ input: process.stdin });
const iterator = lines[Symbol.asyncIterator]();
async function readLine() {
  const { value, done } = await iterator.next();
  if (done) throw new Error("the test closed standard input");
  return value;
}
async function ask(what, arg) {
  process.stdout.write(`ASK ${what} ${arg}\n`);
  return (await readLine()).trim();
}

const settings = JSON.parse(await readLine());
const { base, artifacts } = settings;
const PHONE = { viewport: { width: 390, height: 844 }, locale: "vi-VN", timezoneId: "Asia/Ho_Chi_Minh" };
const TIMEOUT = 20_000;

const browser = await chromium.launch({
  executablePath: settings.chromium ?? "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
});

async function newPage() {
  const context = await browser.newContext(PHONE);
  context.setDefaultTimeout(TIMEOUT);
  const page = await context.newPage();
  page.answers = []; // what to type into the next prompts
  page.on("dialog", (dialog) => dialog.accept(page.answers.shift()));
  page.on("pageerror", (error) => process.stderr.write(`page error: ${error.message}\n`));
  return page;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: false });
}

async function signIn(page, card, pin) {
  await page.goto(`${base}/#/signin`);
  await page.getByLabel("Số thẻ bạn đọc").fill(card);
  await page.getByLabel("Mã PIN").fill(pin);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.locator("header .who").waitFor();
}

async function staffSignIn(page, username, password) {
  await page.goto(`${base}/#/staff/signin`);
  await page.getByLabel("Tên đăng nhập").fill(username);
  await page.getByLabel("Mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.getByRole("heading", { name: "Quản lý thư viện" }).waitFor();
}

async function openReader(page) {
  await page.goto(`${base}/#/loans`);
  await page.getByRole("link", { name: "Đọc" }).first().click();
  await page.locator("#reading-container[data-ready=true]").waitFor();
  await page.waitForFunction(() => document.querySelector("#reading-container")?.dataset.position);
  return readerState(page);
}

function readerState(page) {
  return page.evaluate(() => {
    const data = document.querySelector("#reading-container").dataset;
    return { href: data.href, position: data.position, progression: data.progression, saved: data.saved ?? null };
  });
}

const scenarios = {
  /** Right-to-left and vertical books open in the navigator and turn pages. */
  async layouts() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    const results = {};
    for (const [name, loan] of Object.entries(settings.loans)) {
      await page.goto(`${base}/?at=${Date.now()}#/read/${loan}`); // a full load: no container left from the last book
      await page.locator("#reading-container[data-ready=true]").waitFor({ timeout: 45_000 });
      await page.waitForFunction(() => document.querySelector("#reading-container")?.dataset.position);
      const before = await readerState(page);
      await page.locator("#page-next").click();
      await page.waitForFunction(
        (previous) => {
          const data = document.querySelector("#reading-container").dataset;
          return `${data.href}|${data.progression}` !== previous;
        },
        `${before.href}|${before.progression}`,
      );
      await shot(page, `14-${name}`);
      results[name] = { before, after: await readerState(page) };
    }
    return results;
  },

  /** A PDF reads as page images; turning a page saves the position, which a second device restores. */
  async pdf() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.getByLabel(/^Tên sách, tác giả/).fill(settings.query);
    await page.getByRole("button", { name: "Tìm", exact: true }).click();
    await page.getByRole("link", { name: settings.title }).click();
    await page.getByRole("button", { name: "Mượn sách" }).click();
    await page.getByRole("heading", { name: "Sách đang mượn" }).waitFor();
    await page.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("link", { name: "Đọc" }).click();
    await page.locator("#reading-container[data-ready=true]").waitFor();
    await page.locator("#page-next").click();
    await page.locator("#page-next").click();
    await page.waitForFunction(() => document.querySelector("#reading-container").dataset.saved?.includes("page=3"));
    await page.waitForFunction(() => {
      const image = document.querySelector("#pdf-page");
      return image.complete && image.naturalWidth > 0;
    });
    const loaded = await page.locator("#pdf-page").evaluate((image) => image.naturalWidth);
    await shot(page, "13-pdf-page");
    const other = await newPage();
    await signIn(other, settings.card, settings.pin);
    await other.goto(`${base}/#/loans`);
    await other.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("link", { name: "Đọc" }).click();
    await other.locator("#reading-container[data-ready=true]").waitFor();
    const restored = await other.locator("#reading-container").getAttribute("data-position");

    // The same loan in a reading app: the first licence download asks for a reading passphrase and its hint.
    await other.goto(`${base}/#/loans`);
    other.answers.push(settings.passphrase, settings.hint);
    const [download] = await Promise.all([
      other.waitForEvent("download"),
      other.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("button", { name: "Tải giấy phép cho ứng dụng đọc" }).click(),
    ]);
    const licencePath = path.join(artifacts, "licence.lcpl");
    await download.saveAs(licencePath);
    return { width: loaded, restored, licence: licencePath };
  },

  /** 4. A loan reaches its due time: the open book cannot be opened again, the app says why. */
  async expire() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.goto(`${base}/#/read/${settings.loan}`);
    try {
      await page.locator("#reading-container[data-ready=true]").waitFor({ timeout: 45_000 });
    } finally {
      await shot(page, "11-reading-before-due");
    }
    await ask("wait_until_expired", settings.loan);
    await page.goto(`${base}/#/loans`);
    await page.goto(`${base}/#/read/${settings.loan}`);
    const stopped = await page.locator("#status.error").textContent({ timeout: TIMEOUT });
    await shot(page, "12-reading-after-due");
    const ready = await page.locator("#reading-container[data-ready=true]").count();
    return { stopped, ready };
  },

  /** 1. Register remotely → the librarian approves → sign in. */
  async register() {
    const page = await newPage();
    await page.goto(`${base}/#/apply`);
    await page.getByRole("heading", { name: "Đăng ký thẻ bạn đọc từ xa" }).waitFor();
    await page.getByLabel("Thư viện").selectOption(settings.library);
    await page.getByLabel("Họ và tên").fill(settings.name);
    await page.getByLabel("Thư điện tử").fill(settings.email);
    await page.getByLabel("Mã PIN").fill(settings.pin);
    await shot(page, "01-apply");
    await page.getByRole("button", { name: "Gửi đăng ký" }).click();
    const verify = page.locator("form[data-application]");
    await verify.waitFor();
    const applicationId = await verify.getAttribute("data-application");
    await page.getByLabel("Mã xác nhận").fill(await ask("verification_code", applicationId));
    await page.getByRole("button", { name: "Xác nhận" }).click();
    await page.locator("main .done").filter({ hasText: "Đã xác nhận. Thư viện sẽ duyệt đơn của bạn" }).waitFor();

    const desk = await newPage();
    await staffSignIn(desk, settings.librarian.username, settings.librarian.password);
    const application = desk.locator(`li[data-application="${applicationId}"]`);
    await application.getByText(settings.name).waitFor();
    await shot(desk, "02-librarian-applications");
    await application.getByRole("button", { name: "Duyệt" }).click();
    const approved = await desk.locator("#status").filter({ hasText: "Đã duyệt" }).textContent();
    const card = /thẻ số (\S+)/.exec(approved ?? "")?.[1];
    if (!card) throw new Error(`no card number in "${approved}"`);

    await signIn(page, card, settings.pin);
    await page.locator("header .who").filter({ hasText: `Xin chào, ${settings.name}` }).waitFor();
    await shot(page, "03-signed-in-catalogue");
    return { applicationId, card };
  },

  /** 2. Search without diacritics, borrow, open the book, turn pages; the position comes back elsewhere. */
  async read() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.getByLabel(/^Tên sách, tác giả/).fill(settings.query);
    await page.getByRole("button", { name: "Tìm", exact: true }).click();
    await page.getByRole("link", { name: settings.title }).click();
    await page.getByText("Còn 1/1 bản").waitFor();
    await page.getByLabel("Thời hạn mượn").selectOption("P14D");
    await shot(page, "04-title");
    await page.getByRole("button", { name: "Mượn sách" }).click();
    await page.getByRole("heading", { name: "Sách đang mượn" }).waitFor();
    await page.locator("li[data-loan]").getByText(settings.title).waitFor();
    await shot(page, "05-loans");
    const opened = await openReader(page);
    // Chapters a few pages apart: turn pages until the reader is past the first resource's first page.
    for (let turn = 0; turn < 4; turn++) {
      const before = await readerState(page);
      await page.locator("#page-next").click();
      try {
        await page.waitForFunction(
          (previous) => {
            const data = document.querySelector("#reading-container").dataset;
            return `${data.href}|${data.progression}` !== previous;
          },
          `${before.href}|${before.progression}`,
          { timeout: 10_000 },
        );
      } catch (error) {
        await shot(page, "06-reader-stuck");
        throw new Error(`the page did not turn from ${JSON.stringify(before)}: ${error}`);
      }
    }
    await page.waitForTimeout(300);
    const turned = await readerState(page);
    await page.waitForFunction((position) => {
      const saved = document.querySelector("#reading-container").dataset.saved;
      return saved && JSON.parse(saved).locations?.position === Number(position);
    }, turned.position);
    await shot(page, "06-reader");

    const other = await newPage();
    await signIn(other, settings.card, settings.pin);
    const restored = await openReader(other);
    await shot(other, "07-reader-restored");
    const restoredState = await readerState(other);

    // Reading tools: search inside the book (no diacritics), jump to a hit, bookmark it, go to a position.
    await other.getByLabel("Tìm trong sách").fill("cai dat");
    await other.getByRole("button", { name: "Tìm", exact: true }).click();
    await other.locator("#book-search-results li").first().waitFor();
    const hits = await other.locator("#book-search-results li button").count();
    const hitText = await other.locator("#book-search-results li mark").first().textContent();
    const beforeHit = await readerState(other);
    await other.locator("#book-search-results li button").first().click();
    await other.waitForFunction((previous) => document.querySelector("#reading-container").dataset.href !== previous || true, beforeHit.href);
    await other.waitForTimeout(500);
    await other.getByRole("button", { name: "Đánh dấu trang" }).click();
    await other.getByText("Đã đánh dấu trang này").waitFor();
    const bookmarks = await other.locator("#bookmarks option").count();
    await other.getByLabel("Đến vị trí").fill("100");
    await other.getByLabel("Đến vị trí").press("Enter");
    await other.waitForFunction(() => document.querySelector("#reading-container").dataset.position === "100");
    await shot(other, "07b-reader-tools");
    return { opened, turned, restored: restoredState, hits, hitText, bookmarks };
  },

  /** 3. No copy left: a hold at position 1; the first reader returns early; the hold is ready, with a message. */
  async hold() {
    const second = await newPage();
    await signIn(second, settings.second.card, settings.second.pin);
    await second.goto(`${base}/#/?q=${encodeURIComponent(settings.query)}`);
    await second.getByRole("link", { name: settings.title }).click();
    await second.getByText(/^Hết bản/).waitFor();
    await second.getByRole("button", { name: "Đặt trước" }).click();
    await second.getByRole("heading", { name: "Sách đặt trước" }).waitFor();
    await second.getByText("Vị trí trong hàng chờ: 1").waitFor();
    await shot(second, "08-holds");

    // The second patron keeps her inbox open: the hold message must arrive live, without a reload.
    const watcher = await newPage();
    await signIn(watcher, settings.second.card, settings.second.pin);
    await watcher.goto(`${base}/#/inbox`);
    await watcher.getByRole("heading", { name: "Hộp thư" }).waitFor();
    await watcher.waitForTimeout(1000); // the stream connects

    const first = await newPage();
    await signIn(first, settings.first.card, settings.first.pin);
    await first.goto(`${base}/#/loans`);
    await first.locator("li[data-loan]").getByText(settings.title).waitFor();
    await first.getByRole("button", { name: "Trả sớm" }).first().click();
    const returnedAt = Date.now();
    await first.locator("#status").filter({ hasText: "Đã trả sách." }).waitFor();

    let ready = false;
    while (!ready && Date.now() - returnedAt < 15_000) {
      await second.goto(`${base}/?at=${Date.now()}#/holds`); // a full load, not a same-page hash jump
      await second.getByRole("heading", { name: "Sách đặt trước" }).waitFor();
      await second.locator("li[data-hold]").first().waitFor();
      ready = (await second.locator('li[data-hold][data-state="ready"]').count()) > 0;
      if (!ready) await second.waitForTimeout(500);
    }
    if (!ready) throw new Error("the hold did not become ready within 15 s");
    const holdReadyAfterMs = Date.now() - returnedAt;
    let inbox = [];
    while (Date.now() - returnedAt < 30_000) {
      await second.goto(`${base}/?at=${Date.now()}#/inbox`);
      await second.getByRole("heading", { name: "Hộp thư" }).waitFor();
      await second.locator("main .page > *:nth-child(2)").waitFor();
      inbox = await second.locator("li.message").evaluateAll((items) => items.map((item) => ({ kind: item.dataset.kind, text: item.textContent })));
      if (inbox.some((message) => /hold|ready/i.test(message.kind ?? ""))) break;
      await second.waitForTimeout(500);
    }
    await shot(second, "09-inbox");
    await watcher.waitForFunction(
      () => [...document.querySelectorAll("#inbox-list li.message")].some((item) => /hold|ready/i.test(item.dataset.kind ?? "")),
      null,
      { timeout: 30_000 },
    );
    const liveAfterMs = Date.now() - returnedAt;
    await shot(watcher, "09b-inbox-live");
    return { holdReadyAfterMs, inboxAfterMs: Date.now() - returnedAt, inbox, liveAfterMs };
  },

  /** 5. The librarian's report counts these loans; the CSV downloads. */
  async report() {
    const desk = await newPage();
    await staffSignIn(desk, settings.admin.username, settings.admin.password);
    await desk.locator("#report-table").waitFor();
    const rows = await desk.locator("#report-table tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    await desk.locator("#library-loans").scrollIntoViewIfNeeded();
    await shot(desk, "10-librarian-report");
    const [download] = await Promise.all([desk.waitForEvent("download"), desk.getByRole("button", { name: "Tải về CSV" }).click()]);
    const csvPath = path.join(artifacts, "report.csv");
    await download.saveAs(csvPath);
    return { rows, csv: csvPath };
  },
};

try {
  const result = await scenarios[process.argv[2]]();
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
} finally {
  await browser.close();
  lines.close();
}
