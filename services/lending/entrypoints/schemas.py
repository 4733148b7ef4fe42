"""The shapes of lending's REST API: what routes accept and answer (pydantic), and their small conversions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from pydantic import BaseModel, EmailStr, Field, field_validator

from lending.domain.availability import Availability, Shelf
from lending.domain.licensing import LicenseModel
from lending.domain.network import Library, LibraryKind, Sharing
from lending.domain.patrons import CardStatus
from lending.domain.titles import unlendable_reason
from lending.service_layer.cards import TokenPair
from lending.service_layer.catalogue import TitleMetadata
from lending.service_layer.circulation import HoldView, Loan
from sachso.kit.auth import Role
from sachso.kit.errors import InvalidInput


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str | None
    token_type: str
    expires_in: int

    @classmethod
    def of(cls, pair: TokenPair) -> TokenOut:
        return cls(
            access_token=pair.access_token,
            refresh_token=pair.refresh_token or None,
            token_type=pair.token_type,
            expires_in=pair.expires_in,
        )


class CardSignIn(BaseModel):
    card_number: str = Field(min_length=3, max_length=40)
    pin: str = Field(min_length=4, max_length=8)


class RefreshIn(BaseModel):
    refresh_token: str = Field(min_length=20, max_length=200)


class StaffSignIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=200)


class PublisherSignIn(BaseModel):
    publisher_id: str = Field(min_length=1, max_length=100)
    secret: str = Field(min_length=1, max_length=200)


class ApplicationIn(BaseModel):
    library_id: str = Field(min_length=1, max_length=100)
    display_name: str = Field(min_length=1, max_length=200)
    email: EmailStr
    pin: str = Field(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits")
    preferred_language: str = Field("vi", pattern=r"^(vi|en)$")


class ApplicationOut(BaseModel):
    application_id: str
    status: CardStatus


class VerifyIn(BaseModel):
    code: str = Field(pattern=r"^\s*[0-9]{6}\s*$")


class DecisionIn(BaseModel):
    reason: str = Field("", max_length=500)


class PatronOut(BaseModel):
    id: str
    library_id: str
    display_name: str
    email: str
    preferred_language: str
    status: CardStatus
    card_number: str | None
    card_expires_at: datetime | None


class LibraryIn(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    kind: LibraryKind
    parent_id: str | None = None
    code: str = Field(pattern=r"^[A-Za-z]{2,6}$", description="card number prefix")
    auto_approve_cards: bool = False
    loan_periods_days: list[int] = Field(default_factory=lambda: [7, 14, 21], min_length=1, max_length=10)
    max_loans: int = Field(5, ge=1, le=100)
    max_holds: int = Field(5, ge=0, le=100)
    max_renewals: int = Field(2, ge=0, le=20)
    hold_window_hours: int = Field(72, ge=1, le=24 * 30)


class LibraryOut(BaseModel):
    id: str
    name: str
    kind: LibraryKind
    parent_id: str | None

    @classmethod
    def of(cls, library: Library) -> LibraryOut:
        return cls(id=library.id, name=library.name, kind=library.kind, parent_id=library.parent_id)


class TitleIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    subtitle: str = ""
    authors: list[str] = Field(default_factory=list, max_length=50)
    language: str = Field("vi", max_length=35)
    isbn: str = Field("", max_length=20)
    publisher: str = ""
    subjects: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=10_000)


class AvailabilityOut(BaseModel):
    copies: int | None = Field(description="readers at once the licences serving you allow; null: unlimited")
    available: int | None = Field(description="copies free now; null: unlimited")
    holds: int = Field(description="holds waiting for a copy")
    state: Shelf = Field(description="available (a copy is free), wait (every copy is out) or none (no licence)")
    wait_days: int | None = Field(None, description="for 'wait': about how many days a hold placed now waits")

    @classmethod
    def of(cls, availability: Availability) -> AvailabilityOut:
        return cls(**availability.__dict__)


class TitleOut(BaseModel):
    id: str
    publication_id: str | None
    title: str
    subtitle: str
    authors: list[str]
    language: str
    isbn: str
    subjects: list[str]
    library_ids: list[str]
    online_only: bool = False
    format: str = Field("", description="the file's format: epub, pdf (empty: no file yet)")
    open_access: bool = Field(False, description="anyone reads it without a card or a loan (POST …/open-reading)")
    local_document: bool = Field(False, description="a scanned local document (IIIF manifest, OCR text)")
    lendable: bool = Field(True, description="whether a patron may borrow (or hold) it at all")
    unlendable_reason: str | None = Field(
        None, description="why not: 'no-readable-publication' (no file ingested yet) or 'withdrawn'"
    )
    availability: AvailabilityOut | None = Field(
        None, description="in search results and with ?library=: whether it can be borrowed now"
    )

    @classmethod
    def of(cls, document: dict[str, Any]) -> TitleOut:
        reason = unlendable_reason(
            document.get("publication_id"), document.get("readable"), bool(document.get("withdrawn"))
        )
        return cls(
            id=document["_id"],
            publication_id=document.get("publication_id"),
            title=document.get("title", ""),
            subtitle=document.get("subtitle", ""),
            authors=document.get("authors", []),
            language=document.get("language", ""),
            isbn=document.get("isbn", ""),
            subjects=document.get("subjects", []),
            library_ids=document.get("library_ids", []),
            online_only=bool(document.get("online_only")),
            format=document.get("format", ""),
            open_access=bool(document.get("open_access")),
            local_document=bool(document.get("local_document")),
            lendable=reason is None,
            unlendable_reason=reason,
        )


class TitleDetailOut(TitleOut):
    description: str


class SearchOut(BaseModel):
    items: list[TitleOut]
    total: int
    page: int
    size: int
    facets: dict[str, dict[str, int]]


class LicenseIn(BaseModel):
    owner_library_id: str
    model: LicenseModel
    concurrency: int | None = Field(1, ge=1)
    checkouts: int | None = Field(None, ge=1)
    expires_at: datetime | None = None
    sharing: Sharing = Sharing.SUBTREE

    @field_validator("expires_at")
    @classmethod
    def aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("expires_at needs a time zone")
        return value


class LicenseOut(BaseModel):
    id: str
    title_id: str
    owner_library_id: str
    model: LicenseModel
    concurrency: int | None
    checkouts_left: int | None
    expires_at: datetime | None
    sharing: Sharing


class CheckoutIn(BaseModel):
    title_id: str = Field(min_length=1, max_length=100)
    period: timedelta | None = Field(None, description="ISO 8601 duration (P14D) within the library's policy")


class LoanOut(BaseModel):
    id: str
    title_id: str
    publication_id: str
    library_id: str
    starts_at: datetime
    due_at: datetime
    renewals: int
    status: str
    ended_at: datetime | None

    @classmethod
    def of(cls, loan: Loan) -> LoanOut:
        return cls(
            id=loan.id,
            title_id=loan.title_id,
            publication_id=loan.publication_id,
            library_id=loan.library_id,
            starts_at=loan.starts_at,
            due_at=loan.due_at,
            renewals=loan.renewals,
            status=loan.status,
            ended_at=loan.ended_at,
        )


class StaffLoanOut(LoanOut):
    """A loan as the library's staff see it: with the book's title and who borrowed it."""

    title: str
    borrower_name: str
    borrower_card: str | None


class PinChangeIn(BaseModel):
    current_pin: str = Field(min_length=1, max_length=64)
    new_pin: str = Field(pattern=r"^[0-9]{4,8}$", description="4 to 8 digits")


class HoldIn(BaseModel):
    title_id: str = Field(min_length=1, max_length=100)
    auto_checkout: bool = False


class SuspendIn(BaseModel):
    days: int = Field(ge=1, le=365)


class HoldOut(BaseModel):
    id: str
    title_id: str
    state: str
    position: int
    estimated_wait_days: float | None
    placed_at: datetime
    ready_until: datetime | None
    suspended_until: datetime | None
    auto_checkout: bool

    @classmethod
    def of(cls, view: HoldView) -> HoldOut:
        wait = view.estimated_wait
        return cls(
            id=view.hold.id,
            title_id=view.hold.title_id,
            state=view.hold.state.value,
            position=view.position,
            estimated_wait_days=None if wait is None else round(wait / timedelta(days=1), 1),
            placed_at=view.hold.placed_at,
            ready_until=view.hold.ready_until,
            suspended_until=view.hold.suspended_until,
            auto_checkout=view.hold.auto_checkout,
        )


class ReportRowOut(BaseModel):
    month: str
    library_id: str
    title_id: str | None
    title: str | None
    loans: int
    holds: int
    unique_borrowers: int
    turnaways: int


def month_window(first: str, last: str) -> tuple[datetime, datetime]:
    """[start of ``first``, start of the month after ``last``) in Vietnam's time, as UTC instants."""
    vietnam = timezone(timedelta(hours=7))
    start = datetime.strptime(first, "%Y-%m").replace(tzinfo=vietnam)
    year, month = map(int, last.split("-"))
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    end = datetime(year, month, 1, tzinfo=vietnam)
    if end <= start:
        raise InvalidInput("'to' must not be before 'from'")
    return start.astimezone(UTC), end.astimezone(UTC)


class StaffIn(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9._-]{3,64}$")
    password: str = Field(min_length=12, max_length=200)
    role: Role
    library_id: str


class OnlineOnlyIn(BaseModel):
    online_only: bool


class PublisherIn(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")
    name: str = Field(min_length=1, max_length=200)
    secret: str = Field(min_length=24, max_length=200)


def title_metadata(body: TitleIn) -> TitleMetadata:
    return TitleMetadata(
        title=body.title,
        authors=tuple(body.authors),
        subtitle=body.subtitle,
        language=body.language,
        isbn=body.isbn,
        publisher=body.publisher,
        subjects=tuple(body.subjects),
        description=body.description,
    )
