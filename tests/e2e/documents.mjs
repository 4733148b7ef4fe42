// Local documents in headless Debian Chromium (npm playwright-core from web/): the open document viewer (page image,
// OCR text, a search hit marked on the page) on a phone and a desktop, the staff upload (tus: pause, then resume
// from the server's offset), the correction page and the progress page. `node documents.mjs SCENARIO` with the
// settings as JSON on the first line of standard input; it ends with "RESULT <json>" or throws.
import path from "node:path";
import { axe as axeViolations, launch, openPage, readLine, require, runScenario, screenshot, VIEWPORTS } from "./harness.mjs";

const settings = JSON.parse(await readLine());
const { base, artifacts } = settings;
const browser = await launch(settings);
const newPage = (name) => openPage(browser, VIEWPORTS[name], 30_000);
const shot = (page, name) => screenshot(page, artifacts, name);

/** The part of an element's box a person can see: inside the viewport (and its own scrolling stage). */
async function visibleBox(locator) {
  return locator.evaluate((element) => {
    const box = element.getBoundingClientRect();
    const stage = element.closest(".doc-stage")?.getBoundingClientRect() ?? { left: 0, top: 0, right: innerWidth, bottom: innerHeight };
    const left = Math.max(box.left, 0, stage.left);
    const top = Math.max(box.top, 0, stage.top);
    const right = Math.min(box.right, innerWidth, stage.right);
    const bottom = Math.min(box.bottom, innerHeight, stage.bottom);
    const style = getComputedStyle(element);
    const shown = style.display !== "none" && style.visibility !== "hidden" && element.offsetParent !== null;
    return { x: box.left, y: box.top, width: box.width, height: box.height, visibleArea: shown ? Math.max(0, right - left) * Math.max(0, bottom - top) : 0 };
  });
}

async function login(page) {
  await page.goto(`${base}/staff/signin`);
  await page.getByLabel("Tên đăng nhập").fill(settings.staff.username);
  await page.getByLabel("Mật khẩu").fill(settings.staff.password);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.getByRole("heading", { name: "Quản lý thư viện" }).waitFor();
}

const OPENSEADRAGON = require.resolve("openseadragon/build/openseadragon/openseadragon.min.js");

