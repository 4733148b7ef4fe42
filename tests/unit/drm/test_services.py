"""DRM's use cases on the in-memory fakes: every licence and status-document rule, in milliseconds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lcp_provider import ensure_lcp_files

from drm.domain import lcp
from drm.domain.documents import LicenceWriter, Links
from drm.domain.licences import BlockChange, Licence, LoanFacts
from drm.domain.status import Status
from drm.errors import (
    LicenceEnded,
    LicenceNotFound,
    OnlineOnly,
    PassphraseMissing,
    PassphraseRefused,
    PatronBlocked,
    ProtectedPublicationNotFound,
    PublicationNotReady,
    StatusRequestRefused,
)
from drm.service_layer import events
from drm.service_layer.licences import Licences
from drm.service_layer.protection import Protection
from drm.service_layer.status_documents import StatusDocuments
from sachso.events.v1 import drm_events_pb2, reader_events_pb2
from sachso.kit.errors import PreconditionFailed
from tests.corpus import CORPUS
from tests.unit.drm.fakes import FakeContentKeys, FakeDrmUnitOfWork, FakeObjectStore, FakeState

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LINKS = Links("https://drm.test", "https://reader.test")


class Tokens:
    def __init__(self) -> None:
        self.issued: list[tuple[str, dict[str, Any]]] = []

    def issue(self, subject: str, *, audience: str, ttl_seconds: float = 900, **claims: Any) -> str:
        self.issued.append((subject, {"aud": audience, "ttl": ttl_seconds, **claims}))
        return f"token-{len(self.issued)}"


@dataclass
class Drm:
    state: FakeState
    licences: Licences
    status: StatusDocuments
    protection: Protection
    keys: FakeContentKeys
    store: FakeObjectStore
    tokens: Tokens
    lending: dict[str, LoanFacts]

    def uow(self) -> FakeDrmUnitOfWork:
        return FakeDrmUnitOfWork(self.state)

    async def lend(self, loan_id: str = "loan-1", patron: str = "ana", *, days: int = 14, online: bool = False) -> None:
        facts = LoanFacts(loan_id, patron, "pub-1", NOW, NOW + timedelta(days=days), online_only=online)
        await self.uow().run(lambda uow: self.licences.loan_created(uow, facts))

    async def end(self, loan_id: str = "loan-1", *, returned: bool = True) -> None:
        await self.uow().run(lambda uow: self.licences.loan_ended(uow, loan_id, returned))

    async def publish(self, publication_id: str = "pub-1", sha256: str = "digest-1") -> None:
        book = (CORPUS / "epub" / "wasteland-otf-obf.epub").read_bytes()
        await self.store.write("originals", f"{publication_id}.epub", book, "application/epub+zip")
        original = reader_events_pb2.StoredFile(
            bucket="originals", key=f"{publication_id}.epub", media_type="application/epub+zip", sha256=sha256
        )
        await self.uow().run(lambda uow: self.protection.protect(uow, publication_id, "The Waste Land", original))

    def events(self, kind: type[Any]) -> list[Any]:
        return [event.payload for event in self.state.published if isinstance(event.payload, kind)]

    def state_licence(self, loan_id: str = "loan-1") -> Licence:
        return next(licence for licence in self.state.licences.values() if licence.loan_id == loan_id)


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> lcp.Provider:
    files = ensure_lcp_files(Path(tmp_path_factory.mktemp("lcp")))
    return lcp.Provider.from_pem(files.certificate.read_bytes(), files.key.read_bytes())


@pytest.fixture
def drm(provider: lcp.Provider) -> Drm:
    state, keys, store, tokens = FakeState(), FakeContentKeys(), FakeObjectStore(), Tokens()
    lending: dict[str, LoanFacts] = {}

    def uow() -> FakeDrmUnitOfWork:
        return FakeDrmUnitOfWork(state)

    async def ask_lending(loan_id: str) -> LoanFacts | None:
        return lending.get(loan_id)

    licences = Licences(
        uow, keys, LicenceWriter(provider, "https://sachso.test", LINKS, (10, 2000)), tokens,
        ask_lending=ask_lending, clock=lambda: NOW,
    )  # fmt: skip
    protection = Protection(uow, keys, store, "protected", clock=lambda: NOW)
    return Drm(
        state, licences, StatusDocuments(uow, LINKS, clock=lambda: NOW), protection, keys, store, tokens, lending
    )


async def test_protection_stores_the_package_once_per_source_file(drm: Drm) -> None:
    await drm.publish()
    await drm.publish()  # redelivered: the same file is protected once
    (protected,) = drm.events(drm_events_pb2.PublicationProtected)
    assert protected.protected.bucket == "protected"
    assert drm.state.publications["pub-1"].key == protected.protected.key
    assert ("protected", protected.protected.key) in drm.store.objects
    await drm.publish(sha256="digest-2")  # a new file: protected again
    assert len(drm.events(drm_events_pb2.PublicationProtected)) == 2
    package, chunks = await drm.protection.open_package("pub-1")
    assert b"".join([chunk async for chunk in chunks]) == drm.store.objects["protected", package.key][0]
    with pytest.raises(ProtectedPublicationNotFound):
        await drm.protection.open_package("nope")
    key, key_id = await drm.protection.content_key("pub-1")
    assert (len(key), key_id) == (32, drm.keys.keys["pub-1"][0])


async def test_the_licence_opens_with_the_passphrase_and_is_announced_once(drm: Drm) -> None:
    await drm.publish()
    await drm.lend()
    with pytest.raises(PassphraseMissing):
        await drm.licences.licence_for("loan-1", "ana")
    with pytest.raises(PassphraseRefused):
        await drm.licences.set_passphrase("ana", "mèo con", "mèo con là mật khẩu")
    with pytest.raises(PassphraseRefused):
        await drm.licences.set_passphrase("ana", "mèo", "ba chữ")
    await drm.licences.set_passphrase("ana", "mèo con", "  con vật nhỏ  ")
    assert await drm.licences.hashed_passphrase("ana") == lcp.user_key("mèo con").hex()
    document = json.loads(await drm.licences.licence_for("loan-1", "ana"))
    lcp.verify_signature(document)
    assert lcp.open_license(document, "mèo con") == drm.keys.keys["pub-1"][1]
    assert document["encryption"]["user_key"]["text_hint"] == "con vật nhỏ"
    assert document["rights"] == {"print": 10, "copy": 2000, "start": "2026-12-01T09:00:00Z",
                                  "end": "2026-12-15T09:00:00Z"}  # fmt: skip
    assert {link["rel"] for link in document["links"]} == {"hint", "publication", "status"}
    await drm.licences.licence_for("loan-1", "ana")
    (issued,) = drm.events(drm_events_pb2.LicenseIssued)
    assert (issued.loan_id, issued.patron_id, issued.publication_id) == ("loan-1", "ana", "pub-1")


async def test_a_licence_is_only_for_its_patron_while_live_unblocked_and_downloadable(drm: Drm) -> None:
    await drm.lend()
    await drm.licences.set_passphrase("ana", "mèo con", "con vật")
    with pytest.raises(PublicationNotReady):
        await drm.licences.licence_for("loan-1", "ana")
    with pytest.raises(LicenceNotFound):
        await drm.licences.licence_for("loan-1", "binh")
    with pytest.raises(LicenceNotFound):
        await drm.licences.streaming_token("loan-9", "ana")
    await drm.uow().run(lambda uow: drm.licences.patron_blocked(uow, "ana", BlockChange(True, NOW)))
    with pytest.raises(PatronBlocked):
        await drm.licences.streaming_token("loan-1", "ana")
    # an older unblock arriving late changes nothing; a newer one lifts the block
    await drm.uow().run(lambda uow: drm.licences.patron_blocked(uow, "ana", BlockChange(False, NOW - timedelta(1))))
    with pytest.raises(PatronBlocked):
        await drm.licences.streaming_token("loan-1", "ana")
    await drm.uow().run(lambda uow: drm.licences.patron_blocked(uow, "ana", BlockChange(False, NOW + timedelta(1))))
    await drm.licences.streaming_token("loan-1", "ana")
    await drm.lend("loan-2", online=True)
    with pytest.raises(OnlineOnly):
        await drm.licences.licence_for("loan-2", "ana")
    await drm.end()
    with pytest.raises(LicenceEnded):
        await drm.licences.streaming_token("loan-1", "ana")


async def test_streaming_tokens_never_outlive_the_loan(drm: Drm) -> None:
    await drm.lend(online=True)
    grant = await drm.licences.streaming_token("loan-1", "ana")
    assert (grant.token, grant.expires_at, grant.publication_id) == ("token-1", NOW + timedelta(minutes=5), "pub-1")
    assert grant.online_only is True  # the app never stores such a title for offline reading
    assert grant.loan_ends_at == drm.state_licence("loan-1").end  # the device refuses a stored copy after it
    subject, claims = drm.tokens.issued[0]
    assert (subject, claims["pub"], claims["loan"], claims["online_only"], claims["ttl"]) == (
        "ana", "pub-1", "loan-1", True, 300
    )  # fmt: skip
    short = LoanFacts("loan-2", "ana", "pub-1", NOW, NOW + timedelta(seconds=60))
    await drm.uow().run(lambda uow: drm.licences.loan_created(uow, short))
    grant = await drm.licences.streaming_token("loan-2", "ana")
    assert grant.expires_at == grant.loan_ends_at == NOW + timedelta(seconds=60)
    assert not grant.online_only


async def test_a_lent_local_document_is_streamed_as_watermarked_pages_never_by_lcp(drm: Drm) -> None:
    """The reader published a scanned document (its event): a loan of it gets a streaming token marked as a local
    document (the app opens its IIIF manifest) and online only (never stored), and no LCP licence."""
    await drm.uow().run(lambda uow: drm.licences.local_document_published(uow, "ld-1", "daklak", NOW))
    await drm.uow().run(lambda uow: drm.licences.local_document_published(uow, "ld-1", "daklak", NOW))  # twice: one
    facts = LoanFacts("loan-5", "ana", "ld-1", NOW, NOW + timedelta(days=7))
    await drm.uow().run(lambda uow: drm.licences.loan_created(uow, facts))
    grant = await drm.licences.streaming_token("loan-5", "ana")
    assert (grant.publication_id, grant.local_document, grant.online_only) == ("ld-1", True, True)
    assert drm.tokens.issued[-1][1]["pub"] == "ld-1"
    await drm.licences.set_passphrase("ana", "mèo con", "con vật")
    with pytest.raises(OnlineOnly):
        await drm.licences.licence_for("loan-5", "ana")
    await drm.lend()
    assert (await drm.licences.streaming_token("loan-1", "ana")).local_document is False
    assert drm.state.local_documents == {"ld-1": "daklak"}


async def test_a_loan_lending_marks_as_a_local_document_is_one_whatever_drm_heard_from_the_reader(drm: Drm) -> None:
    """DRM never saw ``LocalDocumentPublished`` (published before it consumed the topic): the loan's own word —
    its event, or lending's answer when DRM asks — still makes it a local document read through IIIF."""
    by_event = LoanFacts("loan-8", "ana", "ld-2", NOW, NOW + timedelta(days=7), online_only=True, local_document=True)
    await drm.uow().run(lambda uow: drm.licences.loan_created(uow, by_event))
    assert (await drm.licences.streaming_token("loan-8", "ana")).local_document is True
    drm.lending["loan-9"] = LoanFacts("loan-9", "ana", "ld-3", NOW, NOW + timedelta(days=7), local_document=True)
    grant = await drm.licences.streaming_token("loan-9", "ana")  # asked lending: no event yet
    assert (grant.local_document, grant.online_only) == (True, True)
    assert drm.state.local_documents == {}


