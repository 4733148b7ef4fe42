"""Start and stop the whole platform on this machine: the local servers and the four services.

``python deploy/local/local_platform.py up|down|status|seed`` is what ``make up``/``make down``/``make status``
run. The integration tests use :class:`Platform` directly to boot the services against their own database names,
topic prefix and buckets. Every service reads its endpoints from prefixed environment variables, exactly as in
production; this file only decides the local values.

``up`` waits on conditions (each server answers, each service is ready, the seeded books are in the catalogue)
with deadlines that grow with the work; if a step still fails, it stops everything it started and says which step
failed and why, so a failed ``make up`` leaves nothing running.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

from lcp_provider import ensure_lcp_files  # noqa: E402
from seed import Seeded, SeedTarget, seed  # noqa: E402
from stack import LocalStack, free_port, free_ports  # noqa: E402

SERVICES = ("lending", "drm", "reader", "notify")
SIGNING_SERVICES = ("lending", "drm", "reader")
S3_SERVICES = ("reader", "drm")


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def ensure_signing_key(folder: Path) -> Path:
    """A P-256 signing key for a token-issuing service, made once per machine (named by its creation month)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    folder.mkdir(parents=True, exist_ok=True)
    existing = sorted(folder.glob("*.pem"), reverse=True)
    if existing:
        return existing[0]
    path = folder / f"local-{datetime.now(UTC):%Y%m%d%H%M%S}.pem"
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@dataclass(frozen=True)
class ServiceEndpoints:
    name: str
    http_port: int
    grpc_port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"


