"""DRM's CPU work on one core: licences signed per second, protection throughput, streaming tokens.

- licences: what each licence costs beyond database reads: content key and key check encrypted with the user
  key, the canonical JSON signed with the provider's RSA-2048 key (as in production);
- protection: every corpus EPUB protected (encrypt + deflate), MB of input per second;
- streaming tokens: ES256 issue and verify (signature, claims) per second.
No peer runs here (Readium's LCP server is Go and not installable from the registries). The last lines are the
figures.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import httpx  # noqa: E402
from lcp_provider import ensure_lcp_files  # noqa: E402

from drm.adapters.packages import protect_epub  # noqa: E402
from drm.domain import lcp  # noqa: E402
from sachso.kit.auth import TokenIssuer, TokenVerifier  # noqa: E402
from tests.corpus import CORPUS as SHARED_CORPUS  # noqa: E402

CORPUS = SHARED_CORPUS / "epub"


def licences_per_second(folder: Path, seconds: float = 3.0) -> float:
    files = ensure_lcp_files(folder / "lcp")
    provider = lcp.Provider.from_pem(files.certificate.read_bytes(), files.key.read_bytes())
    user_key, content_key = lcp.user_key("mèo con"), os.urandom(32)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        licence_id = f"lic-{count}"
        body = {
            "id": licence_id,
            "issued": "2026-11-25T00:00:00Z",
            "provider": "https://sachso.vn",
            "encryption": {
                "profile": lcp.BASIC_PROFILE,
                "content_key": {
                    "algorithm": lcp.AES256_CBC,
                    "encrypted_value": lcp.b64(lcp.encrypt(user_key, content_key)),
                },
                "user_key": {
                    "algorithm": lcp.SHA256,
                    "text_hint": "?",
                    "key_check": lcp.b64(lcp.encrypt(user_key, licence_id.encode())),
                },
            },
            "links": [],
            "user": {"id": "p"},
            "rights": {"print": 10, "copy": 2000},
        }
        provider.sign(body)
        count += 1
    return count / (time.perf_counter() - started)


def protection_mb_per_second(folder: Path) -> float:
    total, started = 0, time.perf_counter()
    for book in sorted(CORPUS.glob("*.epub")):
        protect_epub(book, folder / "protected.epub", os.urandom(32))
        total += book.stat().st_size
    return total / 1e6 / (time.perf_counter() - started)


async def tokens_per_second(seconds: float = 2.0) -> tuple[float, float]:
    issuer = TokenIssuer.generate("sachso-drm")
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=issuer.jwks()))
    async with httpx.AsyncClient(transport=transport) as http:
        verifier = TokenVerifier(["http://drm/jwks"], issuers=[issuer.issuer], audience="sachso-streaming", http=http)
        tokens = []
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            tokens.append(issuer.issue("p", audience="sachso-streaming", pub="pub-1", loan="loan-1"))
        issued = len(tokens) / (time.perf_counter() - started)
        started = time.perf_counter()
        for token in tokens:
            await verifier.verify(token)
        verified = len(tokens) / (time.perf_counter() - started)
    return issued, verified


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sachso-bench-") as folder:
        licences = licences_per_second(Path(folder))
        protection = protection_mb_per_second(Path(folder))
    issued, verified = asyncio.run(tokens_per_second())
    print("DRM on one core:")
    print(f"  licences_signed_per_s: {licences:.0f}")
    print(f"  protection_mb_per_s: {protection:.1f}")
    print(f"  streaming_tokens_issued_per_s: {issued:.0f}")
    print(f"  streaming_tokens_verified_per_s: {verified:.0f}")


if __name__ == "__main__":
    main()
