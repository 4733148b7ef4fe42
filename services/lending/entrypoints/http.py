"""Lending's REST API: sign-in, card applications, catalogue, loans and holds, staff tasks.

Edges only translate: each route checks who calls, calls the service layer and shapes the answer. A patron only
ever sees her own loans and holds (someone else's id answers 404); staff act only on libraries they manage.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response
from pydantic import BaseModel, EmailStr, Field, field_validator

from lending.adapters.repositories import loan_from
from lending.adapters.store import LendingStore, patron_from
from lending.domain.licensing import LicenseModel, LicenseTerms
from lending.domain.network import Library, LibraryKind, Sharing
from lending.domain.patrons import CardStatus
from lending.domain.policy import LendingPolicy
from lending.domain.titles import unlendable_reason
from lending.service_layer.cards import Cards, TokenPair
from lending.service_layer.catalogue import Catalogue, TitleMetadata
from lending.service_layer.circulation import Circulation, HoldView, Loan
from lending.service_layer.reports import Reports, to_csv
from lending.service_layer.staff import STAFF_ROLES, Accounts, ensure_may_curate_title, ensure_may_manage, may_manage
from sachso.kit.auth import Principal, Role
from sachso.kit.errors import Conflict, Forbidden, InvalidInput, NotFound
from sachso.kit.http import ClientAddress, require_roles

Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]
Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]
ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]


# -- shapes ----------------------------------------------------------------------------------------------------


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


class TitleIn(BaseModel):
    title: str = Field(min_length=1, max_length=500)
    subtitle: str = ""
    authors: list[str] = Field(default_factory=list, max_length=50)
    language: str = Field("vi", max_length=35)
    isbn: str = Field("", max_length=20)
    publisher: str = ""
    subjects: list[str] = Field(default_factory=list, max_length=50)
    description: str = Field("", max_length=10_000)


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
    lendable: bool = Field(True, description="whether a patron may borrow (or hold) it at all")
    unlendable_reason: str | None = Field(
        None, description="why not: 'no-readable-publication' (no file ingested yet) or 'withdrawn'"
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
            lendable=reason is None,
            unlendable_reason=reason,
        )


class AvailabilityOut(BaseModel):
    copies: int | None = Field(description="readers at once the licences serving you allow; null: unlimited")
    available: int | None
    holds: int


class TitleDetailOut(TitleOut):
    description: str
    availability: AvailabilityOut | None = None


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


# -- routers ---------------------------------------------------------------------------------------------------


def auth_router(cards: Cards, accounts: Accounts) -> APIRouter:
    router = APIRouter(prefix="/v1/auth", tags=["sign-in"])

    @router.post("/token", summary="Sign in with reader card number and PIN")
    async def card_token(body: CardSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await cards.sign_in(body.card_number, body.pin, client))

    @router.post("/refresh", summary="Trade a refresh token for a new pair (single use)")
    async def refresh(body: RefreshIn) -> TokenOut:
        return TokenOut.of(await cards.refresh(body.refresh_token))

    @router.post("/staff-token", summary="Sign in as library staff")
    async def staff_token(body: StaffSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await accounts.staff_sign_in(body.username, body.password, client))

    @router.post("/publisher-token", summary="Client credentials for a publisher's ingest API access")
    async def publisher_token(body: PublisherSignIn, client: ClientAddress) -> TokenOut:
        return TokenOut.of(await accounts.publisher_sign_in(body.publisher_id, body.secret, client))

    return router


def cards_router(cards: Cards, store: LendingStore) -> APIRouter:
    router = APIRouter(tags=["reader cards"])

    @router.post("/v1/card-applications", status_code=201, summary="Apply for a reader card remotely")
    async def apply(body: ApplicationIn, client: ClientAddress) -> ApplicationOut:
        application = await cards.apply(
            library_id=body.library_id,
            display_name=body.display_name,
            email=body.email,
            pin=body.pin,
            preferred_language=body.preferred_language,
            client=client,
        )
        return ApplicationOut(application_id=application.patron_id, status=application.status)

    @router.post("/v1/card-applications/{application_id}/verify", summary="Verify the email with the emailed code")
    async def verify(application_id: str, body: VerifyIn) -> ApplicationOut:
        application = await cards.verify_email(application_id, body.code)
        return ApplicationOut(application_id=application.patron_id, status=application.status)

    @router.get("/v1/me", summary="My reader card")
    async def me(patron: Patron) -> PatronOut:
        found = await store.patron(patron.subject)
        if found is None:
            raise NotFound("no reader card for this account")
        return PatronOut.model_validate(found, from_attributes=True)

    @router.put("/v1/me/pin", status_code=204, summary="Change my PIN (my other devices must sign in again)")
    async def change_pin(patron: Patron, body: PinChangeIn) -> Response:
        await cards.change_pin(patron.subject, body.current_pin, body.new_pin)
        return Response(status_code=204)

    @router.post("/v1/me/sign-out-everywhere", status_code=204, summary="End my sessions on every device")
    async def sign_out_everywhere(patron: Patron) -> Response:
        await cards.sign_out_everywhere(patron.subject)
        return Response(status_code=204)

    @router.get("/v1/libraries/{library_id}/card-applications", summary="Applications waiting for this library")
    async def pending(
        staff: Staff, library_id: str, status: CardStatus = CardStatus.PENDING_APPROVAL
    ) -> list[PatronOut]:
        ensure_may_manage(staff, library_id, await store.network())
        cursor = store.patrons.find({"library_id": library_id, "status": status.value}).sort("applied_at", 1)
        return [PatronOut.model_validate(patron_from(doc), from_attributes=True) async for doc in cursor]

    async def decide(staff: Principal, library_id: str, application_id: str, approve: bool, reason: str) -> PatronOut:
        ensure_may_manage(staff, library_id, await store.network())
        applicant = await store.patron(application_id)
        if applicant is None or applicant.library_id != library_id:
            raise NotFound(f"library {library_id} has no application {application_id}")
        decided = await cards.decide(application_id, approve=approve, reason=reason)
        return PatronOut.model_validate(decided, from_attributes=True)

    @router.post("/v1/libraries/{library_id}/card-applications/{application_id}/approve")
    async def approve(staff: Staff, library_id: str, application_id: str) -> PatronOut:
        return await decide(staff, library_id, application_id, True, "")

    @router.post("/v1/libraries/{library_id}/card-applications/{application_id}/reject")
    async def reject(staff: Staff, library_id: str, application_id: str, body: DecisionIn) -> PatronOut:
        return await decide(staff, library_id, application_id, False, body.reason)

    return router


def libraries_router(store: LendingStore) -> APIRouter:
    router = APIRouter(prefix="/v1/libraries", tags=["libraries"])

    @router.get("", summary="The libraries of the network")
    async def libraries() -> list[LibraryOut]:
        cursor = store.libraries.find({}).sort("_id", 1)
        return [
            LibraryOut(id=d["_id"], name=d["name"], kind=d["kind"], parent_id=d.get("parent_id")) async for d in cursor
        ]

    @router.post("", status_code=201, summary="Add a library to the network (province admin)")
    async def add(_: ProvinceAdmin, body: LibraryIn) -> LibraryOut:
        library = Library(body.id, body.name, body.kind, body.parent_id, body.auto_approve_cards, body.code.upper())
        network = await store.network()
        if body.id in network:
            raise Conflict(f"library {body.id} exists")
        network.with_library(library)  # refuses a library that does not fit the tree
        policy = LendingPolicy(
            loan_periods=tuple(timedelta(days=days) for days in sorted(set(body.loan_periods_days))),
            max_loans=body.max_loans,
            max_holds=body.max_holds,
            max_renewals=body.max_renewals,
            hold_window=timedelta(hours=body.hold_window_hours),
        )
        await store.add_library(library, body.code, policy)
        return LibraryOut(id=library.id, name=library.name, kind=library.kind, parent_id=library.parent_id)

    return router


def catalogue_router(catalogue: Catalogue, store: LendingStore) -> APIRouter:
    router = APIRouter(prefix="/v1/titles", tags=["catalogue"])

    @router.get("", summary="Search the catalogue (diacritics optional)")
    async def search(
        q: Annotated[str, Query(max_length=200)] = "",
        language: Annotated[str | None, Query(max_length=35)] = None,
        library: Annotated[str | None, Query(max_length=100)] = None,
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
        size: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> SearchOut:
        found = await catalogue.search(q, language=language, library_id=library, page=page, size=size)
        return SearchOut(
            items=[TitleOut.of(item) for item in found.items],
            total=found.total,
            page=found.page,
            size=found.size,
            facets=found.facets,
        )

    @router.get("/{title_id}", summary="One title; with your token, its availability for you")
    async def title(title_id: str, library: Annotated[str | None, Query(max_length=100)] = None) -> TitleDetailOut:
        document = await catalogue.title(title_id)
        detail = TitleDetailOut(**TitleOut.of(document).model_dump(), description=document.get("description", ""))
        if library:
            availability = await catalogue.availability(title_id, library)
            detail.availability = AvailabilityOut(**availability.__dict__)
        return detail

    @router.post("", status_code=201, summary="Add a title by hand (staff; their library looks after it)")
    async def add(staff: Staff, body: TitleIn) -> TitleOut:
        title_id = await catalogue.add_title(_metadata(body), added_by_library_id=staff.library_id)
        return TitleOut.of(await catalogue.title(title_id))

    @router.post("/{title_id}/licenses", status_code=201, summary="Record a licence a library acquired")
    async def add_license(staff: Staff, title_id: str, body: LicenseIn) -> LicenseOut:
        ensure_may_manage(staff, body.owner_library_id, await store.network())
        terms = LicenseTerms(body.model, body.concurrency, body.checkouts, body.expires_at)
        license_ = await catalogue.add_license(title_id, body.owner_library_id, terms, body.sharing)
        return LicenseOut(
            id=license_.id,
            title_id=title_id,
            owner_library_id=license_.owner_id,
            model=terms.model,
            concurrency=terms.concurrency,
            checkouts_left=license_.checkouts_left,
            expires_at=terms.expires_at,
            sharing=license_.sharing,
        )

    return router


def circulation_router(circulation: Circulation, store: LendingStore) -> APIRouter:
    router = APIRouter(tags=["loans and holds"])

    @router.get("/v1/loans", summary="My loans")
    async def my_loans(patron: Patron, include_ended: bool = False) -> list[LoanOut]:
        return [LoanOut.of(loan) for loan in await circulation.loans_of(patron.subject, active_only=not include_ended)]

    @router.post(
        "/v1/loans",
        status_code=201,
        summary="Borrow a title (send an Idempotency-Key to retry safely: the same key never lends twice)",
    )
    async def checkout(
        patron: Patron,
        body: CheckoutIn,
        response: Response,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=255)] = None,
    ) -> LoanOut:
        done = await circulation.checkout_once(patron.subject, body.title_id, body.period, idempotency_key)
        if done.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        return LoanOut.of(done.loan)

    @router.post("/v1/loans/{loan_id}/renew", summary="Renew my loan")
    async def renew(patron: Patron, loan_id: str) -> LoanOut:
        return LoanOut.of(await circulation.renew(loan_id, patron.subject))

    @router.post("/v1/loans/{loan_id}/return", summary="Return my loan early")
    async def give_back(patron: Patron, loan_id: str) -> LoanOut:
        return LoanOut.of(await circulation.return_loan(loan_id, patron.subject))

    @router.get("/v1/holds", summary="My holds, with position and estimated wait")
    async def my_holds(patron: Patron) -> list[HoldOut]:
        return [HoldOut.of(view) for view in await circulation.holds_of(patron.subject)]

    @router.post("/v1/holds", status_code=201, summary="Join a title's queue")
    async def place(patron: Patron, body: HoldIn) -> HoldOut:
        return HoldOut.of(await circulation.place_hold(patron.subject, body.title_id, auto_checkout=body.auto_checkout))

    @router.delete("/v1/holds/{hold_id}", status_code=204, summary="Leave the queue")
    async def cancel(patron: Patron, hold_id: str) -> Response:
        await circulation.cancel_hold(hold_id, patron.subject)
        return Response(status_code=204)

    @router.post("/v1/holds/{hold_id}/suspend", summary="Keep my place but skip me for some days")
    async def suspend(patron: Patron, hold_id: str, body: SuspendIn) -> HoldOut:
        until = circulation.clock() + timedelta(days=body.days)
        return HoldOut.of(await circulation.suspend_hold(hold_id, patron.subject, until))

    @router.post("/v1/holds/{hold_id}/resume", summary="End a suspension")
    async def resume(patron: Patron, hold_id: str) -> HoldOut:
        return HoldOut.of(await circulation.suspend_hold(hold_id, patron.subject, None))

    @router.get("/v1/libraries/{library_id}/loans", summary="A library's loans, with title and borrower (staff)")
    async def library_loans(
        staff: Staff, library_id: str, status: Annotated[str, Query(pattern="^(active|returned|expired)$")] = "active"
    ) -> list[StaffLoanOut]:
        ensure_may_manage(staff, library_id, await store.network())
        cursor = store.loans.find({"library_id": library_id, "status": status}).sort("starts_at", -1).limit(500)
        loans = [loan_from(document) async for document in cursor]
        borrowers = await store.patrons_by_id([loan.patron_id for loan in loans])
        titles = await store.title_names([loan.title_id for loan in loans])
        return [
            StaffLoanOut(
                **LoanOut.of(loan).model_dump(),
                title=titles.get(loan.title_id, ""),
                borrower_name=borrowers[loan.patron_id].display_name if loan.patron_id in borrowers else "",
                borrower_card=borrowers[loan.patron_id].card_number if loan.patron_id in borrowers else None,
            )
            for loan in loans
        ]

    return router


class ReportRowOut(BaseModel):
    month: str
    library_id: str
    title_id: str | None
    title: str | None
    loans: int
    holds: int
    unique_borrowers: int
    turnaways: int


def reports_router(reports: Reports, store: LendingStore) -> APIRouter:
    router = APIRouter(prefix="/v1/reports", tags=["reports"])

    @router.get(
        "/circulation",
        summary="Loans, holds, unique borrowers and turnaways per month and library (or title); CSV with format=csv",
        response_model=list[ReportRowOut],
    )
    async def circulation(
        staff: Staff,
        library: Annotated[str, Query(max_length=100, description="the library; admins get its sub-libraries too")],
        start: Annotated[str, Query(alias="from", pattern=r"^\d{4}-\d{2}$", description="first month, YYYY-MM")],
        end: Annotated[str, Query(alias="to", pattern=r"^\d{4}-\d{2}$", description="last month, YYYY-MM")],
        by: Annotated[str, Query(pattern="^(library|title)$")] = "library",
        format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
        lang: Annotated[str, Query(pattern="^(en|vi)$", description="CSV headers: ids (en) or Vietnamese")] = "en",
    ) -> Response | list[ReportRowOut]:
        network = await store.network()
        ensure_may_manage(staff, library, network)
        admin = staff.has_any_role(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN)
        libraries = network.subtree(library) if admin else [library]
        window_start, window_end = month_window(start, end)
        rows = await reports.circulation(libraries, window_start, window_end, by_title=by == "title")
        if format == "csv":
            filename = f"sachso-{library}-{start}-{end}.csv"
            return Response(
                to_csv(rows, by_title=by == "title", language=lang, library_names=await store.library_names()),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{filename}"'},
            )
        return [
            ReportRowOut(**{**row.__dict__, "title_id": row.title_id or None, "title": row.title or None})
            for row in rows
        ]

    return router


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


def staff_router(
    accounts: Accounts, cards: Cards, catalogue: Catalogue, circulation: Circulation, store: LendingStore
) -> APIRouter:
    router = APIRouter(tags=["staff"])

    @router.post("/v1/staff", status_code=201, summary="Create a staff account in a library you administer")
    async def create_staff(admin: Staff, body: StaffIn) -> dict[str, str]:
        if not admin.has_any_role(Role.LIBRARY_ADMIN, Role.PROVINCE_ADMIN):
            raise Forbidden("only library and province admins create staff accounts")
        if body.role is Role.PROVINCE_ADMIN and Role.PROVINCE_ADMIN not in admin.roles:
            raise Forbidden("only a province admin creates province admins")
        ensure_may_manage(admin, body.library_id, await store.network())
        staff_id = await accounts.create_staff(
            username=body.username, password=body.password, role=body.role, library_id=body.library_id
        )
        return {"id": staff_id, "username": body.username}

    @router.get("/v1/staff/me/libraries", summary="The libraries I may manage (my library, and below it for admins)")
    async def my_libraries(staff: Staff) -> list[LibraryOut]:
        network = await store.network()
        cursor = store.libraries.find({}).sort("_id", 1)
        return [
            LibraryOut(id=d["_id"], name=d["name"], kind=d["kind"], parent_id=d.get("parent_id"))
            async for d in cursor
            if may_manage(staff, d["_id"], network)
        ]

    @router.post("/v1/publishers", status_code=201, summary="Register a publisher for the ingest API")
    async def create_publisher(_: ProvinceAdmin, body: PublisherIn) -> dict[str, str]:
        return {"id": await accounts.create_publisher(name=body.name, secret=body.secret, publisher_id=body.id)}

    async def managed_patron(staff: Principal, library_id: str, patron_id: str) -> None:
        ensure_may_manage(staff, library_id, await store.network())
        patron = await store.patron(patron_id)
        if patron is None or patron.library_id != library_id:
            raise NotFound(f"library {library_id} has no patron {patron_id}")

    @router.post("/v1/libraries/{library_id}/patrons/{patron_id}/renew-card", summary="Extend a reader card")
    async def renew_card(staff: Staff, library_id: str, patron_id: str) -> PatronOut:
        await managed_patron(staff, library_id, patron_id)
        return PatronOut.model_validate(await cards.renew_card(patron_id), from_attributes=True)

    @router.post(
        "/v1/libraries/{library_id}/patrons/{patron_id}/block",
        status_code=204,
        summary="Block a card: sign-in and reading stop, loans are returned, holds wait skipped",
    )
    async def block(staff: Staff, library_id: str, patron_id: str) -> Response:
        await managed_patron(staff, library_id, patron_id)
        await circulation.block_card(patron_id)
        return Response(status_code=204)

    @router.post("/v1/libraries/{library_id}/patrons/{patron_id}/unblock", status_code=204, summary="Unblock")
    async def unblock(staff: Staff, library_id: str, patron_id: str) -> Response:
        await managed_patron(staff, library_id, patron_id)
        await circulation.unblock_card(patron_id)
        return Response(status_code=204)

    async def curated_title(staff: Principal, title_id: str) -> None:
        ensure_may_curate_title(staff, await catalogue.title(title_id), await store.network())

    @router.put(
        "/v1/titles/{title_id}/online-only",
        summary="Lend a rare document for online reading only (staff managing every library that holds it)",
    )
    async def online_only(staff: Staff, title_id: str, body: OnlineOnlyIn) -> TitleOut:
        await curated_title(staff, title_id)
        await catalogue.set_online_only(title_id, body.online_only)
        return TitleOut.of(await catalogue.title(title_id))

    @router.put("/v1/titles/{title_id}", summary="Correct a title's metadata (staff managing every library holding it)")
    async def edit_title(staff: Staff, title_id: str, body: TitleIn) -> TitleOut:
        await curated_title(staff, title_id)
        await catalogue.edit_title(title_id, _metadata(body))
        return TitleOut.of(await catalogue.title(title_id))

    return router


def _metadata(body: TitleIn) -> TitleMetadata:
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
