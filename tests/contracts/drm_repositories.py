"""One contract for DRM's repositories, run against the in-memory fakes (tests/unit/drm) and MongoDB
(tests/integration/drm): a subclass provides the ``repositories`` fixture, the tests are the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from drm.domain.documents import Passphrase, ProtectedPublication
from drm.domain.licences import BlockChange, DeviceEvent, Licence, LoanFacts
from drm.domain.status import Status
from drm.service_layer.repositories import (
    BlockedPatronRepository,
    LicenceRepository,
    LocalDocumentRepository,
    PassphraseRepository,
    PublicationRepository,
)

# Whole milliseconds: MongoDB keeps datetimes to the millisecond.
NOW = datetime(2026, 12, 1, 9, 30, 15, 123000, tzinfo=UTC)


class DrmRepositories(Protocol):
    licences: LicenceRepository
    passphrases: PassphraseRepository
    publications: PublicationRepository
    blocked_patrons: BlockedPatronRepository
    local_documents: LocalDocumentRepository


def loan(loan_id: str = "loan-1", *, patron: str = "ana", days: int = 14) -> LoanFacts:
    return LoanFacts(loan_id, patron, "pub-1", NOW, NOW + timedelta(days=days))


class DrmRepositoryContract:
    async def test_following_a_loan_creates_one_ready_licence_then_updates_it(
        self, repositories: DrmRepositories
    ) -> None:
        await repositories.licences.follow_loan(loan(), NOW)
        first = await repositories.licences.by_loan("loan-1")
        assert first is not None
        assert (first.status, first.patron_id, first.publication_id) == (Status.READY, "ana", "pub-1")
        assert (first.start, first.end, first.issued) == (NOW, NOW + timedelta(days=14), NOW)
        assert (first.devices, first.events, first.delivered, first.online_only) == ((), (), False, False)
        await repositories.licences.follow_loan(loan(days=21), NOW + timedelta(minutes=1))
        again = await repositories.licences.by_loan("loan-1")
        assert again is not None
        assert again.id == first.id  # one licence per loan, whatever is replayed
        assert again.end == NOW + timedelta(days=21)
        assert await repositories.licences.by_id(first.id) == again
        assert await repositories.licences.by_loan("nope") is None
        assert await repositories.licences.by_id("nope") is None

    async def test_a_licence_born_ended_keeps_its_state_when_the_loan_arrives(
        self, repositories: DrmRepositories
    ) -> None:
        await repositories.licences.add(Licence("lic-e", "loan-e", Status.EXPIRED, NOW, NOW))
        await repositories.licences.follow_loan(loan("loan-e"), NOW)
        licence = await repositories.licences.by_loan("loan-e")
        assert licence is not None
        assert (licence.id, licence.status, licence.patron_id) == ("lic-e", Status.EXPIRED, "ana")

    async def test_only_a_live_licence_is_extended(self, repositories: DrmRepositories) -> None:
        later = NOW + timedelta(days=30)
        await repositories.licences.follow_loan(loan("live"), NOW)
        await repositories.licences.extend("live", later, NOW + timedelta(hours=1))
        live = await repositories.licences.by_loan("live")
        assert live is not None
        assert (live.end, live.updated) == (later, NOW + timedelta(hours=1))
        assert live.last_updated == NOW + timedelta(hours=1)
        await repositories.licences.follow_loan(loan("ended"), NOW)
        ended = await repositories.licences.by_loan("ended")
        assert ended is not None
        await repositories.licences.change_status(ended.id, Status.RETURNED, NOW)
        await repositories.licences.extend("ended", later, NOW)
        still = await repositories.licences.by_loan("ended")
        assert still is not None
        assert (still.end, still.status) == (NOW + timedelta(days=14), Status.RETURNED)

    async def test_status_changes_devices_events_and_delivery_are_recorded(self, repositories: DrmRepositories) -> None:
        await repositories.licences.follow_loan(loan(), NOW)
        licence = await repositories.licences.by_loan("loan-1")
        assert licence is not None
        registered = DeviceEvent("register", "Kobo", "kobo-1", NOW + timedelta(minutes=1))
        await repositories.licences.add_device(licence.id, "kobo-1")
        await repositories.licences.add_device(licence.id, "kobo-1")
        await repositories.licences.change_status(licence.id, Status.ACTIVE, registered.timestamp, registered)
        renewal = DeviceEvent("renew", "Kobo", "kobo-1", NOW + timedelta(minutes=2))
        await repositories.licences.renewed(licence.id, NOW + timedelta(days=28), renewal)
        await repositories.licences.mark_delivered(licence.id)
        after = await repositories.licences.by_id(licence.id)
        assert after is not None
        assert after.devices == ("kobo-1",)
        assert after.status is Status.ACTIVE
        assert after.status_updated == registered.timestamp
        assert after.events == (registered, renewal)
        assert (after.end, after.updated, after.delivered) == (NOW + timedelta(days=28), renewal.timestamp, True)

    async def test_passphrases_are_replaced(self, repositories: DrmRepositories) -> None:
        assert await repositories.passphrases.get("ana") is None
        await repositories.passphrases.put("ana", Passphrase(b"k" * 32, "con mèo"), NOW)
        await repositories.passphrases.put("ana", Passphrase(b"j" * 32, "con chó"), NOW)
        assert await repositories.passphrases.get("ana") == Passphrase(b"j" * 32, "con chó")

    async def test_protected_publications_are_saved_whole(self, repositories: DrmRepositories) -> None:
        publication = ProtectedPublication(
            "pub-1", "pub-1/abc.epub", "application/epub+zip", 1234, "abc", "Truyện Kiều", "src", "k1", NOW
        )
        assert await repositories.publications.get("pub-1") is None
        await repositories.publications.save(publication)
        assert await repositories.publications.get("pub-1") == publication

    async def test_the_recorded_block_change_is_the_last_one_written(self, repositories: DrmRepositories) -> None:
        assert await repositories.blocked_patrons.last_change("ana") is None
        assert not await repositories.blocked_patrons.is_blocked("ana")
        await repositories.blocked_patrons.record("ana", BlockChange(True, NOW))
        assert await repositories.blocked_patrons.is_blocked("ana")
        await repositories.blocked_patrons.record("ana", BlockChange(False, NOW + timedelta(hours=1)))
        assert await repositories.blocked_patrons.last_change("ana") == BlockChange(False, NOW + timedelta(hours=1))
        assert not await repositories.blocked_patrons.is_blocked("ana")

    async def test_a_published_local_document_is_known_once_however_often_announced(
        self, repositories: DrmRepositories
    ) -> None:
        assert not await repositories.local_documents.is_local_document("ld-1")
        await repositories.local_documents.record("ld-1", "daklak", NOW)
        await repositories.local_documents.record("ld-1", "daklak", NOW + timedelta(minutes=1))
        assert await repositories.local_documents.is_local_document("ld-1")
        assert not await repositories.local_documents.is_local_document("pub-1")
        assert not await repositories.local_documents.is_local_document("")
