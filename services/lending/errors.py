"""Lending's exception base; the kit maps its subclasses to problem details and gRPC codes."""

from sachso.kit.errors import ServiceError


class LendingError(ServiceError):
    problem = "lending-error"
