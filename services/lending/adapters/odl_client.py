"""The borrower's HTTP client of a lending deployment's ODL endpoints (HTTP Basic with the partner's id and secret)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from lending.domain.odl import STREAMING, PartnerReading, expand_checkout
from lending.service_layer.odl_borrowing import OdlRefused, OdlSource, OdlUnavailable, RemoteCheckout


class HttpOdlLender:
    def __init__(self, http: httpx.AsyncClient, timeout_seconds: float = 10.0) -> None:
        self.http = http
        self.timeout_seconds = timeout_seconds

    async def _call(self, source: OdlSource, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self.http.request(
                method, url, auth=(source.client_id, source.secret), timeout=self.timeout_seconds, **kwargs
            )
        except httpx.HTTPError as error:
            raise OdlUnavailable(f"ODL source {source.id} cannot be reached ({error.__class__.__name__})") from None

    async def feed(self, source: OdlSource) -> Mapping[str, Any]:
        response = await self._call(source, "GET", source.feed_url)
        if response.status_code != 200:
            raise OdlUnavailable(f"ODL source {source.id} answered {response.status_code} for its feed")
        document: Mapping[str, Any] = response.json()
        return document

    async def checkout(
        self, source: OdlSource, template: str, checkout_id: str, patron_ref: str, expires: datetime
    ) -> RemoteCheckout:
        url, query = expand_checkout(
            template,
            {
                "id": checkout_id,
                "checkout_id": checkout_id,
                "patron_id": patron_ref,
                "expires": expires.isoformat().replace("+00:00", "Z"),
            },
        )
        response = await self._call(source, "POST", url, params=query)
        if response.status_code in (400, 403, 404, 409):
            raise OdlRefused(f"{response.status_code}: {response.json().get('detail', '')}")
        if response.status_code not in (200, 201):
            raise OdlUnavailable(f"ODL source {source.id} answered {response.status_code} to a checkout")
        status = response.json()
        links = {link["rel"]: link["href"] for link in status.get("links", [])}
        return RemoteCheckout(
            remote_loan_id=str(status["id"]),
            status=str(status["status"]),
            status_url=links.get("self", ""),
            return_url=links.get("return", ""),
            ends_at=str(status.get("potential_rights", {}).get("end", "")),
            streaming_url=links.get(STREAMING, ""),
        )

    async def streaming(self, source: OdlSource, streaming_url: str) -> PartnerReading:
        response = await self._call(source, "POST", streaming_url)
        if response.status_code in (404, 409):
            raise OdlRefused(f"{response.status_code}: {response.json().get('detail', '')}")
        if response.status_code != 200:
            raise OdlUnavailable(f"ODL source {source.id} answered {response.status_code} for a streaming token")
        body = response.json()
        return PartnerReading(
            loan_id=str(body["loan_id"]),
            token=str(body["token"]),
            expires_at=datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00")),
            manifest_url=str(body["manifest_url"]),
        )

    async def give_back(self, source: OdlSource, return_url: str, status_url: str) -> str:
        response = await self._call(source, "PUT", return_url)
        if response.status_code == 200:
            return str(response.json()["status"])
        if response.status_code == 409:  # it had ended there already (expired at the same due time)
            current = await self._call(source, "GET", status_url)
            if current.status_code == 200:
                return str(current.json()["status"])
        raise OdlUnavailable(f"ODL source {source.id} answered {response.status_code} to a return")
