"""DRM's CPU work on one core: licences signed per second, protection throughput, streaming tokens.

- licences: the service's own code (``LicenceWriter.signed``: content key and key check encrypted with the user
  key, canonical JSON, RSA-2048 signature spliced in) against the limit, RSA-2048 PKCS#1 v1.5 signing alone of a
  licence's canonical bytes with the same key, measured alternately in the same run: median of 3 with the spread;
- protection: every corpus EPUB protected (encrypt + deflate), MB of input per second;
- streaming tokens: ES256 issue and verify (signature, claims) per second.
No peer runs here (Readium's LCP server is Go and not installable from the registries). The last lines are the
figures.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.corpus: run as documented, `python bench/bench_drm.py` from the checkout
sys.path.insert(0, str(ROOT / "deploy" / "local"))

import httpx  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding, rsa  # noqa: E402
from lcp_provider import ensure_lcp_files  # noqa: E402

from drm.adapters.packages import protect_epub  # noqa: E402
from drm.domain import lcp  # noqa: E402
from drm.domain.documents import LicenceWriter, Links, Passphrase, ProtectedPublication  # noqa: E402
from drm.domain.licences import Licence  # noqa: E402
from drm.domain.status import Status  # noqa: E402
from sachso.kit.auth import TokenIssuer, TokenVerifier  # noqa: E402
from tests.corpus import CORPUS as SHARED_CORPUS  # noqa: E402

CORPUS = SHARED_CORPUS / "epub"
REPETITIONS = 3
ISSUED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def alternately(first: Callable[[int], object], second: Callable[[int], object], seconds: float) -> tuple[float, float]:
    """Operations per CPU-second of each, run in alternating blocks of 50 for ``seconds`` of CPU in all.

    CPU time of this thread (``time.thread_time``), not wall time: the figure is per core, and other processes on
    a shared machine then change it little; alternating blocks expose both to the same machine state."""
    done, spent = [0, 0], [0.0, 0.0]
    while sum(spent) < seconds:
        for index, work in enumerate((first, second)):
            started = time.thread_time()
            for number in range(done[index], done[index] + 50):
                work(number)
            spent[index] += time.thread_time() - started
            done[index] += 50
    return done[0] / spent[0], done[1] / spent[1]


def licence_figures(folder: Path, seconds: float = 3.0) -> tuple[list[float], list[float]]:
    """Licences signed per CPU-second by our code, and raw RSA signatures per CPU-second, measured alternately."""
    files = ensure_lcp_files(folder / "lcp")
    provider = lcp.Provider.from_pem(files.certificate.read_bytes(), files.key.read_bytes())
    assert isinstance(provider.key, rsa.RSAPrivateKey)
    assert provider.key.key_size == 2048
    links = Links("https://drm.sachso.vn", "https://doc.sachso.vn")
    writer = LicenceWriter(provider, "https://sachso.vn", links, (10, 2000))
    secret = Passphrase(lcp.user_key("mèo con"), "con vật nhỏ trong nhà")
    publication = ProtectedPublication(
        "pub-1", "pub-1/ab.epub", "application/epub+zip", 1_234_567, "ab" * 32, "Truyện Kiều"
    )
    content_key = os.urandom(32)

    def licence(number: int) -> Licence:
        return Licence(
            f"lic-{number:08d}-6f1c-4d8e-9a0b", f"loan-{number}", Status.READY, ISSUED, ISSUED,
            patron_id="patron-0001", publication_id="pub-1", start=ISSUED, end=ISSUED + timedelta(days=14),
        )  # fmt: skip

    def ours(number: int) -> None:
        writer.signed(licence(number), publication, secret, content_key)

    sample = lcp.canonical(writer.body(licence(0), publication, secret, content_key))  # what one signature covers
    key, pkcs1, sha256 = provider.key, padding.PKCS1v15(), hashes.SHA256()

    def raw(number: int) -> None:
        key.sign(sample, pkcs1, sha256)

    lcp.verify_signature(json.loads(writer.signed(licence(1), publication, secret, content_key)))  # it is a licence
    ours_runs, raw_runs = [], []
    for _ in range(REPETITIONS):
        mine, limit = alternately(ours, raw, seconds)
        ours_runs.append(mine)
        raw_runs.append(limit)
    return ours_runs, raw_runs


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


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):,.0f}/s (spread {min(values):,.0f}–{max(values):,.0f})"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="sachso-bench-") as folder:
        ours, raw = licence_figures(Path(folder))
        protection = protection_mb_per_second(Path(folder))
    issued, verified = asyncio.run(tokens_per_second())
    ratios = [mine / limit for mine, limit in zip(ours, raw, strict=True)]
    print(f"DRM on one core (median of {REPETITIONS}, spread min–max):")
    print(f"  licences_signed_per_s: {spread(ours)}")
    print(f"  rsa2048_signatures_per_s (limit, same key, same run): {spread(raw)}")
    print(
        f"  licences_vs_raw_signing: {statistics.median(ratios):.0%} "
        f"(spread {min(ratios):.0%}–{max(ratios):.0%}; goal ≥ 80%)"
    )
    print(f"  protection_mb_per_s: {protection:.1f}")
    print(f"  streaming_tokens_issued_per_s: {issued:.0f}")
    print(f"  streaming_tokens_verified_per_s: {verified:.0f}")


if __name__ == "__main__":
    main()
