// Offline reading, installing and Web Push in headless Debian Chromium (Playwright from web/, as browser.mjs):
// `node offline.mjs SCENARIO`, settings as JSON on the first line of standard input, "ASK <what> <arg>" lines
// answered by the test, "RESULT <json>" at the end. Every wait is on a condition, never a fixed sleep.
import { ask, launch, openPage, readLine, runScenario, screenshot, VIEWPORTS } from "./harness.mjs";

const settings = JSON.parse(await readLine());
const { base, artifacts } = settings;
const PHONE = { ...VIEWPORTS.phone, deviceScaleFactor: 1 };
const DESKTOP = VIEWPORTS.desktop;
const TIMEOUT = 30_000;

const browser = await launch(settings);
const newPage = (options = PHONE) => openPage(browser, options, TIMEOUT);
const shot = (page, name) => screenshot(page, artifacts, name);

async function signIn(page) {
  await page.goto(`${base}/signin`);
  await page.getByLabel("Số thẻ bạn đọc").fill(settings.card);
  await page.getByLabel("Mã PIN").fill(settings.pin);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.waitForURL(/\/shelf$/);
  await page.locator("#loans").waitFor(); // the shelf, with or without loans
}

/** The service worker controls the page (it claims clients on activation; a reload makes sure). */
async function controlled(page) {
  await page.evaluate(() => navigator.serviceWorker.ready);
  if (!(await page.evaluate(() => !!navigator.serviceWorker.controller))) await page.reload();
  await page.waitForFunction(() => !!navigator.serviceWorker.controller);
}

async function readerReady(page) {
  await page.locator("#reading-container[data-ready=true]").waitFor({ timeout: 60_000 });
  await page.waitForFunction(() => document.querySelector("#reading-container")?.dataset.position);
}

/** Waits until ``check`` (run in the page; it may be asynchronous) answers true. Playwright's waitForFunction
 * takes the promise an async check returns for a true answer at once, so such checks are polled from here. */
async function until(page, check, arg, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(check, arg))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${check}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const position = (page) => page.evaluate(() => document.querySelector("#reading-container").dataset.position);

/** Words of the book a person can see: inside the visible frame's viewport and the page's. */
async function turnPage(page) {
  const before = await page.evaluate(() => {
    const data = document.querySelector("#reading-container").dataset;
    return `${data.href}|${data.progression}`;
  });
  await page.locator("#page-next").click();
  await page.waitForFunction((previous) => {
    const data = document.querySelector("#reading-container").dataset;
    return `${data.href}|${data.progression}` !== previous;
  }, before);
  await settled(page);
}

/** Waits until the shown frames stop moving: the reader reports a turn's new position while its scroll may still
 * be under way, and what is on screen is only known once it ends. */
async function settled(page, timeout = 5_000) {
  const where = async () => {
    const places = [];
    for (const { frame, box } of await shownFrames(page)) {
      places.push([box.x, box.y, ...(await frame.evaluate(() => [document.scrollingElement?.scrollLeft, document.scrollingElement?.scrollTop, document.body?.getBoundingClientRect().left]))]);
    }
    return JSON.stringify(places);
  };
  const deadline = Date.now() + timeout;
  let last = await where();
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = await where();
    if (now === last || Date.now() > deadline) return;
    last = now;
  }
}

/** The reader's frames a person can see, each with its place on the page. */
async function shownFrames(page) {
  const shown = [];
  for (const handle of await page.locator("#reading-container iframe").elementHandles()) {
    const box = await handle.boundingBox();
    const visible = await handle.evaluate((frame) => getComputedStyle(frame).visibility === "visible" && getComputedStyle(frame).opacity !== "0");
    if (visible && box && box.width >= 10) shown.push({ frame: await handle.contentFrame(), box });
  }
  return shown;
}

async function visibleWords(page) {
  const viewport = page.viewportSize();
  const words = [];
  for (const { frame, box } of await shownFrames(page)) {
    const found = await frame.evaluate(() => {
      const out = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      for (let node = walker.nextNode(); node && out.length < 200; node = walker.nextNode()) {
        for (const match of node.textContent.matchAll(/\S+/g)) {
          range.setStart(node, match.index);
          range.setEnd(node, match.index + match[0].length);
          const rect = range.getBoundingClientRect();
          if (rect.width > 0 && rect.left >= 0 && rect.right <= innerWidth + 1 && rect.top >= 0 && rect.bottom <= innerHeight + 1) out.push({ word: match[0], x: rect.left, y: rect.top });
        }
      }
      return out;
    });
    words.push(...found.map((word) => ({ ...word, x: word.x + box.x, y: word.y + box.y })).filter((word) => word.x >= 0 && word.y >= 0 && word.x <= viewport.width && word.y <= viewport.height));
  }
  return words.map((word) => word.word);
}

