"""OPDS 2.0 feeds and Authentication for OPDS: what a third-party reading app sees and does."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from sachso.events.v1 import lending_events_pb2
from tests.integration.lending.conftest import PUBLIC_URL, Lending
from tests.official_schemas import validated

pytestmark = pytest.mark.integration

OPDS = "application/opds+json"
AUTH = "application/opds-authentication+json"


async def test_anonymous_browsing_and_the_authentication_document(lending: Lending) -> None:
    await lending.title_with_copies(title="Truyện Kiều", copies=2)
    await lending.title_with_copies(title="Đất rừng phương Nam", copies=1, owner="buonmathuot")
    root = await lending.http.get("/opds")
    assert root.headers["content-type"] == OPDS
    rels = {link["rel"] for link in root.json()["links"]}
    assert {"self", "search", "http://opds-spec.org/auth/document"} <= rels

    feed = (await lending.http.get("/opds/publications", params={"query": "dat rung"})).json()
    assert feed["metadata"]["numberOfItems"] == 1
    (book,) = feed["publications"]
    assert book["metadata"]["title"] == "Đất rừng phương Nam"
    assert book["metadata"]["author"] == [{"name": "Nguyễn Du"}]
    borrow = next(link for link in book["links"] if link["rel"] == "http://opds-spec.org/acquisition/borrow")
    assert borrow["properties"]["indirectAcquisition"][0]["type"] == "application/vnd.readium.lcp.license.v1.0+json"
    titles = {facet["metadata"]["title"]: facet for facet in feed["facets"]}
    assert titles["Thư viện"]["links"][0]["properties"]["numberOfItems"] == 1

    assert borrow["href"].startswith(f"{PUBLIC_URL}/opds/publications/")
    refused = await lending.http.get(borrow["href"].removeprefix(PUBLIC_URL))
    assert refused.status_code == 401
    assert refused.headers["content-type"] == AUTH
    document = refused.json()
    (flow,) = document["authentication"]
    assert flow["type"] == "http://opds-spec.org/auth/oauth/password"
    assert (await lending.http.get("/opds/auth")).json() == document
    assert {OPDS, AUTH} <= set(validated)  # feeds and the authentication document met their official schemas
    nothing = (await lending.http.get("/opds/publications", params={"query": "không có cuốn nào"})).json()
    assert "publications" not in nothing  # OPDS 2.0 wants none rather than an empty list: the way back instead
    assert nothing["navigation"][0]["href"].endswith("/opds/publications")
    assert (await lending.http.get("/opds/shelf", headers={"Authorization": "Bearer junk"})).status_code == 401


async def test_sign_in_borrow_and_hold_through_opds(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    for patron in ("ana", "binh"):
        await lending.active_patron(patron)
        pin_hash = await lending.cards.secrets.hash("2468")
        await lending.store.patrons.update_one({"_id": patron}, {"$set": {"pin_hash": pin_hash}})

    async def sign_in(card: str) -> dict[str, str]:
        token = await lending.http.post(
            "/opds/oauth/token", data={"grant_type": "password", "username": card, "password": "2468"}
        )
        assert token.status_code == 200, token.text
        assert token.json()["token_type"] == "bearer"
        return {"Authorization": f"Bearer {token.json()['access_token']}"}

    wrong = await lending.http.post(
        "/opds/oauth/token", data={"grant_type": "password", "username": "T-ANA", "password": "0000"}
    )
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    ana, binh = await sign_in("T-ANA"), await sign_in("T-BINH")

    signed_in = (await lending.http.get("/opds/publications", headers=ana)).json()
    (book,) = signed_in["publications"]
    borrow = next(link for link in book["links"] if link["rel"].endswith("/borrow"))
    assert borrow["properties"]["copies"] == {"total": 1, "available": 1}
    assert borrow["properties"]["availability"]["state"] == "available"

    lent = await lending.http.post(f"/opds/publications/{title_id}/borrow", headers=ana)
    assert lent.status_code == 201
    links = {link["rel"]: link for link in lent.json()["links"]}
    assert links["http://opds-spec.org/acquisition/borrow"]["properties"]["availability"]["state"] == "ready"
    assert links["http://opds-spec.org/acquisition"]["href"].startswith("http://drm.test/v1/loans/")

    queued = await lending.http.post(f"/opds/publications/{title_id}/borrow", headers=binh)
    borrow_link = next(link for link in queued.json()["links"] if link["rel"].endswith("/borrow"))
    assert borrow_link["properties"]["availability"]["state"] == "reserved"
    assert borrow_link["properties"]["holds"] == {"position": 1}
    shelf = (await lending.http.get("/opds/shelf", headers=binh)).json()
    assert shelf["metadata"]["numberOfItems"] == 1


async def test_online_only_titles_lend_without_a_licence_link(lending: Lending) -> None:
    title_id = await lending.title_with_copies(copies=1)
    librarian = await lending.staff_headers("admin.daklak")
    marked = await lending.http.put(f"/v1/titles/{title_id}/online-only", json={"online_only": True}, headers=librarian)
    assert marked.json()["online_only"] is True
    ana = lending.patron_headers(await lending.active_patron("ana"))
    lent = await lending.http.post(f"/opds/publications/{title_id}/borrow", headers=ana)
    assert lent.status_code == 201
    assert all(link["rel"] != "http://opds-spec.org/acquisition" for link in lent.json()["links"])
    (created,) = await lending.events("LoanCreated")
    assert lending_events_pb2.LoanCreated.FromString(bytes(created["data"])).online_only is True
    patron = lending.patron_headers("ana")
    assert (
        await lending.http.put(f"/v1/titles/{title_id}/online-only", json={"online_only": False}, headers=patron)
    ).status_code == 403


async def test_links_come_from_the_public_url_and_encode_every_query_value(lending: Lending) -> None:
    """Issue 12, item 10: a hostile Host header never reaches a link, and query values survive the round trip."""
    await lending.title_with_copies(title="Đất rừng phương Nam", copies=1)
    hostile = {"Host": "evil.example", "X-Forwarded-Host": "evil.example"}
    query = "Kiều & Vân #1 100% đọc"
    answers = [
        await lending.http.get("/opds", headers=hostile),
        await lending.http.get("/opds/publications", params={"query": query, "library": "daklak"}, headers=hostile),
        await lending.http.get("/opds/auth", headers=hostile),
        await lending.http.get("/opds/shelf", headers=hostile),  # 401 with the authentication document
    ]
    hrefs = [href for answer in answers for href in all_hrefs(answer.json())]
    assert len(hrefs) > 10
    assert not [href for href in hrefs if "evil.example" in href]
    assert not [href for href in hrefs if not href.startswith((PUBLIC_URL + "/", "http://drm.test/"))]
    feed = answers[1].json()
    self_link = next(link["href"] for link in feed["links"] if link["rel"] == "self")
    parsed = urlsplit(self_link)
    assert "#" not in self_link
    assert " " not in self_link
    assert parse_qs(parsed.query) == {"query": [query], "library": ["daklak"], "page": ["1"]}


def all_hrefs(document: object) -> list[str]:
    if isinstance(document, dict):
        own = [document["href"]] if isinstance(document.get("href"), str) else []
        return own + [href for value in document.values() for href in all_hrefs(value)]
    if isinstance(document, list):
        return [href for item in document for href in all_hrefs(item)]
    return []
