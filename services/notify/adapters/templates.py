"""Notices in words: the Jinja2 templates under ``services/notify/templates``, one set per language.

Each kind has a text file (subject, summary, plain-text body) and an HTML file (autoescaped). Undefined
variables are errors, so a template and the facts a handler gives it cannot silently drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from notify.domain import wording
from notify.domain.notices import Language, NoticeKind, RenderedNotice
from sachso.kit.text import nfc

TEMPLATES_DIR = Path(__file__).resolve().parents[1] / "templates"
_SPACES = re.compile(r"\s+")


@pass_context
def _moment(context: Context, value: Any) -> str:
    return wording.moment(value, context["language"], context["time_zone"])


class TemplateRenderer:
    def __init__(self, *, web_url: str, directory: Path = TEMPLATES_DIR) -> None:
        self.web_url = web_url.rstrip("/")
        self.environment = Environment(
            loader=FileSystemLoader(directory, encoding="utf-8"),
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.environment.filters["moment"] = _moment

    def render(
        self,
        kind: NoticeKind,
        language: Language,
        facts: Mapping[str, Any],
        *,
        name: str = "",
        time_zone: ZoneInfo,
    ) -> RenderedNotice:
        """``kind`` in ``language`` with ``facts``; times are written in ``time_zone``."""
        variables = {**facts, "name": name, "web_url": self.web_url, "language": language, "time_zone": time_zone}
        text = self.environment.get_template(f"{language.value}/{kind.value}.txt.j2")
        subject = _one_line(text.render(variables, part="subject"))
        html = self.environment.get_template(f"{language.value}/{kind.value}.html.j2")
        return RenderedNotice(
            subject=subject,
            summary=_one_line(text.render(variables, part="summary")),
            text=wording.normalized(text.render(variables, part="body")) + "\n",
            html=nfc(html.render(variables, subject=subject)),
        )


def _one_line(text: str) -> str:
    return nfc(_SPACES.sub(" ", text).strip())
