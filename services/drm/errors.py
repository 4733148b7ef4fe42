"""DRM's one exception base and the failures its rules and use cases raise.

Each error says what went wrong in DRM's terms; its HTTP status and gRPC code come from the kit class it also
derives from, and the edges (the kit's FastAPI handlers and gRPC interceptor) turn it into problem details or a
status code — nothing below the entrypoints formats an error.
"""

from __future__ import annotations

from sachso.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, PreconditionFailed, ServiceError

# License Status Document errors are typed by the LSD specification, not by our problem registry.
LSD_ERROR_BASE = "http://readium.org/license-status-document/error/"


class DrmError(ServiceError):
    problem = "drm-error"


class LicenceNotFound(NotFound, DrmError):
    problem = "licence-not-found"
    title = "No such licence"


class LicenceEnded(Conflict, DrmError):
    problem = "licence-ended"
    title = "This licence has ended"


class PassphraseMissing(PreconditionFailed, DrmError):
    problem = "lcp-passphrase-missing"
    title = "Set your reading passphrase first"


class PassphraseRefused(InvalidInput, DrmError):
    """A passphrase too short, or a hint that gives it away."""


class OnlineOnly(Forbidden, DrmError):
    problem = "online-only"
    title = "This document is lent for reading online only"


class PatronBlocked(Forbidden, DrmError):
    problem = "card-blocked"
    title = "This reader card is blocked; please contact your library"


class PublicationNotReady(PreconditionFailed, DrmError):
    """A licence asked for before the book's protected package exists."""


class ProtectedPublicationNotFound(NotFound, DrmError):
    """No protected package (or no content key) for this publication."""


class StatusRequestRefused(Conflict, DrmError):
    """A register/renew/return the status document cannot grant, typed as the LSD specification says."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind

    @property
    def type_uri(self) -> str:
        return LSD_ERROR_BASE + self.kind