class Platform:
    """The four services as child processes, configured against a running local stack."""

    def __init__(
        self,
        state_dir: Path,
        stack_env: Mapping[str, str],
        *,
        namespace: str = "sachso",
        overrides: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.stack_env = dict(stack_env)
        self.namespace = namespace  # database names, topic prefix and buckets start with it
        # Settings a test needs on one service, without the prefix: {"notify": {"ENVIRONMENT": "test", ...}}.
        self.overrides = {name: dict(values) for name, values in (overrides or {}).items()}

    def _endpoints_file(self) -> Path:
        return self.state_dir / "services.json"

    def endpoints(self) -> dict[str, ServiceEndpoints]:
        data = json.loads(self._endpoints_file().read_text(encoding="utf-8"))
        return {name: ServiceEndpoints(**value) for name, value in data.items()}

    def _environment(self, name: str, ports: Mapping[str, ServiceEndpoints]) -> dict[str, str]:
        prefix = name.upper() + "_"
        stack = self.stack_env
        jwks = ",".join(
            f"sachso-{issuer}={ports[issuer].http_url}/.well-known/jwks.json" for issuer in SIGNING_SERVICES
        )
        values = {
            "ENVIRONMENT": "dev",
            "HTTP_PORT": str(ports[name].http_port),
            "GRPC_PORT": str(ports[name].grpc_port),
            "MONGO_URI": stack["SACHSO_MONGO_URI"],
            "MONGO_DATABASE": f"{self.namespace}_{name}",
            "MONGO_RETRY_WRITES": "false",
            "KAFKA_BOOTSTRAP_SERVERS": stack["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
            "KAFKA_TOPIC_PREFIX": f"{self.namespace}.",
            "KAFKA_FETCH_MAX_WAIT_MS": "50",
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
            "JWKS_URLS": jwks,
        }
        if name in S3_SERVICES:
            values |= {
                "S3_ENDPOINT_URL": stack["SACHSO_S3_ENDPOINT_URL"],
                "S3_ACCESS_KEY_ID": stack["SACHSO_S3_ACCESS_KEY_ID"],
                "S3_SECRET_ACCESS_KEY": stack["SACHSO_S3_SECRET_ACCESS_KEY"],
                "S3_REGION": stack.get("SACHSO_S3_REGION", "us-east-1"),
                "S3_BUCKET": f"{self.namespace}-{name}".replace("_", "-").lower(),
            }
        if name in SIGNING_SERVICES:
            values["SIGNING_KEY_FILES"] = str(ensure_signing_key(self.state_dir / "keys" / name))
        if name == "lending":
            values["PUBLIC_URL"] = ports["lending"].http_url
            values["DRM_PUBLIC_URL"] = ports["drm"].http_url
            values["READER_PUBLIC_URL"] = ports["reader"].http_url  # open titles, and partners' patrons (ODL)
            values["DRM_GRPC_TARGET"] = ports["drm"].grpc_target
        if name == "drm":
            lcp_files = ensure_lcp_files(self.state_dir / "keys" / "lcp")
            values |= {
                "LCP_CERTIFICATE_FILE": str(lcp_files.certificate),
                "LCP_KEY_FILE": str(lcp_files.key),
                "MASTER_KEY_FILES": str(lcp_files.master_key),
                "PUBLIC_URL": ports["drm"].http_url,
                "READER_PUBLIC_URL": ports["reader"].http_url,
                "LENDING_GRPC_TARGET": ports["lending"].grpc_target,
            }
        if name == "reader":
            values["CACHE_DIR"] = str(self.state_dir / "reader-cache")
            values["DRM_GRPC_TARGET"] = ports["drm"].grpc_target
        if name == "notify":
            values["VAPID_PRIVATE_KEY_FILE"] = str(ensure_signing_key(self.state_dir / "keys" / "vapid"))
            values |= {"SMTP_HOST": stack["SACHSO_SMTP_HOST"], "SMTP_PORT": stack["SACHSO_SMTP_PORT"]}
        values |= self.overrides.get(name, {})
        return {prefix + key: value for key, value in values.items()}

    def start(self, timeout: float = 90.0) -> dict[str, ServiceEndpoints]:
        """Start every service and wait until each answers ``/readyz``; stop them all if one does not."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        chosen = iter(free_ports(2 * len(SERVICES)))  # HTTP and gRPC for each, all distinct
        ports = {name: ServiceEndpoints(name, next(chosen), next(chosen)) for name in SERVICES}
        self._endpoints_file().write_text(
            json.dumps({name: vars(endpoint) for name, endpoint in ports.items()}), encoding="utf-8"
        )
        prefixes = tuple(f"{service.upper()}_" for service in SERVICES)
        base_env = {key: value for key, value in os.environ.items() if not key.startswith(prefixes)}
        for name in SERVICES:
            service_env = self._environment(name, ports)
            self._write_env_file(name, service_env)
            env = {**base_env, **service_env, "PYTHONUNBUFFERED": "1"}
            log = (self.state_dir / f"{name}.log").open("ab")
            process = subprocess.Popen(
                [sys.executable, "-m", name],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                start_new_session=True,
            )
            (self.state_dir / f"{name}.pid").write_text(str(process.pid), encoding="utf-8")
        try:
            for name in SERVICES:
                self._wait_ready(name, ports[name], timeout)
        except Exception:
            self.stop()
            raise
        return ports

    def seed_target(self) -> SeedTarget:
        endpoints = self.endpoints()
        return SeedTarget(
            lending_url=endpoints["lending"].http_url,
            reader_url=endpoints["reader"].http_url,
            mongo_uri=self.stack_env["SACHSO_MONGO_URI"],
            namespace=self.namespace,
        )

    def env_file(self, name: str) -> Path:
        """The variables ``name`` was started with (``set -a; . FILE; set +a`` before its command-line tools)."""
        return self.state_dir / f"{name}.env"

    def _write_env_file(self, name: str, values: Mapping[str, str]) -> None:
        path = self.env_file(name)
        path.touch(mode=0o600)
        path.write_text("".join(f"{key}={value}\n" for key, value in sorted(values.items())), encoding="utf-8")

    def _wait_ready(self, name: str, endpoint: ServiceEndpoints, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if not self._alive(name):
                raise RuntimeError(f"{name} exited during start-up:\n{self._log_tail(name)}")
            try:
                with urllib.request.urlopen(f"{endpoint.http_url}/readyz", timeout=3) as response:  # noqa: S310
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = error.read().decode(errors="replace")
            except OSError as error:
                last = str(error)
            time.sleep(0.2)
        raise RuntimeError(f"{name} not ready after {timeout:.0f} s ({last}):\n{self._log_tail(name)}")

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.state_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def pid(self, name: str) -> int | None:
        """The process id of the running service ``name`` (what the benches read /proc by), if started."""
        path = self.state_dir / f"{name}.pid"
        return int(path.read_text(encoding="utf-8")) if path.exists() else None

    def _alive(self, name: str) -> bool:
        pid = self.pid(name)
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie child (exited, not reaped) still answers kill(0): look at its state.
        try:
            return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        except OSError:
            return False

    def stop(self, timeout: float = 15.0, services: Iterable[str] = SERVICES) -> None:
        """Stop the services this platform started (by their recorded PIDs only), all or those named."""
        pids = {name: pid for name in services if (pid := self.pid(name)) is not None}
        for pid in pids.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, pid in pids.items():
            while self._alive(name) and time.monotonic() < deadline:
                _reap(pid)
                time.sleep(0.1)
            if self._alive(name):
                os.kill(pid, signal.SIGKILL)
            _reap(pid)
            (self.state_dir / f"{name}.pid").unlink(missing_ok=True)

    def status(self) -> dict[str, bool]:
        return {name: self._alive(name) for name in SERVICES}


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


@contextlib.contextmanager
def _terminated_like_interrupted() -> Iterator[None]:
    """SIGTERM (``kill``, a CI timeout) unwinds like Ctrl-C, so the ``finally`` blocks that stop servers run:
    Python's default for SIGTERM ends the process at once and leaves every server it started running."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def temporary_platform(prefix: str = "bench") -> Iterator[Platform]:
    """The local servers and the four services in a temporary folder, all stopped and removed afterwards — also
    when the process is terminated."""
    with _terminated_like_interrupted(), tempfile.TemporaryDirectory(prefix=f"sachso-{prefix}-") as state:
        stack = LocalStack(Path(state) / "stack")
        env = Path(state) / "stack" / "stack.env"
        platform: Platform | None = None
        try:
            stack.start()
            platform = Platform(
                Path(state) / "platform", read_env_file(env), namespace=f"{prefix}{uuid.uuid4().hex[:6]}"
            )
            platform.start()
            yield platform
        finally:
            if platform is not None:
                platform.stop()
            stack.stop()


def start_web(state_dir: Path) -> str:
    """Serve the built web app (web/dist) and proxy the APIs from one origin; returns its URL."""
    port = free_port()
    log = (state_dir / "web.log").open("ab")
    process = subprocess.Popen(
        [
            "node",
            str(ROOT / "web" / "scripts" / "serve.mjs"),
            "--services",
            str(state_dir / "services.json"),
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    (state_dir / "web.pid").write_text(str(process.pid), encoding="utf-8")
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=1).close()
            return url
        time.sleep(0.2)
    raise RuntimeError(f"the web app did not start; see {state_dir / 'web.log'}")


def stop_web(state_dir: Path) -> None:
    pid_file = state_dir / "web.pid"
    if pid_file.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid_file.read_text(encoding="utf-8")), signal.SIGTERM)
        pid_file.unlink()


def up(state_dir: Path) -> int:
    """Start the servers and services, seed them and serve the web app; on any failure stop what this call
    started (the servers too, unless they were running before) and say which step failed."""
    stack = LocalStack(state_dir / "stack")
    stack_was_running = all(stack.status().values())
    platform = Platform(state_dir / "platform", {})
    stop_web(platform.state_dir)
    platform.stop()
    step = "starting the local servers (Kafka, MongoDB, S3, SMTP)"
    try:
        stack.start()
        platform = Platform(state_dir / "platform", read_env_file(state_dir / "stack" / "stack.env"))
        step = "starting the four services"
        endpoints = platform.start()
        step = "seeding the library (books through the ingest API, patrons, licences)"
        seeded = seed(platform.seed_target())
        step = "serving the web app"
        web = start_web(platform.state_dir)
    except BaseException as error:
        stop_web(platform.state_dir)
        platform.stop()
        if not stack_was_running:
            stack.stop()
        print(f"\nmake up failed while {step}:\n  {type(error).__name__}: {error}", file=sys.stderr)
        print(
            f"Everything it started was stopped. Logs: {platform.state_dir}/*.log and {stack.state_dir}/*.log",
            file=sys.stderr,
        )
        return 130 if isinstance(error, KeyboardInterrupt) else 1
    print(seeded.summary())
    print(f"\nSách Số is up. Open the reading app: {web}")
    print("APIs:")
    for name, endpoint in endpoints.items():
        print(f"  {name:8} HTTP {endpoint.http_url}/docs   gRPC {endpoint.grpc_target}")
    maildir = read_env_file(state_dir / "stack" / "stack.env").get("SACHSO_SMTP_MAILDIR")
    print(f"  mail     delivered messages in {maildir}")
    print(f"Logs: {platform.state_dir}/*.log. Stop with: make down")
    return 0


def seed_running(state_dir: Path, namespace: str, json_file: Path | None) -> int:
    """Seed a platform ``up`` started before (idempotent)."""
    platform = Platform(state_dir / "platform", read_env_file(state_dir / "stack" / "stack.env"), namespace=namespace)
    seeded: Seeded = seed(platform.seed_target())
    print(seeded.summary())
    if json_file:
        json_file.write_text(json.dumps(seeded.as_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("up", "down", "status", "seed"))
    parser.add_argument("--state-dir", type=Path, default=ROOT / ".local")
    parser.add_argument("--namespace", default="sachso", help="seed: the platform's namespace")
    parser.add_argument("--json", type=Path, help="seed: also write the credentials to this file")
    args = parser.parse_args()
    if args.command == "up":
        return up(args.state_dir)
    if args.command == "seed":
        return seed_running(args.state_dir, args.namespace, args.json)
    stack = LocalStack(args.state_dir / "stack")
    platform = Platform(args.state_dir / "platform", {})
    if args.command == "down":
        stop_web(args.state_dir / "platform")
        platform.stop()
        stack.stop()
        print("Sách Số stopped.")
        return 0
    print("servers:", stack.status())
    print("services:", platform.status())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
