"""What lending refuses. The domain raises these; the kit maps them to problem details and gRPC codes."""

from __future__ import annotations

from sachso.kit.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    TooManyRequests,
    Unauthenticated,
)


class SignInFailed(Unauthenticated):
    problem = "sign-in-failed"
    title = "Card number or PIN is wrong"


class SignInLocked(TooManyRequests):
    """Too many attempts from this client, or on this credential from unknown clients (429, ``Retry-After``)."""

    problem = "sign-in-locked"
    title = "Too many sign-in attempts; try again later"


class ApplicationsThrottled(TooManyRequests):
    problem = "too-many-applications"
    title = "Too many card applications; try again later"


class IdempotencyKeyInvalid(InvalidInput):
    problem = "idempotency-key-invalid"
    title = "The Idempotency-Key header is not valid"


class IdempotencyKeyReused(InvalidInput):
    status = 422  # draft-ietf-httpapi-idempotency-key-header: a key reused for another request
    problem = "idempotency-key-reused"
    title = "This Idempotency-Key was used for a different request"


class InvalidNetwork(InvalidInput):
    problem = "invalid-library-network"
    title = "The library network does not allow this"


class LoanPeriodNotAllowed(InvalidInput):
    problem = "loan-period-not-allowed"
    title = "The library does not lend for this period"


class NoCopyAvailable(PreconditionFailed):
    problem = "no-copy-available"
    title = "No copy is available; place a hold"


class TitleNotLendable(PreconditionFailed):
    problem = "title-not-lendable"
    title = "This title cannot be borrowed: the library has no readable file of it yet"


class LoanLimitReached(PreconditionFailed):
    problem = "loan-limit-reached"
    title = "You have as many loans as your library allows"


class HoldLimitReached(PreconditionFailed):
    problem = "hold-limit-reached"
    title = "You have as many holds as your library allows"


class AlreadyBorrowed(Conflict):
    problem = "already-borrowed"
    title = "You already have this title on loan"


class AlreadyOnHold(Conflict):
    problem = "already-on-hold"
    title = "You already have a hold on this title"


class HoldNotNeeded(PreconditionFailed):
    problem = "hold-not-needed"
    title = "A copy is available now; borrow it instead"


class RenewalRefused(PreconditionFailed):
    problem = "renewal-refused"
    title = "This loan cannot be renewed"


class LoanNotActive(PreconditionFailed):
    problem = "loan-not-active"
    title = "This loan has ended"


class CardCannotBorrow(Forbidden):
    problem = "card-cannot-borrow"
    title = "Your reader card does not allow borrowing"


class CardBlocked(Forbidden):
    problem = "card-blocked"
    title = "This reader card is blocked; please contact your library"


class CardStateError(PreconditionFailed):
    problem = "card-state"
    title = "The reader card is not in a state that allows this"


class TitleNotFound(NotFound):
    problem = "title-not-found"
    title = "No such title"


class PublicationOwnerMismatch(Conflict):
    problem = "publication-owner-mismatch"
    title = "This publication belongs to another publisher"


class LoanNotFound(NotFound):
    problem = "loan-not-found"
    title = "No such loan"


class HoldNotFound(NotFound):
    problem = "hold-not-found"
    title = "No such hold"


class LibraryNotFound(NotFound):
    problem = "library-not-found"
    title = "No such library"


class ApplicationNotFound(NotFound):
    problem = "card-application-not-found"
    title = "No such card application"


class ApplicationStateError(PreconditionFailed):
    problem = "card-application-state"
    title = "The card application is not in a state that allows this"


class VerificationFailed(InvalidInput):
    problem = "verification-code-invalid"
    title = "The verification code is wrong or has expired"


class DuplicateRegistration(Conflict):
    problem = "duplicate-registration"
    title = "This email already has a card or an application at this library"


class InvalidLicenseTerms(InvalidInput):
    problem = "invalid-license-terms"
    title = "These licence terms are not valid"


class IlsNotConfigured(NotFound):
    problem = "ils-not-configured"
    title = "This library does not sign patrons in through its own system"


class CardBlockedInIls(Forbidden):
    problem = "card-blocked-in-ils"
    title = "The library's own system refuses this card"


class CurrentPinWrong(InvalidInput):
    problem = "current-pin-wrong"
    title = "The current PIN is wrong"
