"""MARC21 bibliographic records of the e-book catalogue, built and read without I/O (pymarc's record model).

**Export** (:func:`title_record`): one record per title as an ILS's OPAC needs it to list and link the e-book, as
the Palace Project does for its libraries: 001/003/005 identity and time, 007/008 an online resource in its
language, 020 ISBN, 041 language, 100/700 authors, 245 title, 264 publisher, 300/336/337/338 one online resource,
506/540 who may read it and on what terms, 520 summary, 650 subjects, 856 the link to the title in the app. Text is
UTF-8 (leader/09 ``a``) and NFC. A title withdrawn or no longer licensed for a library is a deletion (leader/05 ``d``).

**Import** (:func:`imported_record`): what a record from a library's ILS (Vietbiblio, Koha, …) tells about a title —
control number (001 with 003), ISBNs, title, authors, language, publisher, subjects, summary — in NFC, or the reason
it is refused. :func:`enriched` fills what our title lacks without overwriting what publishers and staff wrote.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from pymarc import Field, Indicators, Record, Subfield

from lending.domain.search import nfc, normalize_isbn

# ISO 639-2/B (MARC) codes of the languages our catalogue meets most, by their BCP 47 primary subtag.
MARC_LANGUAGES = {
    "vi": "vie", "en": "eng", "fr": "fre", "zh": "chi", "ja": "jpn", "ko": "kor", "ru": "rus", "de": "ger",
    "es": "spa", "ar": "ara", "th": "tha", "km": "khm", "lo": "lao", "it": "ita", "pt": "por",
}  # fmt: skip
BCP47_LANGUAGES = {marc: bcp for bcp, marc in MARC_LANGUAGES.items()}
_TRAILING_PUNCTUATION = " /:;,=."


class RecordRefused(ValueError):
    """A record that cannot be imported, with the reason the report gives."""


@dataclass(frozen=True)
class CatalogueTitle:
    """A title of the catalogue as the exports need it."""

    id: str
    title: str
    subtitle: str = ""
    authors: tuple[str, ...] = ()
    language: str = "und"
    isbn: str = ""
    publisher: str = ""
    subjects: tuple[str, ...] = ()
    description: str = ""
    online_only: bool = False
    withdrawn: bool = False
    added_at: datetime | None = None
    changed_at: datetime | None = None
    local_document: bool = False  # a digitised local document (tài liệu địa chí), held by ``holding_library_ids``
    holding_library_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class ExportContext:
    """Who exports: the organisation code in 003, the app the 856 link opens, the library the record is for."""

    organisation: str
    web_app_url: str
    library_name: str


@dataclass(frozen=True)
class ImportedRecord:
    control_number: str  # "(003)001", or "" when the record has none
    isbns: tuple[str, ...]
    title: str
    subtitle: str = ""
    authors: tuple[str, ...] = ()
    language: str = ""
    publisher: str = ""
    subjects: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class TitleFields:
    """The editable metadata of a title (what staff and publishers write, what an import may fill in)."""

    title: str
    subtitle: str = ""
    authors: tuple[str, ...] = ()
    language: str = "und"
    isbn: str = ""
    publisher: str = ""
    subjects: tuple[str, ...] = ()
    description: str = ""
    changed: tuple[str, ...] = field(default=(), compare=False)


def marc_language(language: str) -> str:
    primary = language.split("-")[0].lower()
    return MARC_LANGUAGES.get(primary, primary if len(primary) == 3 else "und")


def bcp47_language(marc_code: str) -> str:
    code = marc_code.strip().lower()
    return BCP47_LANGUAGES.get(code, code if re.fullmatch(r"[a-z]{2,3}", code) and code != "und" else "")


def leader(status: str) -> str:
    """Language material (a), monograph (m), UTF-8 (a); pymarc fills the length and base address."""
    return f"00000{status}am a2200000ui 4500"


def title_record(title: CatalogueTitle, context: ExportContext, *, status: str = "c") -> Record:
    """The MARC21 record of ``title`` for one library's OPAC (``status``: n new, c changed, d deleted)."""
    record = Record(leader=leader(status), force_utf8=True)
    changed = title.changed_at or title.added_at
    entered = title.added_at or changed
    language = marc_language(title.language)
    record.add_field(Field(tag="001", data=title.id))
    record.add_field(Field(tag="003", data=context.organisation))
    if changed is not None:
        record.add_field(Field(tag="005", data=f"{changed:%Y%m%d%H%M%S}.{changed.microsecond // 100_000}"))
    record.add_field(Field(tag="007", data="cr |n|||||||||"))
    entered_on = f"{entered:%y%m%d}" if entered else "||||||"
    record.add_field(Field(tag="008", data=f"{entered_on}nuuuu    vm      o     000 u {language} d"))
    if title.isbn:
        record.add_field(_field("020", " ", " ", ("a", title.isbn)))
    record.add_field(_field("041", "0", " ", ("a", language)))
    authors = [nfc(author) for author in title.authors if author.strip()]
    if authors:
        record.add_field(_field("100", "1", " ", ("a", authors[0] + ","), ("e", "tác giả.")))
    main = [("a", nfc(title.title) + (" :" if title.subtitle else (" /" if authors else "")))]
    if title.subtitle:
        main.append(("b", nfc(title.subtitle) + (" /" if authors else "")))
    if authors:
        main.append(("c", ", ".join(authors) + "."))
    record.add_field(_field("245", "1" if authors else "0", "0", *main))
    if title.publisher:
        record.add_field(_field("264", " ", "1", ("b", nfc(title.publisher))))
    record.add_field(_field("300", " ", " ", ("a", "1 tài nguyên trực tuyến (1 online resource)")))
    record.add_field(_field("336", " ", " ", ("a", "text"), ("b", "txt"), ("2", "rdacontent")))
    record.add_field(_field("337", " ", " ", ("a", "computer"), ("b", "c"), ("2", "rdamedia")))
    record.add_field(_field("338", " ", " ", ("a", "online resource"), ("b", "cr"), ("2", "rdacarrier")))
    access = (
        "Chỉ đọc trực tuyến, cần thẻ bạn đọc (read online only, with a reader card)"
        if title.online_only
        else "Mượn bằng thẻ bạn đọc (borrow with a reader card)"
    )
    restriction = ("a", f"{access}: {nfc(context.library_name)}.")
    record.add_field(_field("506", "1", " ", restriction, ("f", "Online access with authorization"), ("2", "star")))
    if title.description:
        record.add_field(_field("520", " ", " ", ("a", nfc(title.description)[:9000])))
    record.add_field(_field("540", " ", " ", ("a", "Sách điện tử có bản quyền, cho mượn theo giấy phép của thư viện.")))
    for subject in title.subjects:
        record.add_field(_field("650", " ", "4", ("a", nfc(subject))))
    for author in authors[1:]:
        record.add_field(_field("700", "1", " ", ("a", author + ","), ("e", "tác giả.")))
    link = f"{context.web_app_url.rstrip('/')}/#/title/{title.id}"
    record.add_field(_field("856", "4", "0", ("u", link), ("z", "Mượn hoặc đọc trên Sách Số")))
    return record