async def test_a_licence_asked_for_before_loan_created_is_learnt_from_lending(drm: Drm) -> None:
    drm.lending["loan-7"] = LoanFacts("loan-7", "ana", "pub-1", NOW, NOW + timedelta(days=7))
    with pytest.raises(LicenceNotFound):
        await drm.licences.streaming_token("loan-7", "binh")  # lending says it is someone else's
    await drm.licences.streaming_token("loan-7", "ana")
    assert drm.state_licence("loan-7").status is Status.READY
    await drm.lend("loan-7")  # the event arrives afterwards: the same licence
    assert len(drm.state.licences) == 1


async def test_loan_events_out_of_order_never_revive_a_licence(drm: Drm) -> None:
    await drm.end("loan-3", returned=False)  # the expiry arrives before the creation
    await drm.lend("loan-3")
    assert drm.state_licence("loan-3").status is Status.EXPIRED
    await drm.end("loan-4", returned=True)
    assert drm.state_licence("loan-4").status is Status.CANCELLED
    await drm.lend("loan-5")
    await drm.end("loan-5", returned=True)
    await drm.end("loan-5", returned=False)  # twice, and then the other ending: one change
    assert drm.state_licence("loan-5").status is Status.CANCELLED
    (changed,) = drm.events(drm_events_pb2.LicenseStatusChanged)
    assert changed.status == drm_events_pb2.LICENSE_STATUS_CANCELLED
    await drm.uow().run(lambda uow: drm.licences.loan_renewed(uow, "loan-5", NOW + timedelta(days=99)))
    assert drm.state_licence("loan-5").end == NOW + timedelta(days=14)  # an ended licence is not extended


