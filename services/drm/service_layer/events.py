"""The events DRM publishes (``sachso.events.v1.drm_events``), built from the domain's values."""

from __future__ import annotations

from datetime import datetime

from google.protobuf.timestamp_pb2 import Timestamp

from drm.domain.documents import ProtectedPublication
from drm.domain.licences import Licence
from drm.domain.status import Status
from sachso.events.v1 import drm_events_pb2, reader_events_pb2
from sachso.kit.events import OutboundEvent
from sachso.kit.topics import DRM_EVENTS


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def status_changed(licence: Licence, status: Status, now: datetime, device_id: str = "") -> OutboundEvent:
    return OutboundEvent(
        topic=DRM_EVENTS.name,
        key=licence.loan_id,
        subject=licence.id,
        payload=drm_events_pb2.LicenseStatusChanged(
            license_id=licence.id,
            loan_id=licence.loan_id,
            status=drm_events_pb2.LicenseStatus.Value(f"LICENSE_STATUS_{status.name}"),
            device_id=device_id,
            changed_at=_stamp(now),
        ),
    )


def licence_issued(licence: Licence) -> OutboundEvent:
    assert licence.end is not None
    return OutboundEvent(
        topic=DRM_EVENTS.name,
        key=licence.loan_id,
        subject=licence.id,
        payload=drm_events_pb2.LicenseIssued(
            license_id=licence.id,
            loan_id=licence.loan_id,
            patron_id=licence.patron_id or "",
            publication_id=licence.publication_id or "",
            ends_at=_stamp(licence.end),
        ),
    )


def licence_returned(licence: Licence, device_id: str, now: datetime) -> OutboundEvent:
    return OutboundEvent(
        topic=DRM_EVENTS.name,
        key=licence.loan_id,
        subject=licence.id,
        payload=drm_events_pb2.LicenseReturned(
            license_id=licence.id, loan_id=licence.loan_id, device_id=device_id, returned_at=_stamp(now)
        ),
    )


def publication_protected(publication: ProtectedPublication, bucket: str) -> OutboundEvent:
    assert publication.protected_at is not None
    return OutboundEvent(
        topic=DRM_EVENTS.name,
        key=publication.id,
        subject=publication.id,
        payload=drm_events_pb2.PublicationProtected(
            publication_id=publication.id,
            protected=reader_events_pb2.StoredFile(
                bucket=bucket,
                key=publication.key,
                media_type=publication.media_type,
                length=publication.length,
                sha256=publication.sha256,
            ),
            content_key_id=publication.content_key_id,
            protected_at=_stamp(publication.protected_at),
        ),
    )
