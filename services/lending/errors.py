"""What lending refuses: every error derives from :class:`LendingError`. The domain and service layer raise these;
only the edges (the kit's HTTP and gRPC layers) turn them into problem details and gRPC status codes."""

from __future__ import annotations

from typing import Any

from sachso.kit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    ServiceError,
    TooManyRequests,
    Unauthenticated,
)


class LendingError(ServiceError):
    """Base of lending's refusals (each also derives from the kit class that fixes its HTTP status and gRPC code)."""


class SignInFailed(LendingError, Unauthenticated):
    problem = "sign-in-failed"
    title = "Card number or PIN is wrong"


class SignInLocked(LendingError, TooManyRequests):
    """Too many attempts from this client, or on this credential from unknown clients (429, ``Retry-After``)."""

    problem = "sign-in-locked"
    title = "Too many sign-in attempts; try again later"


class ApplicationsThrottled(LendingError, TooManyRequests):
    problem = "too-many-applications"
    title = "Too many card applications; try again later"


class IdempotencyKeyInvalid(LendingError, InvalidInput):
    problem = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


class IdempotencyKeyReused(LendingError, InvalidInput):
    status = 422  # draft-ietf-httpapi-idempotency-key-header: a key reused for another request
    problem = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


class InvalidNetwork(LendingError, InvalidInput):
    problem = "invalid-library-network"
    title = "The library network does not allow this"


class LoanPeriodNotAllowed(LendingError, InvalidInput):
    problem = "loan-period-not-allowed"
    title = "The library does not lend for this period"


class NoCopyAvailable(LendingError, PreconditionFailed):
    problem = "no-copy-available"
    title = "No copy is available; place a hold"

    def __init__(self, detail: str, *, library_id: str | None = None, **extensions: Any) -> None:
        super().__init__(detail, **extensions)
        self.library_id = library_id  # the refused patron's library, for the turn-away (not shown to her)


class TitleNotLendable(LendingError, PreconditionFailed):
    problem = "title-not-lendable"
    title = "This title cannot be borrowed: the library has no readable file of it yet"


class LoanLimitReached(LendingError, PreconditionFailed):
    problem = "loan-limit-reached"
    title = "You have as many loans as your library allows"


class HoldLimitReached(LendingError, PreconditionFailed):
    problem = "hold-limit-reached"
    title = "You have as many holds as your library allows"


class AlreadyBorrowed(LendingError, Conflict):
    problem = "already-borrowed"
    title = "You already have this title on loan"


class AlreadyOnHold(LendingError, Conflict):
    problem = "already-on-hold"
    title = "You already have a hold on this title"


class HoldNotNeeded(LendingError, PreconditionFailed):
    problem = "hold-not-needed"
    title = "A copy is available now; borrow it instead"


class RenewalRefused(LendingError, PreconditionFailed):
    problem = "renewal-refused"
    title = "This loan cannot be renewed"


class LoanNotActive(LendingError, PreconditionFailed):
    problem = "loan-not-active"
    title = "This loan has ended"


class CardCannotBorrow(LendingError, Forbidden):
    problem = "card-cannot-borrow"
    title = "Your reader card does not allow borrowing"


class CardBlocked(LendingError, Forbidden):
    problem = "card-blocked"
    title = "This reader card is blocked; please contact your library"


class CardStateError(LendingError, PreconditionFailed):
    problem = "card-state"
    title = "The reader card is not in a state that allows this"


class TitleNotFound(LendingError, NotFound):
    problem = "title-not-found"
    title = "No such title"


class PublicationOwnerMismatch(LendingError, Conflict):
    problem = "publication-owner-mismatch"
    title = "This publication belongs to another publisher"


class LoanNotFound(LendingError, NotFound):
    problem = "loan-not-found"
    title = "No such loan"


class HoldNotFound(LendingError, NotFound):
    problem = "hold-not-found"
    title = "No such hold"


class LibraryNotFound(LendingError, NotFound):
    problem = "library-not-found"
    title = "No such library"


class ApplicationNotFound(LendingError, NotFound):
    problem = "card-application-not-found"
    title = "No such card application"


class ApplicationStateError(LendingError, PreconditionFailed):
    problem = "card-application-state"
    title = "The card application is not in a state that allows this"


class VerificationFailed(LendingError, InvalidInput):
    problem = "verification-code-invalid"
    title = "The verification code is wrong or has expired"


class DuplicateRegistration(LendingError, Conflict):
    problem = "duplicate-registration"
    title = "This email already has a card or an application at this library"


class InvalidLicenseTerms(LendingError, InvalidInput):
    problem = "invalid-license-terms"
    title = "These licence terms are not valid"


class IlsNotConfigured(LendingError, NotFound):
    problem = "ils-not-configured"
    title = "This library does not sign patrons in through its own system"


class CardBlockedInIls(LendingError, Forbidden):
    problem = "card-blocked-in-ils"
    title = "The library's own system refuses this card"


class CurrentPinWrong(LendingError, InvalidInput):
    problem = "current-pin-wrong"
    title = "The current PIN is wrong"


class TitleIsOnlineOnly(LendingError, Conflict):
    problem = "title-online-only"
    title = "A read-online-only title cannot be opened to everyone"


class TitleIsOpen(LendingError, Conflict):
    problem = "title-open"
    title = "A title open to everyone cannot be marked read online only"


class LocalDocumentAccess(LendingError, Conflict):
    problem = "local-document-access"
    title = "A local document's access is set in its description in the reader"


class TitleNotOpen(LendingError, Conflict):
    problem = "title-not-open"
    title = "This title is not open to everyone: borrow it to read it"
