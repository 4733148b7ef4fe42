"""What the reader service refuses; the kit maps these to problem details and gRPC codes."""

from __future__ import annotations

from sachso.kit.errors import Conflict, Forbidden, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType


class UnsupportedFormat(UnsupportedMediaType):
    problem = "unsupported-publication-format"
    title = "Only EPUB and PDF files are accepted"


class UnreadableFile(InvalidInput):
    problem = "unreadable-publication"
    title = "The file cannot be read as the publication it claims to be"


class UnsafeFile(InvalidInput):
    problem = "unsafe-publication"
    title = "The file was refused because it is unsafe to open"


class DrmProtectedFile(InvalidInput):
    problem = "drm-protected-publication"
    title = "The file is DRM-protected; send the unprotected file (Sách Số protects it for lending itself)"


class FileTooLarge(PayloadTooLarge):
    problem = "publication-too-large"
    title = "The file is larger than the ingest limit"


class PublicationNotFound(NotFound):
    problem = "publication-not-found"
    title = "No such publication"


class ResourceNotFound(NotFound):
    problem = "resource-not-found"
    title = "No such resource in this publication"


class FileAlreadyPublished(Conflict):
    problem = "file-already-published"
    title = "This file is already another of your publications"


class IngestRace(Conflict):
    problem = "ingest-in-progress"
    title = "The same file is being ingested at this moment"


class ReadOnlineOnly(Forbidden):
    problem = "read-online-only"
    title = "This document is read online only"


class PublicationWithdrawn(Conflict):
    problem = "publication-withdrawn"
    title = "This publication has been withdrawn"


class ResourceLocked(Conflict):
    problem = "resource-locked"
    title = "This resource is encrypted and cannot be opened here"
