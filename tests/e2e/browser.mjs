// Drives headless Debian Chromium through the web app with Playwright (npm playwright-core from web/; no browser
// download). One scenario per run: `node browser.mjs SCENARIO` with the settings as JSON on the first line of
// standard input. It asks its caller for what only the server side knows with "ASK <what> <arg>" lines and
// reads one answer line back; it ends with "RESULT <json>" or throws (non-zero exit).
import path from "node:path";
import { ask, axe, launch, openPage, readLine, runScenario, screenshot, VIEWPORTS } from "./harness.mjs";

const settings = JSON.parse(await readLine());
const { base, artifacts } = settings;
const PHONE = VIEWPORTS.phone;
const TIMEOUT = 20_000;

const browser = await launch(settings);

const newPage = (options = PHONE) => openPage(browser, options, TIMEOUT);
const shot = (page, name) => screenshot(page, artifacts, name);
const axeViolations = (page) => axe(page, { iframes: false }); // the book's frames are the publisher's

async function signIn(page, card, pin) {
  await page.goto(`${base}/signin`);
  await page.getByLabel("Số thẻ bạn đọc").fill(card);
  await page.getByLabel("Mã PIN").fill(pin);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.waitForURL(/\/shelf$/);
  await page.getByRole("heading", { name: "Tủ sách của tôi" }).waitFor();
}

async function staffSignIn(page, username, password) {
  await page.goto(`${base}/staff/signin`);
  await page.getByLabel("Tên đăng nhập").fill(username);
  await page.getByLabel("Mật khẩu").fill(password);
  await page.getByRole("button", { name: "Đăng nhập" }).click();
  await page.getByRole("heading", { name: "Quản lý thư viện" }).waitFor();
}

async function waitReady(page, timeout = 45_000) {
  await page.locator("#reading-container[data-ready=true]").waitFor({ timeout });
  await page.waitForFunction(() => document.querySelector("#reading-container")?.dataset.position);
}

async function openReader(page, title) {
  await page.goto(`${base}/shelf`);
  const card = title ? page.locator("li[data-loan]").filter({ hasText: title }) : page.locator("li[data-loan]");
  await card.first().getByRole("link", { name: "Đọc" }).click();
  await waitReady(page);
  return readerState(page);
}

function readerState(page) {
  return page.evaluate(() => {
    const data = document.querySelector("#reading-container").dataset;
    return { href: data.href, position: data.position, progression: data.progression, saved: data.saved ?? null };
  });
}

/** What a person sees of the book: the visible frame's box in the page, and the words whose boxes lie inside
 * both the frame's viewport and the page's (not merely present in the DOM), with the first one's box. */
async function seen(page) {
  const viewport = page.viewportSize();
  const frames = [];
  for (const handle of await page.locator("#reading-container iframe").elementHandles()) {
    const visible = await handle.evaluate((frame) => getComputedStyle(frame).visibility === "visible" && getComputedStyle(frame).opacity !== "0");
    const box = await handle.boundingBox();
    if (!visible || !box || box.width < 10) continue;
    const frame = await handle.contentFrame();
    const words = await frame.evaluate(() => {
      const found = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      const range = document.createRange();
      for (let node = walker.nextNode(); node && found.length < 400; node = walker.nextNode()) {
        const text = node.textContent;
        for (const match of text.matchAll(/\S+/g)) {
          range.setStart(node, match.index);
          range.setEnd(node, match.index + match[0].length);
          const rect = range.getBoundingClientRect();
          if (rect.width > 0 && rect.left >= 0 && rect.right <= innerWidth + 1 && rect.top >= 0 && rect.bottom <= innerHeight + 1) {
            found.push({ word: match[0], x: rect.left, y: rect.top, width: rect.width, height: rect.height });
          }
        }
      }
      return found;
    });
    frames.push({ box, words: words.map((word) => ({ ...word, x: word.x + box.x, y: word.y + box.y })) });
  }
  const words = frames.flatMap((frame) => frame.words).filter((word) => word.x >= 0 && word.y >= 0 && word.x + word.width <= viewport.width + 1 && word.y + word.height <= viewport.height + 1);
  const area = frames.reduce((sum, frame) => sum + Math.max(0, Math.min(frame.box.x + frame.box.width, viewport.width) - Math.max(frame.box.x, 0)) * Math.max(0, Math.min(frame.box.y + frame.box.height, viewport.height) - Math.max(frame.box.y, 0)), 0);
  return {
    viewport,
    frames: frames.map((frame) => frame.box),
    coverage: area / (viewport.width * viewport.height),
    text: words.map((word) => word.word).join(" "),
    first: words[0] ?? null,
    count: words.length,
  };
}