async def test_register_return_and_the_status_document(drm: Drm) -> None:
    await drm.lend()
    licence_id = drm.state_licence().id
    ready = await drm.status.document(licence_id, "en")
    assert (ready["status"], ready["message"]) == ("ready", "The licence is ready: open the book in your reading app.")
    assert [link["rel"] for link in ready["links"]] == ["license", "register", "return", "renew"]
    with pytest.raises(StatusRequestRefused) as nameless:
        await drm.status.register(licence_id, "", "")
    assert nameless.value.type_uri == "http://readium.org/license-status-document/error/registration"
    await drm.status.register(licence_id, "kobo-1", "Kobo")
    await drm.status.register(licence_id, "kobo-1", "Kobo")  # the same device: one registration
    active = await drm.status.document(licence_id, "vi")
    assert (active["status"], len(active["events"])) == ("active", 1)
    await drm.status.give_back(licence_id, "kobo-1", "Kobo")
    await drm.status.give_back(licence_id, "kobo-1", "Kobo")  # the same device again: one return
    with pytest.raises(StatusRequestRefused, match="already returned"):
        await drm.status.give_back(licence_id, "phone", "Phone")
    (returned,) = drm.events(drm_events_pb2.LicenseReturned)
    assert (returned.loan_id, returned.device_id) == ("loan-1", "kobo-1")
    statuses = [event.status for event in drm.events(drm_events_pb2.LicenseStatusChanged)]
    assert statuses == [drm_events_pb2.LICENSE_STATUS_ACTIVE, drm_events_pb2.LICENSE_STATUS_RETURNED]
    ended = await drm.status.document(licence_id, "vi")
    assert [link["rel"] for link in ended["links"]] == ["license"]
    with pytest.raises(LicenceNotFound):
        await drm.status.document("nope", "vi")


