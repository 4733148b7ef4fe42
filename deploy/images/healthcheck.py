"""Docker HEALTHCHECK of a service image: its HTTP /healthz answers 200 (Kubernetes uses the chart's probes)."""

from __future__ import annotations

import os
import sys
import urllib.request


def main() -> int:
    service = os.environ["SACHSO_SERVICE"]
    port = int(os.environ.get(f"{service.upper()}_HTTP_PORT", "8080"))
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return 0 if response.status == 200 else 1
    except OSError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
