"""Validate IIIF Presentation 3.0 manifests (JSON files given as arguments) with iiif-prezi3's models.

Prints one line per file and exits 1 if any does not validate. Runs in tools/iiif's own virtualenv.
"""

import json
import sys

from iiif_prezi3 import Manifest
from pydantic import ValidationError

failed = False
for name in sys.argv[1:]:
    with open(name, encoding="utf-8") as source:
        data = json.load(source)
    try:
        manifest = Manifest(**data)
    except ValidationError as error:
        failed = True
        print(f"{name}: INVALID {error}")
        continue
    print(f"{name}: valid, {len(manifest.items)} canvases")
sys.exit(1 if failed else 0)
