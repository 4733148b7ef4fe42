"""What lending's routes depend on: who may call (as ``Annotated`` aliases, in the style of ``api/deps.py``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from lending.service_layer.staff import STAFF_ROLES
from sachso.kit.auth import Principal, Role
from sachso.kit.http import require_roles

Patron = Annotated[Principal, Depends(require_roles(Role.PATRON))]

Staff = Annotated[Principal, Depends(require_roles(*STAFF_ROLES))]

ProvinceAdmin = Annotated[Principal, Depends(require_roles(Role.PROVINCE_ADMIN))]
