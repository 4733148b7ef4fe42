"""Lending's REST API: sign-in, card applications, catalogue, loans and holds, staff tasks.

One router per resource in :mod:`lending.entrypoints.routes`, the shapes in :mod:`lending.entrypoints.schemas`
and who may call in :mod:`lending.entrypoints.dependencies`. Edges only translate: each route checks who calls,
calls the service layer and shapes the answer. A patron only ever sees her own loans and holds (someone else's
id answers 404); staff act only on libraries they manage.
"""

from __future__ import annotations

from lending.entrypoints.routes.auth import auth_router
from lending.entrypoints.routes.cards import cards_router
from lending.entrypoints.routes.catalogue import catalogue_router
from lending.entrypoints.routes.circulation import circulation_router
from lending.entrypoints.routes.libraries import libraries_router
from lending.entrypoints.routes.reports import reports_router
from lending.entrypoints.routes.staff import staff_router

__all__ = [
    "auth_router",
    "cards_router",
    "catalogue_router",
    "circulation_router",
    "libraries_router",
    "reports_router",
    "staff_router",
]
