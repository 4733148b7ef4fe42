"""Where the shared corpus lives: ``../shared/corpus`` next to the checkout; SACHSO_CORPUS overrides it."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("SACHSO_CORPUS") or ROOT.parent / "shared" / "corpus")
