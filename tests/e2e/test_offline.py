"""Issue 18 in a real browser: the app installs (manifest, active service worker), reads downloaded books with
the network cut, syncs what was read offline, never opens a copy past its loan, and receives Web Push."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import http_ece  # type: ignore[import-untyped]
import httpx
import pytest

from tests.e2e.conftest import WebApp, run_scenario
from tests.e2e.test_book_scripts import Listener, hostile_epub, publish_and_borrow
from tests.e2e.test_journeys import Lending, patron
from tests.integration.notify.conftest import Browser

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

EPUB_QUERY, PDF_QUERY = "children literature", "brief history debian"
ILLUSTRATED_QUERY = "alice"  # Alice's Adventures in Wonderland: Tenniel's pictures inside its chapters


def loan_of(lending: Lending, who: dict[str, str], title_id: str) -> dict[str, Any]:
    """Her active loan of ``title_id``, borrowing it first when she has none."""
    headers = lending.patron_token(who)
    for loan in lending.http.get("/v1/loans", headers=headers).json():
        if loan["title_id"] == title_id:
            return dict(loan)
    answer = lending.http.post("/v1/loans", json={"title_id": title_id}, headers=headers)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_downloaded_books_read_offline_sync_back_and_end_with_the_loan(web_app: WebApp) -> None:
    reader = patron(web_app, "thpt-chu-van-an")
    lending = Lending(web_app)
    epub = loan_of(lending, reader, lending.title_id(EPUB_QUERY))
    pdf = loan_of(lending, reader, lending.title_id(PDF_QUERY))

    def return_loan(loan_id: str) -> str:
        answer = lending.http.post(f"/v1/loans/{loan_id}/return", headers=lending.patron_token(reader))
        assert answer.status_code == 200, answer.text
        return "returned"

    settings = {
        "base": web_app.base,
        "epub": epub["id"],
        "epubPublication": epub["publication_id"],
        "epubDue": epub["due_at"],
        "pdf": pdf["id"],
        **reader,
    }
    result = run_scenario("offline", settings, answer={"return_loan": return_loan}, timeout=400, script="offline.mjs")

    # Installable: Chromium parsed the manifest without errors and finds nothing in the way of installing.
    manifest = result["manifest"]
    assert manifest["errors"] == [], manifest
    # Playwright's browser contexts are incognito, which Chromium names as the only thing in the way.
    assert [e for e in result["installability"] if e["errorId"] != "in-incognito"] == [], result["installability"]
    assert result["worker"] == "activated"
    data = manifest["data"]
    assert (data["name"], data["short_name"], data["lang"]) == ("Sách Số — Thư viện số", "Sách Số", "vi")
    assert (data["display"], data["start_url"], data["theme_color"]) == ("standalone", "/shelf", "#0b5d3b")
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in data["icons"]}

    # The size came first, then the copy: the same reckoning the shelf shows.
    assert "MB" in result["epub"]["size"] or "kB" in result["epub"]["size"], result["epub"]
    assert "Đã tải về máy này" in result["epub"]["stored"], result["epub"]
    assert "Đã tải về máy này" in result["pdf"]["stored"], result["pdf"]
    assert "Đang dùng" in result["storage"], result["storage"]  # the account page shows the storage used

    # Offline: the shelf as it last was, the EPUB's words on screen, the PDF's page image filling the width.
    assert result["shelfCards"] >= 2
    assert len(result["epubWords"]) > 10, result["epubWords"]
    assert int(result["offlinePosition"]) > int(result["opened"]), result
    image, viewport = result["pdfImage"], result["viewport"]
    assert image["natural"] >= 300, image
    assert image["box"]["width"] > 0.9 * viewport["width"], image
    assert image["box"]["y"] < viewport["height"], image
    assert "A Brief History of Debian" in result["pdfText"], result["pdfText"]  # page 1's text layer: its title
    assert result["pdfSecond"] >= 300

    # Back online, the position read offline reached the service and another browser opens there.
    # (the server holds exactly the offline position — the scenario waited for it; the other browser opens on the
    # page that holds it, whose first position may be a little earlier, and well past where reading began)
    assert int(result["opened"]) < int(result["elsewhere"]) <= int(result["offlinePosition"]), (
        result.get("serverLocator"),
        result.get("elsewhereHref"),
        result["opened"],
        result["elsewhere"],
        result["offlinePosition"],
    )

    # The device's clock: turned back, refused (the copy kept); past the loan's end, refused and deleted.
    assert "Đồng hồ của máy bị lùi" in result["clockBack"], result["clockBack"]
    assert result["keptAfterClockBack"] is True
    assert result["pastEnd"], result
    assert result["keptPastEnd"] is False

    # Returned: the copy was deleted at the next start and the book does not open offline.
    assert result["pdfKept"] is False
    assert result["returnedMessage"], result
    assert result["returnedOpened"] == 0


def test_a_downloaded_books_pictures_show_offline_and_the_app_says_when_it_is_offline(web_app: WebApp) -> None:
    reader = patron(web_app, "thpt-chu-van-an")
    lending = Lending(web_app)
    illustrated = loan_of(lending, reader, lending.title_id(ILLUSTRATED_QUERY))
    settings = {"base": web_app.base, "illustrated": illustrated["id"], **reader}
    result = run_scenario("pictures", settings, timeout=300, script="offline.mjs")

    assert "Đã tải về máy này" in result["stored"]["stored"], result["stored"]
    # Offline, the first chapter's picture (Tenniel's White Rabbit) is loaded and wholly on screen.
    viewport = result["viewport"]
    assert result["pictures"], result
    picture = result["pictures"][0]
    assert picture["chapter"].endswith("chapter01.xhtml"), picture
    assert picture["alt"] == "The White Rabbit", picture
    assert picture["natural"] > 0, picture
    assert picture["width"] > 0.3 * viewport["width"], picture
    assert picture["y"] + picture["height"] <= viewport["height"], picture
    assert "Minion Pro" in result["fonts"], result["fonts"]  # the book's style sheet and its font, offline too

    # The banner: not while online, shown offline (from failed requests), gone once the services answer again.
    assert result["bannerOnline"] is False, result
    assert result["bannerOffline"] is True, result
    assert result["bannerText"].startswith("Bạn đang ngoại tuyến"), result["bannerText"]
    assert result["bannerGone"] is True, result


def test_a_downloaded_books_scripts_cannot_act_as_the_app(web_app: WebApp) -> None:
    reader = patron(web_app, "krong-pac")
    with Listener() as listener:
        loan = publish_and_borrow(web_app, hostile_epub(listener.url), reader)
        result = run_scenario("hostileStored", {"base": web_app.base, "loan": loan, **reader}, script="offline.mjs")
        assert result["innerRan"] is None, result  # the book's nested page, answered by the service worker
        assert result["pwned"] == [None, None], result  # nothing written to the app's storage
        assert result["stolen"] == [None, None], result  # no script reached the app's window, nor ran directly
        assert result["directOrigin"] == "null", result  # a stored chapter opened directly: an opaque origin
        assert result["tokenKept"], result
        assert listener.heard == [], listener.heard


class PushReceiver:
    """A push service on 127.0.0.1 that records what notify sends (encrypted, RFC 8291)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        received = self.received

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                received.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                self.send_response(201)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, within: float) -> bytes:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.received:
                return self.received[0]
            time.sleep(0.2)
        raise AssertionError(f"notify sent no push within {within} s")


