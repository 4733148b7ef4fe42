"""Every notice renders in both languages from the template files: subject, summary, text and HTML."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from notify import preview
from notify.adapters.email import OutgoingEmail, compose
from notify.adapters.templates import TEMPLATES_DIR, TemplateRenderer
from notify.domain.notices import Language, NoticeKind
from notify.domain.preferences import zone

RENDERER = TemplateRenderer(web_url="https://sachso.example.vn/")
HCM = zone("Asia/Ho_Chi_Minh")
CASES = [(kind, language) for kind in NoticeKind for language in Language]


@pytest.mark.parametrize(("kind", "language"), CASES, ids=[f"{k.value}-{lang.value}" for k, lang in CASES])
def test_every_kind_renders_in_both_languages(kind: NoticeKind, language: Language) -> None:
    rendered = preview.render_sample(kind, language, renderer=RENDERER)
    for part in (rendered.subject, rendered.summary, rendered.text, rendered.html):
        assert part.strip()
        assert unicodedata.is_normalized("NFC", part)
    assert "\n" not in rendered.subject
    assert "\n" not in rendered.summary
    assert len(rendered.subject) < 120
    greeting = "Chào Nguyễn Thị Ánh," if language is Language.VI else "Hello Nguyễn Thị Ánh,"
    assert rendered.text.startswith(greeting)
    assert greeting in rendered.html
    assert rendered.html.startswith("<!DOCTYPE html>")
    assert f'<html lang="{language.value}">' in rendered.html
    assert "https://sachso.example.vn/settings/notifications" in rendered.text or kind in {
        NoticeKind.EMAIL_VERIFICATION,
        NoticeKind.CARD_REJECTED,
    }
    facts = preview.sample_facts(kind)
    if "title" in facts:
        assert "Dế Mèn phiêu lưu ký" in rendered.subject + rendered.summary
        assert "Dế Mèn phiêu lưu ký" in rendered.text
    if "code" in facts:
        assert facts["code"] in rendered.subject
        assert facts["code"] in rendered.text
        assert facts["code"] in rendered.html


def test_vietnamese_and_english_say_different_things() -> None:
    vi = preview.render_sample(NoticeKind.HOLD_READY, Language.VI, renderer=RENDERER)
    en = preview.render_sample(NoticeKind.HOLD_READY, Language.EN, renderer=RENDERER)
    assert vi.subject == "Sách bạn chờ đã sẵn sàng: Dế Mèn phiêu lưu ký"
    assert en.subject == "Your hold is ready: Dế Mèn phiêu lưu ký"


def test_the_deadline_is_written_in_the_patrons_time_zone_and_language() -> None:
    ready_until = datetime(2025, 3, 9, 7, 30, tzinfo=UTC)  # 14:30 in Hồ Chí Minh City
    facts = {"title": "Truyện Kiều", "ready_until": ready_until}
    vi = RENDERER.render(NoticeKind.HOLD_READY, Language.VI, facts, name="Lan", time_zone=HCM)
    en = RENDERER.render(NoticeKind.HOLD_READY, Language.EN, facts, name="Lan", time_zone=zone("Europe/London"))
    assert "14:30 ngày 09/03/2025" in vi.summary
    assert "14:30 ngày 09/03/2025" in vi.text
    assert "07:30 on 9 March 2025" in en.summary


def test_card_approved_keeps_the_words_the_inbox_always_had() -> None:
    rendered = RENDERER.render(
        NoticeKind.CARD_APPROVED,
        Language.VI,
        {"card_number": "DL-000123", "card_expires_at": None},
        name="Nguyễn Thị Ánh",
        time_zone=HCM,
    )
    assert rendered.subject == "Thẻ bạn đọc đã được duyệt"
    assert rendered.summary == (
        "Chào Nguyễn Thị Ánh, thẻ bạn đọc số DL-000123 của bạn đã được duyệt. "
        "Bạn có thể mượn sách điện tử ngay bây giờ."
    )


def test_a_title_notify_has_not_heard_of_gets_words_instead() -> None:
    facts = {"title": None, "due_at": datetime(2025, 3, 9, tzinfo=UTC)}
    vi = RENDERER.render(NoticeKind.LOAN_DUE_SOON, Language.VI, facts, time_zone=HCM)
    en = RENDERER.render(NoticeKind.LOAN_DUE_SOON, Language.EN, facts, time_zone=HCM)
    assert vi.subject == "Sắp đến hạn trả: Cuốn sách bạn mượn"
    assert en.subject == "Due soon: The book you borrowed"
    assert vi.text.startswith("Chào bạn,")  # no name known either


def test_html_escapes_what_patrons_and_publishers_wrote() -> None:
    facts = {"title": "<script>alert(1)</script> & Co", "ready_until": datetime(2025, 3, 9, tzinfo=UTC)}
    rendered = RENDERER.render(NoticeKind.HOLD_READY, Language.EN, facts, name="<b>Eve</b>", time_zone=HCM)
    assert "<script>" not in rendered.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in rendered.html
    assert "&lt;b&gt;Eve&lt;/b&gt;" in rendered.html
    assert "<script>alert(1)</script> & Co" in rendered.text  # plain text is not HTML


def test_decomposed_input_comes_out_composed() -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Du")
    facts = {"title": decomposed, "ready_until": datetime(2025, 3, 9, tzinfo=UTC)}
    rendered = RENDERER.render(NoticeKind.HOLD_READY, Language.VI, facts, name=decomposed, time_zone=HCM)
    assert "Nguyễn Du" in rendered.subject
    assert unicodedata.is_normalized("NFC", rendered.text)


def test_a_missing_fact_is_an_error_not_a_blank() -> None:
    with pytest.raises(Exception, match="ready_until"):
        RENDERER.render(NoticeKind.HOLD_READY, Language.VI, {"title": "X"}, time_zone=HCM)


def test_template_files_are_utf8_nfc_and_cover_every_kind() -> None:
    files = sorted(Path(TEMPLATES_DIR).rglob("*.j2"))
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert unicodedata.is_normalized("NFC", text), path
    names = {str(path.relative_to(TEMPLATES_DIR)) for path in files}
    for kind, language in CASES:
        assert f"{language.value}/{kind.value}.txt.j2" in names
        assert f"{language.value}/{kind.value}.html.j2" in names


def test_the_email_is_multipart_alternative_with_an_encoded_vietnamese_subject() -> None:
    rendered = preview.render_sample(NoticeKind.HOLD_READY, Language.VI, renderer=RENDERER)
    email = OutgoingEmail(
        "evt-1:email", "lan@example.vn", "Trần Thị Lan", "vi", rendered.subject, rendered.text, rendered.html
    )
    raw = compose(email, sender="Sách Số <no-reply@sachso.vn>", now=datetime(2025, 3, 6, tzinfo=UTC))
    assert raw.isascii()  # every header RFC 2047 encoded, every part transfer-encoded
    assert b"Subject: =?utf-8?" in raw
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed["Subject"] == rendered.subject
    assert parsed["To"].addresses[0].display_name == "Trần Thị Lan"
    assert parsed["Message-ID"] == "<evt-1.email@sachso.vn>"
    assert parsed["Content-Language"] == "vi"
    plain, html = parsed.iter_parts()
    assert plain.get_content_type() == "text/plain"
    assert html.get_content_type() == "text/html"
    assert plain.get_content().replace("\r\n", "\n") == rendered.text
    assert "Dế Mèn phiêu lưu ký" in html.get_content()


@pytest.mark.parametrize("kind", [kind.value for kind in NoticeKind])
def test_the_preview_command_prints_every_kind(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main([kind, "--lang", "en"]) == 0
    printed = capsys.readouterr().out
    assert "===== subject =====" in printed
    assert "===== html =====" in printed


def test_the_preview_command_prints_the_mime_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert preview.main(["email-verification", "--lang", "vi", "--mime"]) == 0
    printed = capsys.readouterr().out
    assert "Content-Type: multipart/alternative" in printed
    assert "Subject: =?utf-8?" in printed


def test_sample_deadlines_lie_ahead_of_the_sample_time() -> None:
    for kind in NoticeKind:
        for value in preview.sample_facts(kind).values():
            if isinstance(value, datetime):
                assert value >= preview.SAMPLE_NOW - timedelta(seconds=1)
