"""Traces leave over OTLP/gRPC when an endpoint is configured (``*_OTLP_ENDPOINT``, the chart's
``observability.otlpEndpoint``), and only the sampled share of them.

A real OTLP/gRPC receiver runs in the test; a separate process (the tracer provider is process-wide, set once)
configures tracing as ``run_service`` does and serves one request through the kit's HTTP app.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

pytestmark = pytest.mark.integration

SERVICE_PROCESS = """
import asyncio, sys
import httpx
from fastapi import APIRouter
from opentelemetry import trace
from sachso.kit.http import create_http_app
from sachso.kit.observability import configure_tracing

configure_tracing("lending", otlp_endpoint=sys.argv[1], sample_ratio=float(sys.argv[2]))
app = create_http_app(title="t", version="1", readiness={})
router = APIRouter()

@router.get("/v1/titles/{title_id}")
async def title(title_id: str) -> dict[str, str]:
    return {"id": title_id}

app.include_router(router)

async def main() -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
        assert (await http.get("/v1/titles/kieu")).status_code == 200

asyncio.run(main())
trace.get_tracer_provider().shutdown()  # flushes the batch, as the process's exit does
"""


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps what it is sent, as an OpenTelemetry collector's OTLP/gRPC receiver would take it."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(  # the generated service names its methods so
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    server = grpc.aio.server()
    received = Collector()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(received, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield received, f"http://127.0.0.1:{port}"
    await server.stop(None)


async def serve_one_request(endpoint: str, sample_ratio: float) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SERVICE_PROCESS,
        endpoint,
        str(sample_ratio),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, output.decode()


async def test_spans_are_exported_to_the_configured_endpoint(collector: tuple[Collector, str]) -> None:
    received, endpoint = collector
    await serve_one_request(endpoint, 1.0)
    spans = [
        (resource_spans.resource, span)
        for request in received.requests
        for resource_spans in request.resource_spans
        for scope_spans in resource_spans.scope_spans
        for span in scope_spans.spans
    ]
    names = {span.name for _, span in spans}
    assert "GET /v1/titles/{title_id}" in names, names  # the route template, never the raw path
    resource, _ = spans[0]
    attributes = {attribute.key: attribute.value.string_value for attribute in resource.attributes}
    assert attributes["service.name"] == "lending"


async def test_unsampled_traces_are_not_exported(collector: tuple[Collector, str]) -> None:
    received, endpoint = collector
    await serve_one_request(endpoint, 0.0)
    assert received.requests == []