@pytest.fixture
def receiver() -> Iterator[PushReceiver]:
    found = PushReceiver()
    yield found
    found.server.shutdown()


def test_a_push_subscription_made_in_the_app_receives_hold_ready_and_opens_the_hold(
    web_app: WebApp, receiver: PushReceiver
) -> None:
    reader = patron(web_app, "thpt-chu-van-an")
    others = [patron(web_app, "daklak"), patron(web_app, "buon-ma-thuot")]
    lending = Lending(web_app)
    title_id = lending.title_id("trees")
    name = lending.http.get(f"/v1/titles/{title_id}").json()["title"]
    browser = Browser.new()
    subscription = browser.subscription(f"{receiver.base}/push/e2e-{int(time.time())}")
    notify = web_app.platform.endpoints()["notify"].http_url

    def hold_ready_push(subscription_id: str) -> str:
        headers = lending.patron_token(reader)
        devices = httpx.get(f"{notify}/v1/push/subscriptions", headers=headers, timeout=10).json()
        assert [device["id"] for device in devices if device["active"]] == [subscription_id], devices
        for other in others:  # every copy lent, so her hold waits
            loan_of(lending, other, title_id)
        hold = lending.http.post("/v1/holds", json={"title_id": title_id}, headers=headers)
        assert hold.status_code == 201, hold.text
        lending.give_back(others[0], title_id)  # a copy comes back: her hold is ready
        body = receiver.wait(within=60)
        return json.dumps(json.loads(http_ece.decrypt(body, private_key=browser.private_key, auth_secret=browser.auth)))

    result = run_scenario(
        "push",
        {"base": web_app.base, "subscription": subscription, "title": name, **reader},
        answer={"hold_ready_push": hold_ready_push},
        timeout=240,
        script="offline.mjs",
    )
    (shown,) = result["shown"]
    assert shown["title"].startswith("Sách bạn chờ đã sẵn sàng"), shown
    assert shown["data"]["url"] == "/holds", shown
    assert result["url"].endswith("/account")  # the last step: the device removed on the account page
    assert result["borrowed"] == 1, result