/** The pictures a person can see in the book: loaded (naturalWidth > 0) and wholly inside the visible frame's
 * viewport and the page's, with the chapter they belong to (the frame's base: its document is a blob:). */
async function visiblePictures(page) {
  const viewport = page.viewportSize();
  const pictures = [];
  for (const { frame, box } of await shownFrames(page)) {
    const found = await frame.evaluate(async () => {
      // A page just turned to may still be loading its pictures: let them finish (a lazy one off screen may never
      // start, hence the bound) before asking which are on screen.
      const loading = [...document.images].filter((image) => !image.complete).map((image) => image.decode().catch(() => undefined));
      await Promise.race([Promise.all(loading), new Promise((resolve) => setTimeout(resolve, 5_000))]);
      return [...document.images]
        .map((image) => ({ image, rect: image.getBoundingClientRect() }))
        .filter(({ image, rect }) => image.complete && image.naturalWidth > 0 && rect.width > 0 && rect.left >= 0 && rect.right <= innerWidth + 1 && rect.top >= 0 && rect.bottom <= innerHeight + 1)
        .map(({ image, rect }) => ({ alt: image.alt, natural: image.naturalWidth, width: rect.width, height: rect.height, x: rect.left, y: rect.top, chapter: document.baseURI }));
    });
    pictures.push(...found.map((picture) => ({ ...picture, x: picture.x + box.x, y: picture.y + box.y })).filter((picture) => picture.x >= 0 && picture.y >= 0 && picture.x + picture.width <= viewport.width + 1 && picture.y + picture.height <= viewport.height + 1));
  }
  return pictures;
}

async function downloadLoan(page, loan, name) {
  const card = page.locator(`li[data-loan="${loan}"]`);
  await card.locator(`[data-offline-download="${loan}"]`).click();
  // A HEAD of every resource (long on a loaded machine); a failure says what the reader was told.
  await page.waitForFunction((id) => document.querySelector(`#offline-size-${id}`) || document.querySelector("#status.error"), loan, { timeout: 120_000 });
  if (await page.locator("#status.error").count()) throw new Error(`sizing ${loan} failed: ${await page.locator("#status").textContent()}`);
  const size = await card.locator(`#offline-size-${loan}`).textContent();
  await shot(page, `${name}-size`);
  await card.locator(`[data-offline-confirm="${loan}"]`).click();
  await card.locator(`[data-offline="${loan}"][data-stored=true]`).waitFor({ timeout: 120_000 });
  return { size, stored: await card.locator(".offline-stored").textContent() };
}

const cached = (page, loan) => page.evaluate((id) => caches.has(`sachso-book-${id}`), loan);

