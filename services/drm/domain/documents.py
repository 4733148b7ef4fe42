"""The documents a reading app receives: the signed LCP licence and the License Status Document (pure).

A licence is signed over its canonical JSON (keys sorted at every level, no whitespace, UTF-8 unescaped). That
JSON is made once: the signature is spliced into those same bytes, which are what the patron downloads — the
object's key order does not matter to a reader, who canonicalises again to verify.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from drm.domain import lcp
from drm.domain.licences import Licence, aware
from drm.domain.status import LIVE, MESSAGES


@dataclass(frozen=True)
class Links:
    """Where DRM and the reader answer, as reading apps see them."""

    drm: str
    reader: str

    def status(self, licence_id: str) -> str:
        return f"{self.drm}/v1/licenses/{licence_id}/status"


@dataclass(frozen=True)
class ProtectedPublication:
    """A publication's protected package: what a licence links to."""

    id: str
    key: str
    media_type: str
    length: int
    sha256: str
    title: str = ""
    source_sha256: str = ""
    content_key_id: str = ""
    protected_at: datetime | None = None


@dataclass(frozen=True)
class Passphrase:
    """A patron's user key (SHA-256 of the passphrase; the passphrase itself is never kept) and its hint."""

    user_key: bytes
    hint: str


def iso(moment: datetime) -> str:
    if moment.tzinfo is not UTC:
        moment = aware(moment).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _json(value: str) -> str:
    """``value`` as a JSON string, as ``json.dumps(value, ensure_ascii=False)`` writes it (printable text without
    quotes or backslashes — ids, names, hints — needs no escaping and skips the encoder)."""
    if value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value, ensure_ascii=False)


class LicenceWriter:
    """Writes and signs the LCP licences of one provider.

    The licence's canonical JSON is written straight from a template in canonical order (keys sorted at every
    level), with what every licence repeats — the provider, algorithms, the hint link — serialised once here and
    each publication's link once per publication; only the licence's own values are serialised per licence.
    ``tests/unit/drm/test_documents.py`` proves the bytes equal ``lcp.canonical`` of the same document.
    """

    def __init__(self, signer: lcp.Provider, provider_id: str, links: Links, rights: tuple[int, int]) -> None:
        self.signer = signer
        self.provider_id = provider_id
        self.links = links
        self.rights = rights
        hint = _json(f"{links.drm}/v1/lcp/hint")
        self._encryption_head = (
            f'{{"encryption":{{"content_key":{{"algorithm":{_json(lcp.AES256_CBC)},"encrypted_value":"'
        )
        self._encryption_middle = (
            f'"}},"profile":{_json(lcp.BASIC_PROFILE)},"user_key":{{"algorithm":{_json(lcp.SHA256)},"key_check":"'
        )
        self._hint_link = f'[{{"href":{hint},"rel":"hint","type":"text/html"}},'
        self._status_prefix = _json(f"{links.drm}/v1/licenses/")[:-1]
        self._status_suffix = f'/status","rel":"status","type":{_json(lcp.STATUS_TYPE)}}}],"provider":'
        self._provider = _json(provider_id)
        self._rights = f',"rights":{{"copy":{int(rights[1])},"end":"'
        self._print = f'","print":{int(rights[0])},"start":"'
        self._publication_links: dict[ProtectedPublication, str] = {}
        self._last_time: tuple[datetime, str] | None = None  # a licence's times are mostly the same moment

    def _iso(self, moment: datetime) -> str:
        last = self._last_time
        if last is not None and last[0] == moment and moment.tzinfo is UTC:
            return last[1]
        text = iso(moment)
        self._last_time = (moment, text)
        return text

    def _publication_link(self, publication: ProtectedPublication) -> str:
        link = self._publication_links.get(publication)
        if link is None:
            if len(self._publication_links) >= 4096:  # bounded: a library's active titles, not its catalogue
                self._publication_links.clear()
            link = self._publication_links[publication] = (
                f'{{"hash":{_json(publication.sha256)},'
                f'"href":{_json(f"{self.links.drm}/v1/publications/{publication.id}/protected")},'
                f'"length":{int(publication.length)},"rel":"publication","title":{_json(publication.title)},'
                f'"type":{_json(publication.media_type)}}},'
            )
        return link

    def canonical(
        self, licence: Licence, publication: ProtectedPublication, secret: Passphrase, content_key: bytes
    ) -> bytes:
        """The unsigned licence's canonical JSON: content key and key check sealed with the patron's user key."""
        assert licence.start is not None
        assert licence.end is not None
        licence_id = _json(licence.id)
        # issued, updated and start are usually one moment: asked in that order, it is written once
        issued, updated, start, end = (self._iso(moment) for moment in (
            licence.issued, licence.last_updated, licence.start, licence.end))  # fmt: skip
        sealed_key, key_check = lcp.seal_for_user(secret.user_key, content_key, licence.id.encode())
        return "".join((
            self._encryption_head, sealed_key,
            self._encryption_middle, key_check,
            '","text_hint":', _json(secret.hint), '}},"id":', licence_id, ',"issued":"', issued,
            '","links":', self._hint_link, self._publication_link(publication),
            '{"href":', self._status_prefix, licence_id[1:-1], self._status_suffix, self._provider,
            self._rights, end, self._print, start,
            '"},"updated":"', updated, '","user":{"id":', _json(licence.patron_id or ""), "}}",
        )).encode()  # fmt: skip

    def body(
        self, licence: Licence, publication: ProtectedPublication, secret: Passphrase, content_key: bytes
    ) -> dict[str, Any]:
        """The unsigned licence as an object."""
        parsed: dict[str, Any] = json.loads(self.canonical(licence, publication, secret, content_key))
        return parsed

    def signed(
        self, licence: Licence, publication: ProtectedPublication, secret: Passphrase, content_key: bytes
    ) -> bytes:
        """The signed licence, as the JSON bytes the patron downloads."""
        return self.signer.signed_canonical(self.canonical(licence, publication, secret, content_key))


def status_document(licence: Licence, links: Links, language: str) -> dict[str, Any]:
    """The License Status Document: state, message in the reader's language, what the app may do next."""
    base = links.status(licence.id).removesuffix("/status")
    document_links: list[dict[str, Any]] = [
        {"rel": "license", "href": f"{links.drm}/v1/loans/{licence.loan_id}/license", "type": lcp.LICENSE_TYPE}
    ]
    if licence.status in LIVE:
        document_links += [
            {"rel": "register", "href": f"{base}/register{{?id,name}}", "type": lcp.STATUS_TYPE, "templated": True},
            {"rel": "return", "href": f"{base}/return{{?id,name}}", "type": lcp.STATUS_TYPE, "templated": True},
            {"rel": "renew", "href": f"{base}/renew{{?end,id,name}}", "type": lcp.STATUS_TYPE, "templated": True},
        ]
    body: dict[str, Any] = {
        "id": licence.id,
        "status": licence.status.value,
        "message": MESSAGES[language][licence.status],
        "updated": {"license": iso(licence.last_updated), "status": iso(licence.status_updated)},
        "links": document_links,
        "events": [
            {"type": event.type, "name": event.name, "id": event.id, "timestamp": iso(event.timestamp)}
            for event in licence.events
        ],
    }
    if licence.end is not None:
        body["potential_rights"] = {"end": iso(licence.end)}
    return body
