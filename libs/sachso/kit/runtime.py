"""Runs one service process: HTTP (uvicorn), gRPC and background workers, with graceful shutdown.

A service's bootstrap yields a :class:`ServiceProcess` from an async context manager that owns every client;
:func:`run_service` serves it until SIGTERM/SIGINT, then stops taking requests, lets in-flight work finish
(up to the grace period) and closes the clients by leaving the context manager.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import Callable, Generator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import uvicorn
import uvloop
from fastapi import FastAPI
from starlette.types import ASGIApp

from sachso.kit.grpc_server import GrpcServer
from sachso.kit.observability import configure_logging, configure_tracing
from sachso.kit.settings import BaseServiceSettings, SettingsError, SettingsT
from sachso.kit.workers import Worker

log = logging.getLogger(__name__)


@dataclass
class ServiceProcess:
    """Everything one service runs: its HTTP app, its gRPC server and named background workers."""

    settings: BaseServiceSettings
    http_app: FastAPI
    grpc_server: GrpcServer
    workers: Mapping[str, Worker] = field(default_factory=dict)
    # what uvicorn serves when a layer sits in front of ``http_app`` (a hot path answered outside the framework)
    asgi_app: ASGIApp | None = None


class _UvicornServer(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def supervise(name: str, worker: Worker, stop: asyncio.Event, max_backoff_seconds: float = 10.0) -> None:
    """Run ``worker`` until ``stop``; if it crashes (a broker away, say) restart it with backoff."""
    backoff = 0.2
    while not stop.is_set():
        try:
            await worker(stop)
            backoff = 0.2
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("worker crashed, restarting", extra={"worker": name})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), backoff)
            backoff = min(backoff * 2, max_backoff_seconds)


async def serve(process: ServiceProcess, stop: asyncio.Event) -> None:
    settings = process.settings
    await process.grpc_server.start()
    config = uvicorn.Config(
        process.asgi_app or process.http_app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
    )
    http_server = _UvicornServer(config)
    http_task = asyncio.create_task(http_server.serve(), name="http")
    worker_tasks = [
        asyncio.create_task(supervise(name, worker, stop), name=name) for name, worker in process.workers.items()
    ]
    # What start-up made (modules, settings, clients, routes) lives as long as the process: kept out of the
    # collector's way, so a full collection under load walks only what requests made, not the whole heap.
    gc.freeze()
    log.info(
        "service started",
        extra={
            "http_port": settings.http_port,
            "grpc_port": process.grpc_server.port,
            "workers": list(process.workers),
        },
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([stopped, http_task], return_when=asyncio.FIRST_COMPLETED)
    stop.set()
    log.info("service stopping")
    http_server.should_exit = True
    await asyncio.gather(process.grpc_server.stop(settings.shutdown_grace_seconds), http_task, return_exceptions=True)
    _, pending = await asyncio.wait(worker_tasks, timeout=settings.shutdown_grace_seconds) if worker_tasks else ((), ())
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    log.info("service stopped")


def run_service(
    name: str,
    load: Callable[[], SettingsT],
    build: Callable[[SettingsT], AbstractAsyncContextManager[ServiceProcess]],
    *,
    fast_event_loop: bool = False,
) -> None:
    """The ``python -m <service>`` entry point: load settings, build, serve until a signal.

    ``fast_event_loop``: run on uvloop (libuv) rather than asyncio's own loop — for a service whose hot path is
    many small HTTP answers, where asyncio's Python-level socket writes cost more than the answers (see the
    README's profile of the reader)."""
    try:
        settings = load()
    except SettingsError as error:
        raise SystemExit(f"{name}: {error}") from None
    configure_logging(name, settings.log_level)
    configure_tracing(name, otlp_endpoint=settings.otlp_endpoint, sample_ratio=settings.trace_sample_ratio)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with build(settings) as process:
            await serve(process, stop)

    if fast_event_loop:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    else:
        asyncio.run(main())
