"""The province install, run from the real images (``make images``) exactly as ``helm template`` renders it for
``deploy/k8s/values-province.yaml``, against the local servers.

What differs from a cluster is only what a cluster would provide, given as values an operator would set
(``values-local.yaml`` below: the local servers' addresses, one database prefix, topic prefix and bucket names
for this run, the public URLs) and as the Secrets the chart names (made here: MongoDB URIs, S3 keys, signing keys,
the LCP provider, master keys, the VAPID key). Every pod runs with host networking on an address of its own
(127.0.0.11–14): its ``<SERVICE>_HTTP_HOST``/``_GRPC_HOST``, rendered as ``0.0.0.0`` (all interfaces of the pod's
own network namespace), become that address — the one change made to a rendered pod — and every Service name
resolves to it.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from secrets import token_urlsafe as secrets_token
from typing import Any

import images
import pytest
import yaml  # type: ignore[import-untyped]
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lcp_provider import ensure_lcp_files
from local_platform import read_env_file
from stack import LocalStack

from tests.images.pods import Manifest, Pod, RunningPod, Secrets, pod_from_chart, run_pod

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "k8s" / "sachso"
PROFILE = ROOT / "deploy" / "k8s" / "values-province.yaml"
HELM = Path(os.environ.get("SACHSO_HELM", ROOT / ".local" / "tools" / "helm"))
STATE_DIR = Path(os.environ.get("SACHSO_TEST_STACK_DIR", ROOT / ".local" / "test-stack")) / "images"
RELEASE = NAMESPACE = "sachso"
SERVICES = ("lending", "reader", "drm", "notify")
ADDRESSES = {"lending": "127.0.0.11", "reader": "127.0.0.12", "drm": "127.0.0.13", "notify": "127.0.0.14"}
READY_WITHIN = 180.0


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "images: runs the real images (make images) as the chart renders them")


def port_free_everywhere() -> int:
    """A port free on 127.0.0.1 and on every pod address."""
    while True:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        try:
            for address in ADDRESSES.values():
                with socket.socket() as other:
                    other.bind((address, port))
        except OSError:
            continue
        return port


def helm_template(values: list[Path], *sets: str) -> list[Manifest]:
    if not HELM.exists():
        pytest.fail(f"helm not found at {HELM}: run scripts/k8s.sh tools (make test-images does)")
    command = [str(HELM), "template", RELEASE, str(CHART), "--namespace", NAMESPACE, "--kube-version", "1.30.0"]
    for path in values:
        command += ["-f", str(path)]
    for setting in sets:
        command += ["--set", setting]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, f"helm template failed:\n{result.stderr}"
    return [document for document in yaml.safe_load_all(result.stdout) if document]


def pem_key() -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass
class Install:
    """The running install: its pods, the values it was rendered with and what a test needs to call it."""

    namespace: str
    stack_env: dict[str, str]
    values: dict[str, Any]
    manifests: list[Manifest]
    pods: dict[str, RunningPod]
    secrets: Secrets
    state: Path

    def url(self, service: str) -> str:
        return self.pods[service].pod.http_url()

    def public_url(self, component: str) -> str:
        return str(self.values["publicUrls"][component])

    @property
    def maildir(self) -> Path:
        return Path(self.stack_env["SACHSO_SMTP_MAILDIR"])


def make_secrets(stack_env: dict[str, str], state: Path) -> Secrets:
    """Every Secret the province profile names, as the operator would create them (deploy/k8s/README.md)."""
    secrets = Secrets()
    for service in SERVICES:
        secrets.put("sachso-mongo", f"{service}-uri", stack_env["SACHSO_MONGO_URI"])
    secrets.put("sachso-s3", "access-key-id", stack_env["SACHSO_S3_ACCESS_KEY_ID"])
    secrets.put("sachso-s3", "secret-access-key", stack_env["SACHSO_S3_SECRET_ACCESS_KEY"])
    for service in ("lending", "drm", "reader"):
        secrets.put(f"sachso-{service}-signing-keys", "signing-key.pem", pem_key())
    lcp = ensure_lcp_files(state / "lcp")
    secrets.put("sachso-drm-lcp", "certificate.pem", lcp.certificate.read_bytes())
    secrets.put("sachso-drm-lcp", "private-key.pem", lcp.key.read_bytes())
    for name in ("master-key-2025-10", "master-key-2024-10"):
        secrets.put("sachso-drm-master-keys", name, base64.b64encode(os.urandom(32)))
    secrets.put("sachso-web-push", "vapid-private-key.pem", pem_key())
    # The libraries' own systems: SIP2 logins (no ILS is asked until a patron signs in through one), the ILSs'
    # private CA (any real certificate stands for it here) and no ODL partner yet.
    logins = {"daklak": {"user": "sachso", "password": secrets_token(), "terminal_password": secrets_token()}}
    secrets.put("sachso-sip2", "sip2-logins.json", json.dumps(logins))
    secrets.put("daklak-ils-ca", "ca.crt", lcp.certificate.read_bytes())
    secrets.put("sachso-odl", "odl-sources.json", "{}")
    return secrets


@pytest.fixture(scope="session")
def podman() -> images.Podman:
    podman = images.Podman()
    missing = [component for component, present in images.built(podman).items() if not present]
    if missing:
        pytest.fail(f"images not built: {', '.join(missing)} (run make images)")
    return podman


@pytest.fixture(scope="session")
def install(podman: images.Podman) -> Iterator[Install]:
    stack = LocalStack(STATE_DIR / "stack")
    stack.stop()
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    stack.start()
    stack_env = read_env_file(STATE_DIR / "stack" / "stack.env")
    namespace = f"img{uuid.uuid4().hex[:6]}"
    http_port, grpc_port = port_free_everywhere(), port_free_everywhere()
    values: dict[str, Any] = {
        "ports": {"http": http_port, "grpc": grpc_port},
        "mongo": {"databasePrefix": namespace, "retryWrites": False},
        # Tansu 0.6 has no TLS listener and keeps no SCRAM user across a restart: the local broker is plain
        # (the TLS and SASL settings are checked by tests/unit/kit/test_settings.py and tests/k8s).
        "kafka": {
            "bootstrapServers": stack_env["SACHSO_KAFKA_BOOTSTRAP_SERVERS"],
            "topicPrefix": f"{namespace}.",
            "securityProtocol": "PLAINTEXT",
        },
        "s3": {
            "endpointUrl": stack_env["SACHSO_S3_ENDPOINT_URL"],
            "region": stack_env["SACHSO_S3_REGION"],
            "buckets": {"reader": f"{namespace}-reader", "drm": f"{namespace}-drm"},
        },
        "smtp": {
            "host": stack_env["SACHSO_SMTP_HOST"],
            "port": int(stack_env["SACHSO_SMTP_PORT"]),
            "security": "none",
            "existingSecret": "",
        },
        "publicUrls": {service: f"http://{address}:{http_port}" for service, address in ADDRESSES.items()}
        | {"web": "http://127.0.0.15:8080"},
    }
    state = STATE_DIR / "install"
    state.mkdir(parents=True)
    local_values = state / "values-local.yaml"
    local_values.write_text(yaml.safe_dump(values), encoding="utf-8")
    secrets = make_secrets(stack_env, state)
    hosts = {f"{RELEASE}-{service}.{NAMESPACE}.svc": address for service, address in ADDRESSES.items()}
    pods: dict[str, RunningPod] = {}
    manifests: list[Manifest] = []
    try:
        manifests = helm_template([PROFILE, local_values])
        for service, address in ADDRESSES.items():
            pod: Pod = pod_from_chart(
                manifests,
                f"{RELEASE}-{service}",
                service,
                secrets,
                state / "volumes",
                image=images.image_reference(service),
            )
            for variable in ("HTTP_HOST", "GRPC_HOST"):  # host networking: one address per pod
                name = f"{service.upper()}_{variable}"
                assert pod.environment[name] == "0.0.0.0", f"{name}: the pod must listen on all its interfaces"  # noqa: S104
                pod.environment[name] = address
            pod.listen_address = address
            pods[service] = run_pod(
                podman, pod, name=f"sachso-{namespace}-{service}", hosts=hosts, env_dir=state / "env"
            )
        for running in pods.values():
            running.wait_ready(READY_WITHIN)
        yield Install(namespace, stack_env, values, manifests, pods, secrets, state)
    finally:
        for running in pods.values():
            (state / f"{running.pod.component}.log").write_text(running.logs(2000), encoding="utf-8")
            running.stop()
        stack.stop()