async function turnedFrom(page, before) {
  await page.waitForFunction(
    (previous) => {
      const data = document.querySelector("#reading-container").dataset;
      return `${data.href}|${data.progression}` !== previous;
    },
    `${before.href}|${before.progression}`,
    { timeout: 10_000 },
  );
  await page.waitForTimeout(400); // the frame paints the new page
}

const scenarios = {
  /** Right-to-left and vertical books open in the navigator and turn pages. */
  async layouts() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    const results = {};
    for (const [name, loan] of Object.entries(settings.loans)) {
      await page.goto(`${base}/read/${loan}?at=${Date.now()}`); // a full load: no container left from the last book
      await waitReady(page);
      const before = await readerState(page);
      await page.locator("#page-next").click();
      await turnedFrom(page, before);
      await shot(page, `14-${name}`);
      results[name] = { before, after: await readerState(page), seen: await seen(page) };
    }
    return results;
  },

  /** The catalogue as a visitor and as a reader sees it, on a phone and a desktop: covers drawn from the books'
   * own images, an availability label on every title (and no borrow button where no library can lend), filters,
   * and a second page of results. */
  async catalogue() {
    const results = {};
    const inView = (box, viewport) =>
      box !== null && box.width > 20 && box.height > 20 && box.x >= 0 && box.y >= 0 && box.x + box.width <= viewport.width + 1;
    for (const [name, options] of Object.entries(VIEWPORTS)) {
      const page = await newPage(options);
      const viewport = page.viewportSize();
      const result = {};
      await page.goto(`${base}/`);
      await page.locator("#results li[data-title]").first().waitFor();
      // every cover image on screen has arrived (loaded, or removed for a book without one); those further down
      // load lazily, as the reader scrolls to them
      await page.waitForFunction(() => {
        const onScreen = [...document.querySelectorAll("img.cover-image")].filter((image) => image.getBoundingClientRect().top < window.innerHeight);
        return onScreen.every((image) => image.complete) && document.querySelector("img.cover-image") !== null;
      }, null, { timeout: 90_000 });
      const firstCover = page.locator("li[data-title] img.cover-image").first();
      await firstCover.scrollIntoViewIfNeeded();
      await page.waitForFunction(() => {
        const image = document.querySelector("li[data-title] img.cover-image");
        return image && image.complete && image.naturalWidth > 0;
      }, null, { timeout: 90_000 });
      await firstCover.scrollIntoViewIfNeeded();
      result.cover = {
        naturalWidth: await firstCover.evaluate((image) => image.naturalWidth),
        visible: inView(await firstCover.boundingBox(), viewport),
        onTop: await firstCover.evaluate((image) => {
          const box = image.getBoundingClientRect();
          return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2) === image;
        }),
      };
      for (const image of await page.locator("li[data-title] img.cover-image").all()) await image.scrollIntoViewIfNeeded().catch(() => undefined);
      await page.waitForFunction(() => [...document.querySelectorAll("img.cover-image")].every((image) => image.complete), null, { timeout: 90_000 });
      result.covers = await page.locator("li[data-title] img.cover-image").count();
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, `${name}-catalogue`);
      result.axe = await axeViolations(page);
      result.labels = await page.locator("li[data-title]").evaluateAll((cards) =>
        cards.map((card) => {
          const badge = card.querySelector("[data-availability]");
          const box = badge?.getBoundingClientRect();
          return { title: card.querySelector("h2")?.textContent, label: badge?.textContent ?? "", state: badge?.dataset.availability, visible: !!box && box.width > 0 && box.height > 0 };
        }),
      );
      result.pageOne = await page.locator("#results h2").allTextContents();
      await page.getByRole("link", { name: /Trang sau/ }).click();
      await page.waitForURL(/page=2/);
      await page.getByText(/^Trang 2\//).waitFor();
      result.pageTwo = await page.locator("#results h2").allTextContents();
      await page.goto(`${base}/?q=${encodeURIComponent(settings.unlicensed)}`);
      const unlicensed = page.locator("li[data-title]").filter({ hasText: settings.unlicensed }).first();
      result.unlicensedLabel = await unlicensed.locator("[data-availability]").textContent();
      await unlicensed.getByRole("link").first().click();
      await page.locator("#title-status").waitFor();
      result.unlicensedTitle = { status: await page.locator("#title-status").textContent(), buttons: await page.locator("#title-actions button, #title-actions a.button").count() };
      await page.goto(`${base}/`);
      await page.locator("#filter-format").selectOption("pdf");
      await page.waitForURL(/format=pdf/);
      await page.locator("#results li[data-title]").first().waitFor();
      result.pdfOnly = await page.locator("#results li[data-title] .meta").allTextContents();
      await page.goto(`${base}/`);
      await page.locator("#filter-available").check();
      await page.waitForURL(/available=1/);
      await page.locator("#results-count").waitFor();
      result.availableOnly = await page.locator("#results [data-availability]").evaluateAll((badges) => badges.map((badge) => badge.dataset.availability));
      await signIn(page, settings.card, settings.pin);
      await page.goto(`${base}/`);
      await page.locator("#results li[data-title]").first().waitFor();
      result.signedIn = await page.locator("#results [data-availability]").evaluateAll((badges) => badges.map((badge) => badge.textContent));
      results[name] = result;
    }
    return results;
  },

  /** What a reader sees on a phone and on a desktop: the book fills the screen, its first words are visible,
   * a page turn (key, button, tap) changes them, a larger font changes the layout; every page passes axe. */
  async screens() {
    const results = {};
    for (const [name, options] of Object.entries(VIEWPORTS)) {
      const page = await newPage(options);
      const result = { axe: {} };
      await page.goto(`${base}/`);
      await page.locator("#results li").first().waitFor();
      await shot(page, `${name}-catalogue`);
      result.axe.catalogue = await axeViolations(page);
      await signIn(page, settings.card, settings.pin);
      await page.locator("li[data-loan]").first().waitFor();
      await shot(page, `${name}-shelf`);
      result.axe.shelf = await axeViolations(page);
      await page.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("link", { name: "Đọc" }).click();
      await waitReady(page);
      await page.goto(`${base}/read/${settings.loan}`); // from its first page: a fresh reading position per run
      await waitReady(page);
      await page.waitForTimeout(500);
      result.opened = await seen(page);
      await shot(page, `${name}-reader`);
      result.axe.reader = await axeViolations(page);
      // Turned sideways (a phone rotated, a window resized): the book lays out again and still fills the screen.
      await page.setViewportSize({ width: options.viewport.height, height: options.viewport.width });
      await page.waitForTimeout(1200);
      result.rotated = await seen(page);
      await shot(page, `${name}-reader-rotated`);
      await page.setViewportSize(options.viewport);
      await page.waitForTimeout(1200);

      let before = await readerState(page);
      await page.keyboard.press("ArrowRight");
      await turnedFrom(page, before);
      result.afterKey = await seen(page);
      before = await readerState(page);
      await page.locator("#reading-container").waitFor();
      if (name === "phone") {
        const box = result.afterKey.frames[0];
        await page.touchscreen.tap(box.x + box.width * 0.92, box.y + box.height / 2); // the right edge turns forward
      } else await page.locator("#page-next").click();
      await turnedFrom(page, before);
      result.afterTap = await seen(page);
      await page.keyboard.press("PageUp");
      await page.keyboard.press("ArrowLeft");
      await page.waitForTimeout(800);

      await page.locator("#panel-settings-open").click();
      await page.getByRole("radio", { name: "Literata" }).check();
      for (let step = 0; step < 5; step++) await page.locator("#font-larger").click();
      await page.locator("#panel-settings-open").click(); // closes the panel
      await page.waitForTimeout(1200);
      result.larger = await seen(page);
      result.fontFamily = await page.locator("#reading-container iframe").first().contentFrame().locator("body").evaluate((body) => getComputedStyle(body).fontFamily);
      await shot(page, `${name}-reader-larger`);
      await page.locator("#panel-settings-open").click();
      await page.getByRole("radio", { name: "Giấy cũ" }).check();
      await shot(page, `${name}-reader-settings`);
      result.axe.readerSettings = await axeViolations(page);
      for (let step = 0; step < 5; step++) await page.locator("#font-smaller").click();
      await page.getByRole("radio", { name: "Sáng" }).check();
      await page.getByRole("radio", { name: "Theo sách" }).check();

      await page.goto(`${base}/`);
      await page.getByRole("link", { name: settings.title }).click();
      await page.locator("#title-actions #title-status").waitFor();
      await shot(page, `${name}-title`);
      result.axe.title = await axeViolations(page);
      await page.goto(`${base}/inbox`);
      await page.getByRole("heading", { name: "Thông báo" }).waitFor();
      await shot(page, `${name}-inbox`);
      result.axe.inbox = await axeViolations(page);
      await page.goto(`${base}/settings/notifications`);
      await page.locator("#notifications-form").waitFor();
      await shot(page, `${name}-account`);
      result.axe.account = await axeViolations(page);
      await page.goto(`${base}/apply`);
      await page.getByRole("heading", { name: "Đăng ký thẻ bạn đọc từ xa" }).waitFor();
      result.axe.apply = await axeViolations(page);
      results[name] = result;
      await page.context().close();
    }
    return results;
  },

  /** A PDF reads as page images; every part of a page can be reached; the position follows to another device. */
  async pdf() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.goto(`${base}/?q=${encodeURIComponent(settings.query)}`);
    await page.getByRole("link", { name: settings.title }).click();
    await page.getByRole("button", { name: "Mượn sách" }).click();
    await page.waitForURL(/\/shelf$/);
    await page.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("link", { name: "Đọc" }).click();
    await page.locator("#reading-container[data-ready=true]").waitFor();
    await page.locator("#page-next").click();
    await page.waitForFunction(() => !document.querySelector("#reading-container").dataset.loading);
    await page.keyboard.press("PageDown");
    await page.waitForFunction(() => document.querySelector("#reading-container").dataset.saved?.includes("page=3"));
    const loaded = await page.locator("#pdf-page").evaluate((image) => image.naturalWidth);
    const text = await page.locator("#pdf-page-text").textContent();
    const reach = {};
    for (const [name, options] of Object.entries(VIEWPORTS)) {
      await page.setViewportSize(options.viewport);
      for (const fit of ["width", "page"]) {
        await page.locator("#panel-settings-open").click();
        await page.getByRole("radio", { name: fit === "width" ? "Vừa chiều ngang" : "Cả trang" }).check();
        await page.locator("#panel-settings-open").click();
        await page.waitForTimeout(300);
        // Scroll to the far corner: the page's bottom-right must then be on screen, inside the viewport.
        await page.locator("#reading-container").evaluate((box) => box.scrollTo(box.scrollWidth, box.scrollHeight));
        await page.waitForTimeout(200);
        const image = await page.locator("#pdf-page").boundingBox();
        const stage = await page.locator("#reading-container").boundingBox();
        await page.locator("#reading-container").evaluate((box) => box.scrollTo(0, 0));
        await page.waitForTimeout(200);
        const top = await page.locator("#pdf-page").boundingBox();
        reach[`${name}-${fit}`] = { image, top, stage, viewport: options.viewport };
        await shot(page, `${name}-pdf-fit-${fit}`);
      }
    }
    await page.setViewportSize(PHONE.viewport);
    const axe = await axeViolations(page);
    const other = await newPage();
    await signIn(other, settings.card, settings.pin);
    await other.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("link", { name: "Đọc" }).click();
    await other.locator("#reading-container[data-ready=true]").waitFor();
    const restored = await other.locator("#reading-container").getAttribute("data-position");

    // The same loan in a reading app: the first licence download asks for a reading passphrase and its hint.
    await other.goto(`${base}/shelf`);
    other.answers.push(settings.passphrase, settings.hint);
    const [download] = await Promise.all([
      other.waitForEvent("download"),
      other.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("button", { name: "Tải giấy phép cho ứng dụng đọc" }).click(),
    ]);
    const licencePath = path.join(artifacts, "licence.lcpl");
    await download.saveAs(licencePath);
    return { width: loaded, text, reach, axe, restored, licence: licencePath };
  },

  /** 4. A loan reaches its due time: the open book cannot be opened again, the app says why. */
  async expire() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.goto(`${base}/read/${settings.loan}`);
    try {
      await page.locator("#reading-container[data-ready=true]").waitFor({ timeout: 45_000 });
    } finally {
      await shot(page, "11-reading-before-due");
    }
    await ask("wait_until_expired", settings.loan);
    await page.goto(`${base}/shelf`);
    await page.goto(`${base}/read/${settings.loan}`);
    // said on the screen, where the book would be, with the way back (the live region says it to screen readers)
    const problem = page.locator(".reading-problem h1");
    await problem.waitFor({ timeout: TIMEOUT });
    const stopped = await problem.innerText();
    const box = await problem.boundingBox();
    const viewport = page.viewportSize();
    const inView = box !== null && viewport !== null && box.y >= 0 && box.y + box.height <= viewport.height;
    const announced = await page.locator("#status.error").textContent();
    await shot(page, "12-reading-after-due");
    const ready = await page.locator("#reading-container[data-ready=true]").count();
    await page.setViewportSize({ width: 1280, height: 800 });
    await shot(page, "12b-reading-after-due-desktop");
    await page.getByRole("link", { name: "Tủ sách" }).click();
    await page.getByRole("heading", { level: 1 }).filter({ hasText: "Tủ sách" }).first().waitFor({ timeout: TIMEOUT });
    return { stopped, inView, announced, ready, backOnShelf: new URL(page.url()).pathname };
  },

  /** One title's record failing (503 here) hides neither its loan nor the others: its card says so and keeps
   * Read; the rest of the shelf is as usual. The service worker is left out so the route sees the request. */
  async shelfWithATitleUnread() {
    const page = await newPage({ ...PHONE, serviceWorkers: "block" });
    await page.route(`**/v1/titles/${settings.brokenTitle}`, (route) =>
      route.fulfill({ status: 503, contentType: "application/problem+json", body: JSON.stringify({ title: "Temporarily unavailable", status: 503 }) }),
    );
    await signIn(page, settings.card, settings.pin);
    const cards = {};
    for (const loan of settings.loans) {
      const card = page.locator(`li[data-loan="${loan}"]`);
      await card.waitFor();
      cards[loan] = { text: await card.innerText(), read: await card.getByRole("link", { name: "Đọc" }).isVisible() };
    }
    await shot(page, "phone-shelf-title-unread");
    await page.setViewportSize(VIEWPORTS.desktop.viewport);
    await shot(page, "desktop-shelf-title-unread");
    await page.unroute(`**/v1/titles/${settings.brokenTitle}`);
    // Away and back inside the app (no page load, so the app's memory of titles stays): the failed read was not
    // remembered, and the title shows again.
    await page.getByRole("link", { name: "Sách Số" }).click();
    await page.waitForURL(/\/$/);
    await page.goBack();
    await page.locator(`li[data-loan="${settings.loans[0]}"] h3`).filter({ hasNotText: "Chưa tải được" }).waitFor();
    const again = await page.locator(`li[data-loan="${settings.loans[0]}"]`).innerText();
    return { cards, again };
  },

  /** 1. Register remotely → the librarian approves → sign in. */
  async register() {
    const page = await newPage();
    await page.goto(`${base}/apply`);
    await page.getByRole("heading", { name: "Đăng ký thẻ bạn đọc từ xa" }).waitFor();
    const preselected = await page.getByLabel("Thư viện").inputValue();
    await page.getByLabel("Thư viện").selectOption(settings.library);
    await page.getByLabel("Họ và tên").fill(settings.name);
    await page.getByLabel("Thư điện tử").fill(settings.email);
    await page.getByLabel("Mã PIN").fill(settings.pin);
    await shot(page, "01-apply");
    await page.getByRole("button", { name: "Gửi đăng ký" }).click();
    const verify = page.locator("form[data-application]");
    await verify.waitFor();
    const applicationId = await verify.getAttribute("data-application");
    await page.getByLabel("Mã xác nhận").fill("000000");
    await page.getByRole("button", { name: "Xác nhận" }).click();
    const wrongCode = await page.locator("#status.error").textContent();
    await page.getByLabel("Mã xác nhận").fill(await ask("verification_code", applicationId));
    await page.getByRole("button", { name: "Xác nhận" }).click();
    await page.locator("main .done").filter({ hasText: "Đã xác nhận. Thư viện sẽ duyệt đơn của bạn" }).waitFor();

    const desk = await newPage();
    await staffSignIn(desk, settings.librarian.username, settings.librarian.password);
    const libraries = await desk.getByLabel("Thư viện").locator("option").allTextContents();
    const application = desk.locator(`li[data-application="${applicationId}"]`);
    await application.getByText(settings.name).waitFor();
    await shot(desk, "02-librarian-applications");
    const axe = await axeViolations(desk);
    await application.getByRole("button", { name: "Duyệt" }).click();
    const approved = await desk.locator("#status").filter({ hasText: "Đã duyệt" }).textContent();
    const card = /thẻ số (\S+)/.exec(approved ?? "")?.[1];
    if (!card) throw new Error(`no card number in "${approved}"`);

    await signIn(page, card, settings.pin);
    await shot(page, "03-signed-in-shelf");
    return { applicationId, card, preselected, wrongCode, libraries, axe };
  },

  /** A visitor who never signed in opens an open EPUB from its title page ("Đọc", no loan, no card) and sees its
   * words in the reader's frame, past its cover picture; nothing personal is offered (no bookmarks). */
  async openBook() {
    const result = {};
    const staff = await newPage(VIEWPORTS.desktop); // the librarian opens it to everyone on her titles page
    await staffSignIn(staff, settings.staff.username, settings.staff.password);
    await staff.goto(`${base}/staff/${settings.library}/titles?q=${encodeURIComponent(settings.query)}`);
    await staff.locator(`#open-${settings.title}`).check();
    await staff.getByText("Ai cũng đọc được sách này, không cần thẻ hay mượn.").waitFor();
    result.staffAxe = await axeViolations(staff);
    await shot(staff, "desktop-staff-open-title");
    await staff.context().close();
    const phoneStaff = await newPage(PHONE);
    await staffSignIn(phoneStaff, settings.staff.username, settings.staff.password);
    await phoneStaff.goto(`${base}/staff/${settings.library}/titles?q=${encodeURIComponent(settings.query)}`);
    await phoneStaff.locator(`#open-${settings.title}`).scrollIntoViewIfNeeded();
    result.staffPhoneChecked = await phoneStaff.locator(`#open-${settings.title}`).isChecked(); // as saved
    await shot(phoneStaff, "phone-staff-open-title");
    await phoneStaff.context().close();
    for (const [name, options] of Object.entries(VIEWPORTS)) {
      const page = await newPage(options);
      await page.goto(`${base}/title/${settings.title}`);
      await page.locator("#title-status").waitFor();
      const status = await page.locator("#title-status").innerText();
      await page.waitForFunction(() => [...document.querySelectorAll("main img")].every((image) => image.complete)); // the cover, in the picture
      await shot(page, `${name}-open-title`);
      await page.locator("#title-actions").getByRole("link", { name: "Đọc", exact: true }).click();
      await page.waitForURL(/\/read\/open\//);
      await waitReady(page, 60_000);
      let view = await seen(page);
      for (let turn = 0; turn < 6 && view.count < 10; turn++) {
        const before = await readerState(page);
        await page.locator("#page-next").click();
        await turnedFrom(page, before);
        view = await seen(page);
      }
      await shot(page, `${name}-open-book`);
      result[name] = {
        ...view,
        status,
        path: new URL(page.url()).pathname,
        signedIn: await page.evaluate(() => Boolean(localStorage.getItem("sachso.patron"))),
        back: await page.locator("#reader-back").getAttribute("href"),
        bookmarkButtons: await page.locator("#bookmark-add").count(),
        axe: await axeViolations(page),
      };
      await page.context().close();
    }
    return result;
  },

  /** 2. Search without diacritics, borrow, open the book, turn pages; the position comes back elsewhere. */
  async read() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.goto(`${base}/`);
    await page.getByLabel(/^Tên sách, tác giả/).fill(settings.query);
    await page.getByRole("button", { name: "Tìm", exact: true }).click();
    await page.getByRole("link", { name: settings.title }).click();
    await page.getByText("Còn 1/1 bản").waitFor();
    await page.getByLabel("Thời hạn mượn").selectOption("P14D");
    await shot(page, "04-title");
    await page.getByRole("button", { name: "Mượn sách" }).click();
    await page.waitForURL(/\/shelf$/);
    await page.locator("li[data-loan]").filter({ hasText: settings.title }).first().waitFor();
    await shot(page, "05-shelf");
    const opened = await openReader(page, settings.title);
    // Chapters a few pages apart: turn pages until the reader is past the first resource's first page.
    for (let turn = 0; turn < 4; turn++) {
      const before = await readerState(page);
      await page.locator("#page-next").click();
      try {
        await turnedFrom(page, before);
      } catch (error) {
        await shot(page, "06-reader-stuck");
        throw new Error(`the page did not turn from ${JSON.stringify(before)}: ${error}`);
      }
    }
    const turned = await readerState(page);
    await page.waitForFunction((position) => {
      const saved = document.querySelector("#reading-container").dataset.saved;
      return saved && JSON.parse(saved).locations?.position === Number(position);
    }, turned.position);
    await shot(page, "06-reader");

    const other = await newPage();
    await signIn(other, settings.card, settings.pin);
    const restored = await openReader(other, settings.title);
    await shot(other, "07-reader-restored");
    const restoredState = await readerState(other);

    // Reading tools: search inside the book (no diacritics), jump to a hit, bookmark it, go to a position.
    await other.locator("#panel-search-open").click();
    await other.locator("#book-search").fill("cai dat");
    await other.locator("#book-search-go").click();
    await other.locator("#book-search-results li").first().waitFor();
    const hits = await other.locator("#book-search-results li button").count();
    const hitText = await other.locator("#book-search-results li mark").first().textContent();
    await other.locator("#book-search-results li button").first().click();
    await other.waitForTimeout(500);
    await other.locator("#bookmark-add").click();
    await other.getByText("Đã đánh dấu trang này").waitFor();
    const bookmarks = await other.locator("#bookmarks li").count();
    await other.locator("#panel-contents-open").click();
    await other.locator("#go-to-position").fill("100");
    await other.locator("#go-to-position").press("Enter");
    // The page that holds position 100 (Readium reports the first position on the visible page).
    await other.waitForFunction(() => Math.abs(Number(document.querySelector("#reading-container").dataset.position) - 100) <= 1);
    await shot(other, "07b-reader-tools");
    return { opened, turned, restored: restoredState, hits, hitText, bookmarks };
  },

  /** 3. No copy left: a hold at position 1; the first reader returns early; the hold is ready, with a message,
   * and is borrowed in one tap — from the shelf, then (two more rounds) from the title page and the inbox. */
  async hold() {
    const second = await newPage();
    await signIn(second, settings.second.card, settings.second.pin);
    await second.goto(`${base}/?q=${encodeURIComponent(settings.query)}`);
    await second.getByRole("link", { name: settings.title }).click();
    await second.getByText(/^Hết bản/).waitFor();
    const holdTitleStatus = await second.locator("#title-status").textContent();
    await second.getByRole("button", { name: "Đặt trước" }).click();
    await second.waitForURL(/\/holds$/);
    await second.locator("li[data-hold]").filter({ hasText: "Vị trí trong hàng chờ: 1" }).waitFor();
    await shot(second, "08-holds");

    // The second patron keeps her inbox open: the hold message must arrive live, without a reload.
    const watcher = await newPage();
    await signIn(watcher, settings.second.card, settings.second.pin);
    await watcher.goto(`${base}/inbox`);
    await watcher.getByRole("heading", { name: "Hộp thư" }).waitFor();
    await watcher.waitForTimeout(1000); // the stream connects

    const first = await newPage();
    await signIn(first, settings.first.card, settings.first.pin);
    await first.locator("li[data-loan]").filter({ hasText: settings.title }).first().waitFor();
    await first.locator("li[data-loan]").filter({ hasText: settings.title }).getByRole("button", { name: "Trả sớm" }).click();
    const returnedAt = Date.now();
    await first.locator("#status").filter({ hasText: "Đã trả sách." }).waitFor();

    let ready = false;
    while (!ready && Date.now() - returnedAt < 15_000) {
      await second.goto(`${base}/holds?at=${Date.now()}`);
      await second.locator("li[data-hold]").first().waitFor();
      ready = (await second.locator('li[data-hold][data-state="ready"]').count()) > 0;
      if (!ready) await second.waitForTimeout(500);
    }
    if (!ready) throw new Error("the hold did not become ready within 15 s");
    const holdReadyAfterMs = Date.now() - returnedAt;
    await watcher.waitForFunction(
      () => [...document.querySelectorAll("#inbox-list li.message")].some((item) => /hold|ready/i.test(item.dataset.kind ?? "")),
      null,
      { timeout: 30_000 },
    );
    const liveAfterMs = Date.now() - returnedAt;
    const inbox = await watcher.locator("li.message").evaluateAll((items) => items.map((item) => ({ kind: item.dataset.kind, text: item.textContent })));
    await shot(watcher, "09-inbox");
    const badge = await second.locator("#unread-badge").textContent();

    // One tap on the shelf.
    await shot(second, "08b-hold-ready");
    await second.locator('li[data-hold][data-state="ready"]').getByRole("button", { name: "Mượn ngay" }).click();
    await second.locator("li[data-loan]").filter({ hasText: settings.title }).waitFor();
    const fromShelf = await second.locator("li[data-loan]").filter({ hasText: settings.title }).count();

    // One tap on the title page.
    await ask("make_ready", "title");
    await second.goto(`${base}/?q=${encodeURIComponent(settings.query)}`);
    await second.getByRole("link", { name: settings.title }).click();
    await second.locator("#title-borrow-now").click();
    await second.locator("li[data-loan]").filter({ hasText: settings.title }).waitFor();
    const fromTitle = await second.locator("li[data-loan]").filter({ hasText: settings.title }).count();

    // One tap in the inbox.
    await ask("make_ready", "inbox");
    await second.goto(`${base}/inbox`);
    await second.locator("#ready-holds li").filter({ hasText: settings.title }).waitFor();
    await shot(second, "09b-inbox-ready");
    await second.locator("#ready-holds").getByRole("button", { name: "Mượn ngay" }).click();
    await second.locator("li[data-loan]").filter({ hasText: settings.title }).waitFor();
    const fromInbox = await second.locator("li[data-loan]").filter({ hasText: settings.title }).count();
    return { holdTitleStatus, holdReadyAfterMs, inbox, liveAfterMs, badge, fromShelf, fromTitle, fromInbox };
  },

  /** Issue 12 item 7: a book whose scripts try to read the app's tokens, opened in the reader and directly. */
  async hostile() {
    const page = await newPage();
    await signIn(page, settings.card, settings.pin);
    await page.goto(`${base}/read/${settings.loan}`);
    await waitReady(page);
    await page.waitForTimeout(2000); // time for any script of the book to run
    const view = await seen(page);
    const frameRan = await page.locator("#reading-container iframe").first().contentFrame().locator("html").evaluate(() => window.__stolen ?? null);
    const inReader = await page.evaluate(() => [localStorage.getItem("sachso.pwned"), window.__stolen ?? null]);
    await shot(page, "15-hostile-book");
    // The same chapter opened as a page of its own, at the app's origin (a link someone could be sent).
    const direct = await page.evaluate(async (loan) => {
      const session = JSON.parse(localStorage.getItem("sachso.patron"));
      const answer = await fetch(`/api/drm/v1/loans/${loan}/streaming-token`, { method: "POST", headers: { Authorization: `Bearer ${session.access_token}` } });
      return `/api/reader${new URL((await answer.json()).manifest_url).pathname.replace(/manifest\.json$/, "")}chapter.xhtml`;
    }, settings.loan);
    await page.goto(`${base}${direct}`);
    await page.waitForTimeout(1500);
    const directStolen = await page.evaluate(() => window.__stolen ?? null);
    await page.goto(`${base}/shelf`);
    await page.locator("li[data-loan]").first().waitFor();
    const afterDirect = await page.evaluate(() => [localStorage.getItem("sachso.pwned"), localStorage.getItem("sachso.patron") !== null]);
    return {
      shown: view.text.includes("câu chuyện bình thường"),
      token_kept: afterDirect[1],
      pwned: [inReader[0], afterDirect[0]],
      stolen: [inReader[1], directStolen],
      frame_ran: frameRan,
    };
  },

  /** 5. The librarian's report counts these loans, with library names; the CSV downloads. */
  async report() {
    const desk = await newPage(VIEWPORTS.desktop);
    await staffSignIn(desk, settings.admin.username, settings.admin.password);
    await desk.locator("#report-table").waitFor();
    const rows = await desk.locator("#report-table tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
    await shot(desk, "10-librarian-report");
    const axe = await axeViolations(desk);
    const [download] = await Promise.all([desk.waitForEvent("download"), desk.getByRole("button", { name: "Tải về CSV" }).click()]);
    const csvPath = path.join(artifacts, "report.csv");
    await download.saveAs(csvPath);
    await desk.locator("#library-loans").scrollIntoViewIfNeeded();
    await shot(desk, "10b-librarian-loans");
    // Every other page of the librarian's: a screenshot for the guide, and axe.
    const pages = {};
    for (const [name, heading] of [["titles", "Sách và bản quyền"], ["patrons", "Thẻ bạn đọc"], ["accounts", "Tài khoản"]]) {
      await desk.getByRole("link", { name: heading }).click();
      await desk.getByRole("heading", { name: heading, level: 1 }).waitFor();
      await desk.locator("main .page > *:nth-child(4)").waitFor();
      if (name === "titles") {
        await desk.locator("li[data-title] details summary").nth(1).click(); // "Thêm bản quyền" of the first title
        await desk.locator("li[data-title] details form").first().waitFor();
      }
      await shot(desk, `10c-librarian-${name}`);
      pages[name] = await axeViolations(desk);
    }
    return { rows, csv: csvPath, axe, pages };
  },
};

await runScenario(browser, scenarios, artifacts);
