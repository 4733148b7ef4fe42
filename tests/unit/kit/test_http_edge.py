"""The HTTP edge: problem details for every failure, health, readiness, metrics, bearer authentication."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI
from prometheus_client import REGISTRY
from pydantic import BaseModel

from sachso.kit.auth import Principal, Role, TokenIssuer, TokenVerifier
from sachso.kit.errors import NotFound
from sachso.kit.health import DependencyProbe
from sachso.kit.http import CurrentPrincipal, create_http_app, require_roles


class Payload(BaseModel):
    copies: int


async def healthy() -> None:
    return None


async def broken() -> None:
    raise ConnectionError("no route to database")


@pytest.fixture
def issuer() -> TokenIssuer:
    return TokenIssuer.generate("sachso-lending")


@pytest.fixture
def app(issuer: TokenIssuer) -> FastAPI:
    app = create_http_app(title="t", version="1", readiness={"mongodb": healthy, "kafka": broken})
    jwks = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=issuer.jwks())))
    app.state.token_verifier = TokenVerifier(
        ["http://issuer/jwks"], issuers=[issuer.issuer], audience="sachso", http=jwks
    )
    router = APIRouter()

    @router.get("/titles/{title_id}")
    async def title(title_id: str) -> dict[str, str]:
        raise NotFound(f"no title {title_id}", title_id=title_id)

    @router.post("/pools")
    async def pools(payload: Payload) -> dict[str, int]:
        return {"copies": payload.copies}

    @router.get("/crash")
    async def crash() -> None:
        raise RuntimeError("secret internals")

    @router.get("/me")
    async def me(principal: CurrentPrincipal) -> dict[str, str]:
        return {"subject": principal.subject}

    @router.get("/staff")
    async def staff(principal: Annotated[Principal, Depends(require_roles(Role.LIBRARIAN))]) -> dict[str, str]:
        return {"subject": principal.subject}

    app.include_router(router)
    return app


@pytest.fixture
async def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_service_error_is_problem_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/titles/t-9")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "https://sachso.vn/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no title t-9",
        "instance": "/titles/t-9",
        "title_id": "t-9",
    }


async def test_invalid_body_is_422_problem_naming_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/pools", json={"copies": "many"})
    assert response.status_code == 422
    body = response.json()
    assert body["type"].endswith("/invalid-input")
    assert body["errors"][0]["location"] == "body.copies"


async def test_unexpected_error_is_500_problem_without_traceback(client: httpx.AsyncClient) -> None:
    response = await client.get("/crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret internals" not in response.text
    assert "Traceback" not in response.text


async def test_unknown_route_is_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/nowhere")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_health_readiness_and_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["mongodb"] == "ok"
    assert "no route to database" in ready.json()["checks"]["kafka"]
    metrics = await client.get("/metrics/")
    assert metrics.status_code == 200
    assert "sachso_events_published_total" in metrics.text


async def test_bearer_authentication_and_roles(client: httpx.AsyncClient, issuer: TokenIssuer) -> None:
    missing = await client.get("/me")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["type"].endswith("/unauthenticated")

    patron = issuer.issue("patron-7", audience="sachso", roles=[Role.PATRON])
    headers = {"Authorization": f"Bearer {patron}"}
    assert (await client.get("/me", headers=headers)).json() == {"subject": "patron-7"}
    forbidden = await client.get("/staff", headers=headers)
    assert forbidden.status_code == 403
    assert forbidden.json()["type"].endswith("/forbidden")

    expired = issuer.issue("patron-7", audience="sachso", roles=[Role.PATRON], ttl_seconds=-30)
    response = await client.get("/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


async def test_a_failing_dependency_is_reported_and_measured_but_keeps_the_pod_ready() -> None:
    """Kafka or S3 down: /readyz stays 200 (the outbox keeps writes going), says so, and the gauge drops."""
    probe = DependencyProbe({"kafka": broken, "s3": healthy})
    await probe.probe_once()
    app = create_http_app(title="t", version="1", readiness={"mongodb": healthy}, dependencies=probe.snapshot)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["dependencies"]["s3"] == "ok"
        assert ready.json()["dependencies"]["kafka"].startswith("failing: ConnectionError")
        metrics = (await client.get("/metrics/")).text
    assert 'sachso_dependency_up{dependency="kafka"} 0.0' in metrics
    assert 'sachso_dependency_up{dependency="s3"} 1.0' in metrics


async def test_requests_are_counted_by_route_template_never_by_raw_path(client: httpx.AsyncClient) -> None:
    """A title id (or a streaming token) in the path must not become a metric series of its own."""
    template = {"method": "GET", "route": "/titles/{title_id}", "status": "404"}
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    before = REGISTRY.get_sample_value("sachso_http_requests_total", template) or 0.0
    before_unmatched = REGISTRY.get_sample_value("sachso_http_requests_total", unmatched) or 0.0
    for title_id in ("t-1", "t-2", "t-3"):
        assert (await client.get(f"/titles/{title_id}")).status_code == 404
    await client.get("/no/such/route")
    assert REGISTRY.get_sample_value("sachso_http_requests_total", template) == before + 3
    assert REGISTRY.get_sample_value("sachso_http_requests_total", unmatched) == before_unmatched + 1
    metrics = (await client.get("/metrics/")).text
    assert 'route="/titles/t-1"' not in metrics
    assert 'sachso_http_request_duration_seconds_bucket{le="0.005",method="GET",route="/titles/{title_id}"}' in metrics