async def test_renewal_asks_lending_and_extends_as_far_as_the_loan(drm: Drm) -> None:
    await drm.lend()
    licence_id = drm.state_licence().id

    async def renewed(loan_id: str) -> datetime:
        return NOW + timedelta(days=28)

    async def refused(loan_id: str) -> datetime:
        raise PreconditionFailed("someone is waiting for this book")

    with pytest.raises(StatusRequestRefused, match="someone is waiting") as refusal:
        await drm.status.renew(licence_id, "kobo-1", "Kobo", refused)
    assert refusal.value.kind == "renew"
    await drm.status.renew(licence_id, "kobo-1", "Kobo", renewed)
    document = await drm.status.document(licence_id, "en")
    assert document["potential_rights"] == {"end": "2026-12-29T09:00:00Z"}
    assert [event["type"] for event in document["events"]] == ["renew"]
    await drm.end()
    with pytest.raises(StatusRequestRefused):
        await drm.status.renew(licence_id, "kobo-1", "Kobo", renewed)


async def test_a_failed_use_case_leaves_nothing_behind(drm: Drm) -> None:
    await drm.lend()
    licence_id = drm.state_licence().id
    before = drm.state.copy()

    async def half_done(uow: FakeDrmUnitOfWork) -> None:
        await uow.licences.change_status(licence_id, Status.REVOKED, NOW)
        uow.emit(events.status_changed(drm.state_licence(), Status.REVOKED, NOW))
        raise RuntimeError("crash between the write and the commit")

    with pytest.raises(RuntimeError):
        await drm.uow().run(half_done)
    assert drm.state == before
