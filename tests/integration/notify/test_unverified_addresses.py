"""A verification code goes to an address nobody has proven yet: the message carries nothing the applicant typed,
so card applications cannot be used to send strangers words of someone's choosing (issue 12, item 6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sachso.events.v1 import lending_events_pb2 as lending
from tests.integration.notify.conftest import Notify
from tests.integration.notify.test_notifications import stamp, unique

pytestmark = pytest.mark.integration
SPAM = "Trúng thưởng 100 triệu tại evil.example"


async def test_a_verification_email_carries_no_applicant_text(notify: Notify) -> None:
    patron_id, email = unique("applicant"), f"{unique('victim')}@example.vn"
    await notify.publish(
        lending.PatronRegistered(
            patron_id=patron_id, library_id="daklak", display_name=SPAM, email=email, preferred_language="vi"
        ),
        key=patron_id,
    )
    await notify.publish(
        lending.EmailVerificationRequested(
            patron_id=patron_id,
            email=email,
            code="402913",
            expires_at=stamp(datetime.now(UTC) + timedelta(minutes=15)),
            preferred_language="vi",
            display_name=SPAM,
        ),
        key=patron_id,
    )
    (mail,) = await notify.wait_for_mail(email)
    assert "402913" in str(mail["Subject"])
    assert "evil.example" not in str(mail["To"])
    for part in mail.walk():
        if part.get_content_maintype() == "text":
            text = part.get_content()
            assert "evil.example" not in text
            assert "Trúng thưởng" not in text
            assert "Chào bạn" in text
