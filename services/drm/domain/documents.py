"""The documents a reading app receives: the signed LCP licence and the License Status Document (pure).

A licence is signed over its canonical JSON (keys sorted at every level, no whitespace, UTF-8 unescaped). That
JSON is made once: the signature is spliced into those same bytes, which are what the patron downloads — the
object's key order does not matter to a reader, who canonicalises again to verify.
"""

from __future__ import annotations

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
    return aware(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


class LicenceWriter:
    """Writes and signs the LCP licences of one provider; what is the same for every licence is made once."""

    def __init__(self, signer: lcp.Provider, provider_id: str, links: Links, rights: tuple[int, int]) -> None:
        self.signer = signer
        self.provider_id = provider_id
        self.links = links
        self.rights = rights
        self._hint_link = {"rel": "hint", "href": f"{links.drm}/v1/lcp/hint", "type": "text/html"}

    def body(
        self, licence: Licence, publication: ProtectedPublication, secret: Passphrase, content_key: bytes
    ) -> dict[str, Any]:
        """The unsigned licence: content key and key check sealed with the patron's user key."""
        assert licence.start is not None
        assert licence.end is not None
        return {
            "id": licence.id,
            "issued": iso(licence.issued),
            "updated": iso(licence.last_updated),
            "provider": self.provider_id,
            "encryption": {
                "profile": lcp.BASIC_PROFILE,
                "content_key": {
                    "algorithm": lcp.AES256_CBC,
                    "encrypted_value": lcp.b64(lcp.encrypt(secret.user_key, content_key)),
                },
                "user_key": {
                    "algorithm": lcp.SHA256,
                    "text_hint": secret.hint,
                    "key_check": lcp.b64(lcp.encrypt(secret.user_key, licence.id.encode())),
                },
            },
            "links": [
                self._hint_link,
                {
                    "rel": "publication",
                    "href": f"{self.links.drm}/v1/publications/{publication.id}/protected",
                    "type": publication.media_type,
                    "title": publication.title,
                    "length": publication.length,
                    "hash": publication.sha256,
                },
                {"rel": "status", "href": self.links.status(licence.id), "type": lcp.STATUS_TYPE},
            ],
            "user": {"id": licence.patron_id},
            "rights": {"print": self.rights[0], "copy": self.rights[1], "start": iso(licence.start),
                       "end": iso(licence.end)},
        }  # fmt: skip

    def signed(
        self, licence: Licence, publication: ProtectedPublication, secret: Passphrase, content_key: bytes
    ) -> bytes:
        """The signed licence, as the JSON bytes the patron downloads."""
        return self.signer.signed_json(self.body(licence, publication, secret, content_key))


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