const scenarios = {
  /** Installable; downloaded EPUB and PDF read with the network cut; a position changed offline reaches the
   * server and another browser; the device clock decides the loan's end; a returned loan's copy is gone. */
  async offline() {
    const page = await newPage();
    const cdp = await page.context().newCDPSession(page);
    await page.goto(`${base}/`);
    await controlled(page);
    const manifest = await cdp.send("Page.getAppManifest");
    const installability = await cdp.send("Page.getInstallabilityErrors");
    const worker = await page.evaluate(async () => (await navigator.serviceWorker.ready).active?.state);

    await signIn(page);
    const epub = await downloadLoan(page, settings.epub, "phone-offline-download");
    const pdf = await downloadLoan(page, settings.pdf, "phone-offline-pdf-download");
    await shot(page, "phone-shelf-downloaded");
    await page.setViewportSize(DESKTOP.viewport);
    await shot(page, "desktop-shelf-downloaded");
    await page.goto(`${base}/account`);
    await page.locator(`li[data-offline-book="${settings.epub}"]`).waitFor();
    const storage = await page.locator("#offline-storage").textContent();
    await page.locator("#offline-storage").scrollIntoViewIfNeeded();
    await shot(page, "desktop-account-offline");
    await page.setViewportSize(PHONE.viewport);

    // The network cut: the app opens to the shelf as it last was, and reads both books.
    await page.context().setOffline(true);
    await page.goto(`${base}/shelf`);
    await page.locator(`li[data-loan="${settings.epub}"]`).waitFor();
    const shelfCards = await page.locator("li[data-loan]").count();
    await shot(page, "phone-offline-shelf");
    await page.locator(`li[data-loan="${settings.epub}"]`).getByRole("link", { name: "Đọc" }).click();
    await readerReady(page);
    await page.waitForFunction(() => document.querySelectorAll("#reading-container iframe").length > 0);
    await page.waitForFunction(() => [...document.querySelectorAll("#reading-container iframe")].some((frame) => (frame.contentDocument?.body?.innerText ?? "").trim().length > 20));
    // The book opens on its cover (a picture): turn to where its words are, as a reader would.
    let epubWords = await visibleWords(page);
    for (let turn = 0; turn < 6 && epubWords.length <= 10; turn++) {
      await turnPage(page);
      epubWords = await visibleWords(page);
    }
    await shot(page, "phone-offline-reader");
    const opened = await position(page);
    for (let turn = 0; turn < 3; turn++) await turnPage(page);
    const offlinePosition = await position(page);
    await page.waitForFunction((wanted) => JSON.parse(document.querySelector("#reading-container").dataset.saved ?? "{}").locations?.position === Number(wanted), offlinePosition);

    await page.goto(`${base}/read/${settings.pdf}`);
    await readerReady(page);
    await page.waitForFunction(() => !document.querySelector("#reading-container").dataset.loading);
    const pdfImage = await page.locator("#pdf-page").evaluate((image) => ({ natural: image.naturalWidth, box: image.getBoundingClientRect().toJSON() }));
    const pdfText = await page.locator("#pdf-page-text").textContent();
    await page.locator("#page-next").click();
    await page.waitForFunction(() => document.querySelector("#reading-container").dataset.position === "2" && !document.querySelector("#reading-container").dataset.loading);
    const pdfSecond = await page.locator("#pdf-page").evaluate((image) => image.naturalWidth);
    await shot(page, "phone-offline-pdf");

    // Back online: the queued position goes to the reader service (the latest by device time), then shows on
    // another browser.
    await page.context().setOffline(false);
    await page.goto(`${base}/shelf`);
    await until(page, async ({ publication, wanted }) => {
      const session = JSON.parse(localStorage.getItem("sachso.patron"));
      const answer = await fetch(`/api/reader/v1/reading/positions/${publication}`, { headers: { Authorization: `Bearer ${session.access_token}` } });
      return answer.ok && (await answer.json()).locator?.locations?.position === Number(wanted);
    }, { publication: settings.epubPublication, wanted: offlinePosition });
    const other = await newPage(PHONE); // the same layout: a desktop spread would open on the page pair's first position
    await signIn(other);
    await other.goto(`${base}/read/${settings.epub}`);
    await readerReady(other);
    const elsewhere = await position(other);
    const elsewhereHref = await other.evaluate(() => document.querySelector("#reading-container").dataset.href);
    const serverLocator = await other.evaluate(async (publication) => {
      const session = JSON.parse(localStorage.getItem("sachso.patron"));
      const answer = await fetch(`/api/reader/v1/reading/positions/${publication}`, { headers: { Authorization: `Bearer ${session.access_token}` } });
      return JSON.stringify((await answer.json()).locator);
    }, settings.epubPublication);
    await shot(other, "phone-offline-synced");
    await other.context().close();

    // The device's clock decides: turned back past the last server time, the copy does not open (and stays);
    // past the loan's end, it does not open and is deleted.
    const now = Date.now();
    await page.clock.install({ time: now - 2 * 86_400_000 });
    await page.context().setOffline(true);
    await page.goto(`${base}/read/${settings.epub}`);
    const clockBack = await page.locator("#status.error").textContent();
    const keptAfterClockBack = await cached(page, settings.epub);
    await page.clock.setSystemTime(Date.parse(settings.epubDue) + 60_000);
    await page.goto(`${base}/read/${settings.epub}`);
    const pastEnd = await page.locator("#status.error").textContent();
    await until(page, async (id) => !(await caches.has(`sachso-book-${id}`)), settings.epub);
    const keptPastEnd = await cached(page, settings.epub);
    await page.clock.setSystemTime(Date.now());
    await page.context().setOffline(false);

    // Returned (here from another device): the next start deletes the copy; offline, the book does not open.
    await ask("return_loan", settings.pdf);
    await page.goto(`${base}/shelf?after-return=${Date.now()}`);
    await page.locator("html[data-offline-sweep=done]").waitFor();
    await until(page, async (id) => !(await caches.has(`sachso-book-${id}`)), settings.pdf);
    const pdfKept = await cached(page, settings.pdf);
    await page.context().setOffline(true);
    await page.goto(`${base}/read/${settings.pdf}`);
    const returnedMessage = await page.locator("#status.error").textContent();
    const returnedOpened = await page.locator("#reading-container[data-ready=true]").count();
    await shot(page, "phone-offline-returned");
    return {
      manifest: { url: manifest.url, errors: manifest.errors, data: manifest.data ? JSON.parse(manifest.data) : null },
      installability: installability.installabilityErrors,
      worker,
      elsewhereHref,
      serverLocator,
      epub,
      pdf,
      storage,
      shelfCards,
      epubWords,
      opened,
      offlinePosition,
      pdfImage,
      pdfText,
      pdfSecond,
      viewport: PHONE.viewport,
      elsewhere,
      clockBack,
      keptAfterClockBack,
      pastEnd,
      keptPastEnd,
      pdfKept,
      returnedMessage,
      returnedOpened,
    };
  },

  /** A downloaded book's pictures show offline (its chapters' frames are not under the service worker: the app
   * inlines what they need), and the app says it is offline — from what fails, not only navigator.onLine, which
   * Playwright's offline mode leaves at true here — and stops saying so once the services answer again. */
  async pictures() {
    const page = await newPage();
    await page.goto(`${base}/`);
    await controlled(page);
    await signIn(page);
    const stored = await downloadLoan(page, settings.illustrated, "phone-offline-illustrated-download");
    const bannerOnline = await page.locator("#offline-banner").isVisible();

    await page.context().setOffline(true);
    await page.goto(`${base}/shelf`);
    await page.locator(`li[data-loan="${settings.illustrated}"]`).waitFor();
    const bannerOffline = await page.locator("#offline-banner").waitFor({ state: "visible" }).then(() => true, () => false);
    const bannerText = bannerOffline ? await page.locator("#offline-banner").textContent() : null;
    await shot(page, "phone-offline-banner");
    await page.setViewportSize(DESKTOP.viewport);
    await shot(page, "desktop-offline-banner");
    await page.setViewportSize(PHONE.viewport);
    await page.locator(`li[data-loan="${settings.illustrated}"]`).getByRole("link", { name: "Đọc" }).click();
    await readerReady(page);
    // The book opens on its title page: turn to the first chapter's picture, as a reader would.
    const inChapter = (pictures) => pictures.filter((picture) => /chapter\d+\.xhtml$/.test(picture.chapter));
    let pictures = await visiblePictures(page);
    for (let turn = 0; turn < 8 && !inChapter(pictures).length; turn++) {
      await turnPage(page);
      pictures = await visiblePictures(page);
    }
    // The book's own style sheet came too, with the font it names (inlined the same way).
    const fonts = [];
    for (const { frame } of await shownFrames(page)) {
      fonts.push(...(await frame.evaluate(() => [...document.fonts].filter((font) => font.status === "loaded").map((font) => font.family.replace(/["']/g, "")))));
    }
    await shot(page, "phone-offline-picture");
    await page.setViewportSize(DESKTOP.viewport);
    await page.waitForFunction(() => document.querySelector("#reading-container")?.dataset.ready === "true");
    await shot(page, "desktop-offline-picture");
    await page.setViewportSize(PHONE.viewport);

    // Back online (no reload, and no "online" event here): the banner goes once the services answer.
    await page.goto(`${base}/shelf`);
    await page.locator("#offline-banner").waitFor({ state: "visible" });
    await page.context().setOffline(false);
    const bannerGone = await page.locator("#offline-banner").waitFor({ state: "hidden" }).then(() => true, () => false);
    return { stored, bannerOnline, bannerOffline, bannerText, bannerGone, pictures: inChapter(pictures), fonts, viewport: PHONE.viewport };
  },

  /** A downloaded book's scripts cannot act as the app either (issue 12's promise, for the stored copy): read
   * from the device with the network cut, its chapter's nested page (the book's <iframe>, which the service
   * worker answers) and the chapter opened as a page of its own at /offline/… run nothing with the app's origin. */
  async hostileStored() {
    const page = await newPage();
    await page.goto(`${base}/`);
    await controlled(page);
    await signIn(page);
    await downloadLoan(page, settings.loan, "phone-offline-hostile-download");
    await page.context().setOffline(true);
    await page.goto(`${base}/read/${settings.loan}`);
    await readerReady(page);
    // Wait for the book's nested page to have loaded (its script, if it could run, has run by then).
    const nested = async () => {
      for (const frame of page.frames()) {
        if (frame.url().endsWith("/inner.xhtml") && (await frame.evaluate(() => document.readyState === "complete").catch(() => false))) return frame;
      }
      return null;
    };
    let inner = await nested();
    for (const deadline = Date.now() + TIMEOUT; !inner && Date.now() < deadline; inner = await nested()) await page.waitForTimeout(100);
    const innerRan = inner ? await inner.evaluate(() => window.__stolen ?? null) : "no nested page";
    const inReader = await page.evaluate(() => [localStorage.getItem("sachso.pwned"), window.__stolen ?? null]);
    const chapter = await page.evaluate(async (loan) => (await (await fetch(`/offline/${loan}/manifest.json`)).json()).readingOrder[0].href, settings.loan);
    await page.goto(`${base}/offline/${settings.loan}/${chapter}`);
    const directStolen = await page.evaluate(() => window.__stolen ?? null);
    const directPolicy = await page.evaluate(() => origin);
    await page.goto(`${base}/shelf`);
    await page.locator("li[data-loan]").first().waitFor();
    const afterDirect = await page.evaluate(() => [localStorage.getItem("sachso.pwned"), localStorage.getItem("sachso.patron") !== null]);
    return { innerRan, pwned: [inReader[0], afterDirect[0]], stolen: [inReader[1], directStolen], directOrigin: directPolicy, tokenKept: afterDirect[1] };
  },

  /** Push: the opt-in on the account page subscribes this browser at notify (its push service stands in for
   * Chromium's, which is out of reach here); notify's encrypted message, decrypted by the test's receiver, is
   * delivered to the service worker; the notification opens the ready hold, borrowed in one tap. */
  async push() {
    const page = await newPage();
    await page.context().grantPermissions(["notifications"], { origin: base });
    await page.addInitScript((subscription) => {
      // No push service is reachable from this machine: the subscription the browser would get is the test's.
      const made = { endpoint: subscription.endpoint, expirationTime: null, options: {}, toJSON: () => ({ endpoint: subscription.endpoint, expirationTime: null, keys: subscription.keys }), unsubscribe: async () => true, getKey: () => null };
      let current = null;
      PushManager.prototype.subscribe = async function () {
        current = made;
        return made;
      };
      PushManager.prototype.getSubscription = async function () {
        return current;
      };
    }, settings.subscription);
    await page.goto(`${base}/`);
    await controlled(page);
    await signIn(page);
    await page.goto(`${base}/account`);
    await page.locator("#push-enable").click();
    await page.locator("li[data-push-device]").filter({ hasText: "thiết bị này" }).waitFor();
    const subscriptionId = await page.locator("li[data-push-device]").first().getAttribute("data-push-device");
    await page.locator("#push").scrollIntoViewIfNeeded();
    await shot(page, "phone-account-push");

    const payload = await ask("hold_ready_push", subscriptionId);
    const cdp = await page.context().newCDPSession(page);
    const registrations = [];
    cdp.on("ServiceWorker.workerRegistrationUpdated", (event) => registrations.push(...event.registrations));
    await cdp.send("ServiceWorker.enable");
    const deadline = Date.now() + TIMEOUT;
    while (!registrations.some((registration) => !registration.isDeleted) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
    const registration = registrations.find((item) => !item.isDeleted);
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: new URL(base).origin, registrationId: registration.registrationId, data: payload });
    const [worker] = page.context().serviceWorkers();
    let shown = [];
    while (!shown.length && Date.now() < deadline) {
      shown = await worker.evaluate(async () => (await self.registration.getNotifications()).map((item) => ({ title: item.title, body: item.body, data: item.data, lang: item.lang })));
      if (!shown.length) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // What a tap on the notification does (no notification centre in headless Chromium: the same event).
    await page.goto(`${base}/account`);
    await worker.evaluate(async () => {
      const [notification] = await self.registration.getNotifications();
      self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
    });
    await page.waitForURL(/\/holds$/);
    const ready = page.locator('li[data-hold][data-state="ready"]');
    await ready.waitFor();
    await shot(page, "phone-push-opened-hold");
    await ready.getByRole("button", { name: "Mượn ngay" }).click();
    await page.locator(`li[data-loan]`).filter({ hasText: settings.title }).waitFor();
    const borrowed = await page.locator("li[data-loan]").filter({ hasText: settings.title }).count();

    await page.goto(`${base}/account`);
    await page.locator(`[data-push-remove="${subscriptionId}"]`).click();
    await page.locator("#push-devices").getByText("Chưa có thiết bị nào nhận thông báo.").waitFor();
    return { subscriptionId, shown, borrowed, url: page.url() };
  },
};

await runScenario(browser, scenarios, artifacts);
