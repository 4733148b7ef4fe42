"""JSON logs that carry the trace id, OpenTelemetry context propagation, and Prometheus metrics.

The correlation id of a request is its OpenTelemetry trace id: HTTP and gRPC edges continue the caller's
W3C ``traceparent`` (instrumentation libraries), the outbox stores the writer's context with each event and
the relay sends it as Kafka headers, and consumers continue it — so one id follows a request across HTTP,
gRPC and Kafka and appears on every log line.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Metric names and labels are a contract with deploy/k8s/sachso/monitoring (alerts, dashboards):
# tests/k8s/test_monitoring.py checks every name those use is defined here or by a service.
EVENTS_PUBLISHED = Counter("sachso_events_published_total", "Events published by the outbox relay", ["topic"])
EVENTS_HANDLED = Counter("sachso_events_handled_total", "Events handled by consumers", ["group", "type", "outcome"])
EVENTS_DEAD_LETTERED = Counter("sachso_events_dead_lettered_total", "Events sent to a dead-letter topic", ["group"])
OUTBOX_PENDING = Gauge("sachso_outbox_pending", "Events written but not yet published", ["service"])
OUTBOX_OLDEST_AGE = Gauge(
    "sachso_outbox_oldest_pending_age_seconds", "How long the oldest unpublished event has waited", ["service"]
)
EVENT_HANDLING_SECONDS = Histogram("sachso_event_handling_seconds", "Time to handle one event", ["group"])
CONSUMER_LAG = Gauge(
    "sachso_consumer_lag", "Records behind the end of the log, over this pod's partitions", ["group", "topic"]
)
# Requests by route template (never the raw path: tokens and ids would make every request a new series).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
HTTP_REQUESTS = Counter("sachso_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "sachso_http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"],
    buckets=LATENCY_BUCKETS,
)  # fmt: skip
GRPC_REQUESTS = Counter("sachso_grpc_requests_total", "gRPC calls answered", ["method", "code"])
GRPC_DURATION = Histogram(
    "sachso_grpc_request_duration_seconds", "Time to answer a gRPC call", ["method"], buckets=LATENCY_BUCKETS
)


class _TraceContextFilter(logging.Filter):
    """Adds the current trace and span ids (the correlation id) and the service name to every record."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        span_context = trace.get_current_span().get_span_context()
        record.service = self.service
        if span_context.is_valid:
            record.trace_id = format(span_context.trace_id, "032x")
            record.span_id = format(span_context.span_id, "016x")
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    """Send JSON lines to stderr for the whole process (uvicorn, aiokafka and ours alike)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(
            "{levelname}{name}{message}",
            style="{",
            timestamp="time",  # ISO 8601 in UTC
            rename_fields={"levelname": "level", "name": "logger"},
        )
    )
    handler.addFilter(_TraceContextFilter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("aiokafka", "pymongo", "botocore", "aiobotocore"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def configure_tracing(service: str, *, otlp_endpoint: str = "", sample_ratio: float = 1.0) -> None:
    """Install an SDK tracer provider: every request gets a trace id (it correlates the logs), ``sample_ratio`` of
    traces are recorded (parent-based: a caller's decision is kept, so a trace is whole or absent), and recorded
    spans go to ``otlp_endpoint`` (OTLP/gRPC, e.g. ``http://otel-collector.monitoring:4317``) when one is set."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_endpoint, insecure=otlp_endpoint.startswith("http://"))
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)


class RequestMetricsMiddleware:
    """Counts and times every HTTP request by method, route template and status (``/v1/read/{token}/{href:path}``,
    never the raw path); requests no route matched are ``unmatched``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # an exception that escapes every handler

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = str(scope.get("method", ""))
            HTTP_REQUESTS.labels(method=method, route=route, status=str(status)).inc()
            HTTP_DURATION.labels(method=method, route=route).observe(time.perf_counter() - started)


def current_trace_headers() -> dict[str, str]:
    """The current context as W3C trace-context headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_headers(headers: Mapping[str, str]) -> otel_context.Context:
    """The context a producer stored in ``headers`` (empty context when there is none)."""
    return propagate.extract(dict(headers))


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    return format(span_context.trace_id, "032x") if span_context.is_valid else None
