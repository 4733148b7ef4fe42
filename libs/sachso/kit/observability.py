"""JSON logs that carry the trace id, OpenTelemetry context propagation, and Prometheus metrics.

The correlation id of a request is its OpenTelemetry trace id: HTTP and gRPC edges continue the caller's
W3C ``traceparent`` (instrumentation libraries), the outbox stores the writer's context with each event and
the relay sends it as Kafka headers, and consumers continue it — so one id follows a request across HTTP,
gRPC and Kafka and appears on every log line.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

EVENTS_PUBLISHED = Counter("sachso_events_published_total", "Events published by the outbox relay", ["topic"])
EVENTS_HANDLED = Counter("sachso_events_handled_total", "Events handled by consumers", ["group", "type", "outcome"])
EVENTS_DEAD_LETTERED = Counter("sachso_events_dead_lettered_total", "Events sent to a dead-letter topic", ["group"])
OUTBOX_PENDING = Gauge("sachso_outbox_pending", "Events written but not yet published", ["service"])
EVENT_HANDLING_SECONDS = Histogram("sachso_event_handling_seconds", "Time to handle one event", ["group"])


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


def configure_tracing(service: str) -> None:
    """Install an SDK tracer provider so spans get real ids (exporters are added by OTEL_* settings)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider(resource=Resource.create({"service.name": service})))


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
