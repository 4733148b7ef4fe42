"""A licence or streaming token asked for right after checkout, before DRM heard ``LoanCreated`` (issue 12,
item 14): DRM asks lending over gRPC and proceeds, since Readium apps do not retry a 404."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from drm.adapters.lending_client import LendingClient
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.service_layer.catalogue import TitleMetadata
from tests.integration.drm.conftest import DrmUnderTest
from tests.integration.drm.test_licences import publish
from tests.integration.lending.conftest import Lending, lending, lending_grpc_channel  # noqa: F401 (the lending fixture, here too)

pytestmark = pytest.mark.integration


@pytest.fixture
async def asking_lending(lending: Lending, drm: DrmUnderTest) -> AsyncIterator[LendingClient]:  # noqa: F811
    """DRM's client of a real lending gRPC server; DRM's consumer of lending's events is not running at all."""
    async with lending_grpc_channel(lending) as channel:
        client = LendingClient(channel, lending.issuer)
        drm.licences.ask_lending = client.active_loan
        yield client


async def borrowed(lending: Lending, publication_id: str, patron_id: str, *, online_only: bool = False) -> str:  # noqa: F811
    title_id = await lending.catalogue.add_title(TitleMetadata(title="The Waste Land"), publication_id=publication_id)
    await lending.catalogue.add_license(title_id, "daklak", LicenseTerms(LicenseModel.ONE_COPY_ONE_USER, concurrency=2))
    if online_only:
        await lending.catalogue.set_online_only(title_id, True)
    await lending.active_patron(patron_id)
    return (await lending.circulation.checkout(patron_id, title_id)).id


async def test_token_and_licence_right_after_checkout(
    lending: Lending,  # noqa: F811
    drm: DrmUnderTest,
    asking_lending: LendingClient,
) -> None:
    await publish(drm, "pub-fresh")
    loan_id = await borrowed(lending, "pub-fresh", "ana")
    ana = drm.patron("ana")
    token = await drm.http.post(f"/v1/loans/{loan_id}/streaming-token", headers=ana)
    assert token.status_code == 200, token.text
    assert token.json()["publication_id"] == "pub-fresh"
    await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "Tên con mèo?"}, headers=ana)
    licence = await drm.http.get(f"/v1/loans/{loan_id}/license", headers=ana)
    assert licence.status_code == 200, licence.text
    # someone else's loan, or a loan lending does not have, is still nobody's
    assert (await drm.http.post(f"/v1/loans/{loan_id}/streaming-token", headers=drm.patron("binh"))).status_code == 404
    assert (await drm.http.post("/v1/loans/no-such-loan/streaming-token", headers=ana)).status_code == 404


async def test_an_online_only_loan_learned_from_lending_gets_no_licence(
    lending: Lending,  # noqa: F811
    drm: DrmUnderTest,
    asking_lending: LendingClient,
) -> None:
    await publish(drm, "pub-rare")
    loan_id = await borrowed(lending, "pub-rare", "ana", online_only=True)
    ana = drm.patron("ana")
    await drm.http.put("/v1/lcp/passphrase", json={"passphrase": "mèo con", "hint": "Tên con mèo?"}, headers=ana)
    refused = await drm.http.get(f"/v1/loans/{loan_id}/license", headers=ana)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/online-only")
