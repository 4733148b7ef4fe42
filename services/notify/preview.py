"""Preview a notice as patrons get it, with sample data: ``python -m notify.preview hold-ready --lang vi``.

Prints the subject, the summary (inbox and Web Push), the plain-text and the HTML email; ``--part`` picks one,
``--mime`` prints the whole email exactly as it goes to the SMTP server.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from notify.adapters.email import OutgoingEmail, compose
from notify.adapters.templates import TemplateRenderer
from notify.domain.notices import Language, NoticeKind, RenderedNotice
from notify.domain.preferences import DEFAULT_TIME_ZONE, zone

SAMPLE_NAME = "Nguyễn Thị Ánh"
SAMPLE_TITLE = "Dế Mèn phiêu lưu ký"
SAMPLE_NOW = datetime(2025, 3, 6, 7, 30, tzinfo=UTC)


def sample_facts(kind: NoticeKind, now: datetime = SAMPLE_NOW) -> dict[str, Any]:
    """Plausible facts for ``kind``: what its handler gives the templates."""
    samples: dict[NoticeKind, dict[str, Any]] = {
        NoticeKind.EMAIL_VERIFICATION: {"code": "482913", "expires_at": now + timedelta(minutes=30)},
        NoticeKind.CARD_APPROVED: {"card_number": "DL-000123", "card_expires_at": now + timedelta(days=365)},
        NoticeKind.CARD_REJECTED: {"reason": "Ảnh căn cước không rõ; vui lòng gửi lại."},
        NoticeKind.HOLD_READY: {"title": SAMPLE_TITLE, "ready_until": now + timedelta(hours=72)},
        NoticeKind.HOLD_LAPSING: {"title": SAMPLE_TITLE, "ready_until": now + timedelta(hours=24)},
        NoticeKind.HOLD_EXPIRED: {"title": SAMPLE_TITLE},
        NoticeKind.LOAN_DUE_SOON: {"title": SAMPLE_TITLE, "due_at": now + timedelta(days=2)},
        NoticeKind.LOAN_ENDED: {"title": SAMPLE_TITLE, "reason": "expired"},
        NoticeKind.LICENSE_REVOKED: {
            "title": SAMPLE_TITLE,
            "reason": "Nhà xuất bản rút giấy phép phân phối.",
            "revoked_at": now,
        },
    }
    return samples[kind]


def render_sample(
    kind: NoticeKind,
    language: Language,
    *,
    time_zone: str = DEFAULT_TIME_ZONE,
    web_url: str = "https://sachso.example.vn",
    renderer: TemplateRenderer | None = None,
) -> RenderedNotice:
    renderer = renderer or TemplateRenderer(web_url=web_url)
    return renderer.render(kind, language, sample_facts(kind), name=SAMPLE_NAME, time_zone=zone(time_zone))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notify.preview", description=__doc__.split("\n")[0])
    parser.add_argument("kind", choices=[kind.value for kind in NoticeKind])
    parser.add_argument("--lang", choices=[language.value for language in Language], default=Language.VI.value)
    parser.add_argument("--part", choices=("all", "subject", "summary", "text", "html"), default="all")
    parser.add_argument("--mime", action="store_true", help="print the whole email as sent over SMTP")
    parser.add_argument("--time-zone", default=DEFAULT_TIME_ZONE)
    parser.add_argument("--web-url", default="https://sachso.example.vn")
    args = parser.parse_args(argv)
    kind, language = NoticeKind(args.kind), Language(args.lang)
    rendered = render_sample(kind, language, time_zone=args.time_zone, web_url=args.web_url)
    if args.mime:
        email = OutgoingEmail(
            delivery_id=f"preview:{kind.value}:email",
            to_address="anh.nguyen@example.vn",
            to_name=SAMPLE_NAME,
            language=language.value,
            subject=rendered.subject,
            text=rendered.text,
            html=rendered.html,
        )
        message = compose(email, sender="Sách Số <no-reply@sachso.example.vn>", now=SAMPLE_NOW)
        sys.stdout.write(message.decode("ascii").replace("\r\n", "\n"))
        return 0
    parts = {"subject": rendered.subject, "summary": rendered.summary, "text": rendered.text, "html": rendered.html}
    if args.part != "all":
        print(parts[args.part])
        return 0
    for name, value in parts.items():
        print(f"===== {name} =====")
        print(value.rstrip("\n"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