const scenarios = {
  /** An independent IIIF client, OpenSeadragon (not our viewer), opens a page's Image API service from its
   * info.json and draws it from the tiles it asks for in IIIF's own URL syntax, on a blank page of another origin. */
  async iiifClient() {
    const page = await newPage("desktop");
    const requests = [];
    page.on("response", (response) => {
      if (response.url().startsWith(settings.service)) requests.push({ url: response.url(), status: response.status() });
    });
    await page.setContent('<!doctype html><html lang="vi"><title>IIIF</title><body style="margin:0"><div id="osd" style="width:1280px;height:800px;background:#808080"></div></body></html>');
    await page.addScriptTag({ path: OPENSEADRAGON });
    const opened = await page.evaluate(
      (info) =>
        new Promise((resolve, reject) => {
          const viewer = window.OpenSeadragon({ element: document.getElementById("osd"), tileSources: info, drawer: "canvas", showNavigationControl: false, animationTime: 0, immediateRender: true });
          viewer.addHandler("open-failed", (event) => reject(new Error(`open failed: ${event.message}`)));
          viewer.addHandler("open", () => {
            const item = viewer.world.getItemAt(0);
            const done = () => resolve({ width: item.source.width, height: item.source.height });
            if (item.getFullyLoaded()) done();
            else item.addOnceHandler("fully-loaded-change", (event) => event.fullyLoaded && done());
          });
        }),
      `${settings.service}/info.json`,
    );
    await shot(page, "desktop-iiif-openseadragon");
    await page.locator("#osd").screenshot({ path: path.join(artifacts, "iiif-openseadragon-stage.png") });
    return { opened, requests, stage: path.join(artifacts, "iiif-openseadragon-stage.png") };
  },

  /** An open local document, read without signing in, on both screens. */
  async viewer() {
    const result = {};
    for (const name of Object.keys(VIEWPORTS)) {
      const page = await newPage(name);
      await page.goto(`${base}/title/${settings.title}`);
      await page.getByRole("link", { name: "Đọc tự do" }).click();
      await page.waitForURL(/\/documents\//);
      const image = page.locator("#doc-page-image");
      await page.waitForFunction(() => {
        const img = document.querySelector("#doc-page-image");
        return img && img.complete && img.naturalWidth > 0;
      });
      const seen = { imageNatural: await image.evaluate((img) => img.naturalWidth), image: await visibleBox(image), signedIn: await page.evaluate(() => Boolean(localStorage.getItem("sachso.patron"))) };
      seen.viewport = page.viewportSize();
      seen.alt = await image.getAttribute("alt");
      await shot(page, `${name}-document-viewer`);
      if (name === "phone") await page.locator("#doc-show-text").click();
      const text = page.locator("#doc-text");
      seen.text = await text.innerText();
      seen.textBox = await visibleBox(text);
      if (name === "phone") await page.getByRole("button", { name: "Ảnh", exact: true }).click();
      await page.locator("#doc-search").fill("cai dat");
      await page.getByRole("button", { name: "Tìm", exact: true }).click();
      const hit = page.locator(".doc-hit").first();
      await hit.waitFor({ state: "attached" });
      await page.waitForFunction(() => document.querySelector("#doc-page-image")?.complete);
      await hit.evaluate((element) => element.scrollIntoView({ block: "center", inline: "center" }));
      seen.hit = await visibleBox(hit);
      seen.imageAfterSearch = await visibleBox(image);
      seen.hitCount = await page.locator(".doc-hit").count();
      seen.results = await page.locator("#doc-results").innerText();
      await shot(page, `${name}-document-search`);
      if (name === "phone") await page.locator("#doc-show-text").click();
      seen.marked = await page.locator("#doc-text mark").allInnerTexts();
      seen.markBox = await visibleBox(page.locator("#doc-text mark").first());
      if (name === "phone") await shot(page, "phone-document-text");
      seen.axe = await axeViolations(page);
      result[name] = seen;
      await page.context().close();
    }
    // the open reading's own address (/read/open/{title}) hands over to the viewer: the reading is counted once
    const page = await newPage("phone");
    const counted = [];
    page.on("request", (request) => {
      if (request.method() === "POST" && request.url().includes("/open-reading")) counted.push(request.url());
    });
    await page.goto(`${base}/read/open/${settings.title}`);
    await page.waitForURL(/\/documents\//);
    await page.waitForFunction(() => document.querySelector("#doc-page-image")?.naturalWidth > 0);
    result.openAddress = { path: new URL(page.url()).pathname, openReadings: counted.length };
    await page.context().close();
    return result;
  },

  /** A patron borrows a read-online-only document on the phone: "Đọc" on the title page opens the viewer with her
   * loan, every page image from the loan's IIIF root (watermarked by the reader). On the desktop she follows the
   * viewer's address before signing in: it asks her to sign in, then brings her back to the pages. */
  async lent() {
    const result = {};
    let viewerPath = "";
    for (const name of Object.keys(VIEWPORTS)) {
      const page = await newPage(name);
      const openRequests = [];
      page.on("request", (request) => {
        if (request.url().includes("/iiif/open/")) openRequests.push(request.url());
      });
      const signIn = async () => {
        await page.getByLabel("Số thẻ bạn đọc").fill(settings.card);
        await page.getByLabel("Mã PIN").fill(settings.pin);
        await page.getByRole("button", { name: "Đăng nhập" }).click();
      };
      if (viewerPath) {
        await page.goto(`${base}${viewerPath}`);
        await page.waitForURL(/\/signin\?next=/);
        await signIn();
      } else {
        await page.goto(`${base}/signin`);
        await signIn();
        await page.waitForURL(/\/shelf$/);
        await page.goto(`${base}/title/${settings.title}`);
        await page.locator("#title-borrow").waitFor();
        await shot(page, `${name}-lent-document-title`);
        await page.locator("#title-borrow").click();
        await page.waitForURL(/\/shelf$/);
        await page.goto(`${base}/title/${settings.title}`);
        await page.locator("#title-read").click();
      }
      await page.waitForURL(/\/documents\/.*loan=/);
      viewerPath = new URL(page.url()).pathname + new URL(page.url()).search;
      const image = page.locator("#doc-page-image");
      await page.waitForFunction(() => {
        const img = document.querySelector("#doc-page-image");
        return img && img.complete && img.naturalWidth > 0;
      });
      await page.waitForFunction(() => document.querySelector("#doc-text")?.textContent.trim()); // hidden on a phone until "Văn bản"
      const url = new URL(page.url());
      const seen = {
        path: url.pathname,
        loan: url.searchParams.get("loan"),
        src: await image.getAttribute("src"),
        imageNatural: await image.evaluate((img) => img.naturalWidth),
        image: await visibleBox(image),
        viewport: page.viewportSize(),
        lent: await page.locator("#doc-lent").innerText(),
      };
      await shot(page, `${name}-lent-document`);
      if (name === "phone") await page.locator("#doc-show-text").click();
      seen.text = await page.locator("#doc-text").innerText();
      seen.axe = await axeViolations(page);
      seen.openRequests = openRequests;
      if (name === "desktop") {
        // a token whose manifest is a Readium one (DRM took the loan for a book's): a clear message, never a crash
        await page.route("**/streaming-token", async (route) => {
          const answer = await route.fetch();
          const token = await answer.json();
          const readium = token.manifest_url.replace(/\/iiif\/loan\/.*$/, `/read/${token.token}/manifest.json`);
          await route.fulfill({ response: answer, json: { ...token, local_document: false, manifest_url: readium } });
        });
        const errors = [];
        page.on("pageerror", (error) => errors.push(String(error)));
        await page.reload();
        await page.locator("#status").filter({ hasText: "tài liệu địa chí" }).waitFor();
        seen.notDocument = { status: await page.locator("#status").innerText(), errors, images: await page.locator("#doc-page-image").count() };
        await shot(page, "desktop-lent-document-not-a-document");
      }
      result[name] = seen;
      await page.context().close();
    }
    return result;
  },

  /** Staff upload with a pause in the middle, then the document's page, the correction and the progress report. */
  async staff() {
    const result = { offsets: [], screens: {} };
    const page = await newPage("desktop");
    page.on("request", (request) => {
      if (request.method() === "PATCH" && request.url().includes("/local-documents/uploads/")) result.offsets.push(Number(request.headers()["upload-offset"]));
    });
    await login(page);
    await page.goto(`${base}/staff/${settings.library}/documents`);
    await page.locator("#scan-file").setInputFiles(settings.file);
    await page.locator("#scan-title").fill("Bản đồ xã Ea Tu");
    await page.locator("#upload-start").click();
    await page.waitForFunction(() => Number(document.querySelector("#upload-progress")?.dataset.bytes ?? 0) > 0);
    await page.locator("#upload-pause").click();
    result.paused = await page.locator("#upload-state").innerText();
    result.pausedAt = Number(await page.locator("#upload-progress").getAttribute("data-bytes"));
    await shot(page, "desktop-upload-paused");
    await page.locator("#upload-pause").click(); // resume
    await page.waitForURL(/\/documents\/ld-/, { timeout: 60_000 });
    result.document = page.url().split("/").pop();
    await page.locator("#doc-pages li").first().waitFor();
    result.pages = await page.locator("#doc-pages li").count();
    await page.locator("#page-text").waitFor();
    await page.locator("#page-text").fill("Bản đồ xã Ea Tu\nnăm 1930");
    await page.locator("#save-correction").click();
    await page.locator("#last-correction").filter({ hasText: "Hiệu đính lần cuối" }).waitFor();
    result.lastCorrection = await page.locator("#last-correction").innerText();
    result.correctionImage = await visibleBox(page.locator("#correction-image"));
    await shot(page, "desktop-document-correction");
    result.axeDocument = await axeViolations(page);
    await page.context().close();

    for (const name of Object.keys(VIEWPORTS)) {
      const screen = await newPage(name);
      await login(screen);
      await screen.goto(`${base}/staff/${settings.library}/progress`);
      const chart = screen.locator("#progress-chart");
      await chart.waitFor();
      const row = screen.locator(`#progress-table tr[data-library="${settings.library}"]`);
      result.screens[name] = {
        chart: await visibleBox(chart),
        bars: await screen.locator("#progress-chart rect").count(),
        barValues: await screen.locator("#progress-chart rect").evaluateAll((rects) => rects.map((r) => Number(r.getAttribute("data-value")))),
        row: await row.innerText(),
        viewport: screen.viewportSize(),
        axe: await axeViolations(screen),
      };
      await shot(screen, `${name}-digitisation-progress`);
      const openReads = screen.locator(`#open-reads-table tr[data-library="${settings.library}"]`);
      await openReads.scrollIntoViewIfNeeded();
      result.screens[name].openReads = await visibleBox(openReads);
      result.screens[name].openReadsRow = await openReads.innerText();
      result.screens[name].openReadsCell = await openReads.locator("td").last().innerText();
      await shot(screen, `${name}-open-reads`);
      await screen.goto(`${base}/staff/${settings.library}/documents/${result.document}`);
      await screen.locator("#doc-pages li").first().waitFor();
      await shot(screen, `${name}-document-pages`);
      // a local document on the titles page: no "open to everyone" tick, a link to its description instead
      await screen.goto(`${base}/staff/${settings.library}/titles?q=${encodeURIComponent("huong dan cai dat may tinh")}`);
      const access = screen.locator(`#access-${settings.openTitle}`);
      await access.waitFor();
      await access.scrollIntoViewIfNeeded();
      result.screens[name].access = { text: await access.innerText(), box: await visibleBox(access), ticks: await screen.locator(`#open-${settings.openTitle}, #online-${settings.openTitle}`).count(), href: await access.locator("a").getAttribute("href") };
      await shot(screen, `${name}-staff-local-document-title`);
      await screen.context().close();
    }
    return result;
  },
};

await runScenario(browser, scenarios, artifacts);