def deleted_record(title_id: str, context: ExportContext, at: datetime) -> Record:
    """A deletion for the ILS: the title left this library's e-book catalogue."""
    record = Record(leader=leader("d"), force_utf8=True)
    record.add_field(Field(tag="001", data=title_id))
    record.add_field(Field(tag="003", data=context.organisation))
    record.add_field(Field(tag="005", data=f"{at:%Y%m%d%H%M%S}.0"))
    return record


def _field(tag: str, first: str, second: str, *subfields: tuple[str, str]) -> Field:
    return Field(
        tag=tag,
        indicators=Indicators(first, second),
        subfields=[Subfield(code, value) for code, value in subfields if value],
    )


# -- import ------------------------------------------------------------------------------------------------------


def imported_record(record: Record) -> ImportedRecord:
    """What an ILS's record tells about a title, in NFC; :class:`RecordRefused` with the reason otherwise."""
    for text in _all_text(record):
        if "\ufffd" in text or any(unicodedata.category(char) == "Cc" for char in text):
            raise RecordRefused("characters that are not valid in its declared encoding (MARC-8 or UTF-8)")
    title = _first(record, "245", "a")
    if not title:
        raise RecordRefused("no title (245 $a)")
    control = _control_field(record, "001")
    organisation = _control_field(record, "003")
    isbns = []
    for found in record.get_fields("020"):
        for value in found.get_subfields("a"):
            isbn = normalize_isbn(value.split(" ")[0].split("(")[0])
            if len(isbn) in (10, 13) and isbn not in isbns:
                isbns.append(isbn)
    authors = [
        _clean(value) for tag in ("100", "700") for f in record.get_fields(tag) for value in f.get_subfields("a")
    ]
    language = bcp47_language(_first(record, "041", "a"))
    fixed = _control_field(record, "008")
    if not language and len(fixed) >= 38:
        language = bcp47_language(fixed[35:38])
    publisher = _first(record, "264", "b") or _first(record, "260", "b")
    subjects = [
        _clean(" -- ".join(f.get_subfields("a", "x", "y", "z")))
        for f in record.get_fields("650", "651", "653")
        if f.get_subfields("a")
    ]
    return ImportedRecord(
        control_number=f"({organisation}){control}" if control and organisation else control,
        isbns=tuple(isbns),
        title=_clean(title),
        subtitle=_first(record, "245", "b"),
        authors=tuple(dict.fromkeys(author for author in authors if author)),
        language=language,
        publisher=publisher,
        subjects=tuple(dict.fromkeys(subject for subject in subjects if subject)),
        description=" ".join(nfc(text).strip() for f in record.get_fields("520") for text in f.get_subfields("a")),
    )


def enriched(existing: TitleFields, imported: ImportedRecord) -> TitleFields:
    """Our title with what it lacked filled in from the ILS (subjects are added to); ``changed`` names the fields."""
    changes: dict[str, object] = {}
    for name in ("subtitle", "publisher", "description"):
        if not getattr(existing, name) and getattr(imported, name):
            changes[name] = getattr(imported, name)
    if not existing.authors and imported.authors:
        changes["authors"] = imported.authors
    if existing.language in ("", "und") and imported.language:
        changes["language"] = imported.language
    if not existing.isbn and imported.isbns:
        changes["isbn"] = imported.isbns[0]
    subjects = tuple(dict.fromkeys((*existing.subjects, *imported.subjects)))
    if subjects != existing.subjects:
        changes["subjects"] = subjects
    merged = {**existing.__dict__, **changes, "changed": tuple(sorted(changes))}
    return TitleFields(**merged)


def _all_text(record: Record) -> list[str]:
    texts = []
    for found in record.fields:
        if found.is_control_field():
            texts.append(found.data or "")
        else:
            texts.extend(subfield.value for subfield in found.subfields)
    return texts


def _control_field(record: Record, tag: str) -> str:
    found = record.get_fields(tag)
    return (found[0].data or "").strip() if found else ""


def _first(record: Record, tag: str, code: str) -> str:
    for found in record.get_fields(tag):
        values = found.get_subfields(code)
        if values:
            return _clean(values[0])
    return ""


def _clean(text: str) -> str:
    """NFC, without the ISBD punctuation that ends a subfield."""
    return nfc(text).strip().rstrip(_TRAILING_PUNCTUATION).strip()
