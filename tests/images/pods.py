"""Pods as the chart renders them, run with podman from the real images: the container's image, command,
environment (its ConfigMap and its Secret references), user and groups, read-only root file system, dropped
capabilities and volumes (emptyDir, Secret and ConfigMap files) are all read from ``helm template``'s output —
nothing here restates the chart, so a drift between chart, image and code fails the image test.

What a cluster provides is played locally: Secrets are files and values the test makes (a Secret the chart
refers to that the test does not know fails loudly), Service names resolve to the address each pod listens on,
and an emptyDir is a fresh folder owned by the pod's fsGroup.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from images import Podman

Manifest = dict[str, Any]


class ChartDrift(AssertionError):
    """The rendered chart asks for something the images, the code or this test's cluster stand-in lack."""


@dataclass
class Secrets:
    """The Secrets an operator creates before installing: name -> key -> bytes."""

    data: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def put(self, name: str, key: str, value: bytes | str) -> None:
        self.data.setdefault(name, {})[key] = value.encode() if isinstance(value, str) else value

    def get(self, name: str, key: str) -> bytes:
        try:
            return self.data[name][key]
        except KeyError:
            raise ChartDrift(
                f"the chart reads key {key!r} of Secret {name!r}, which the install does not have"
            ) from None


@dataclass(frozen=True)
class Mount:
    source: Path
    destination: str
    read_only: bool


@dataclass
class Pod:
    """One Deployment's pod, ready to run with podman."""

    component: str
    image: str
    command: list[str]
    args: list[str]
    environment: dict[str, str]
    user: int
    group: int
    supplementary_groups: list[int]
    read_only_root: bool
    dropped_capabilities: list[str]
    no_new_privileges: bool
    mounts: list[Mount]
    ports: dict[str, int]
    readiness_path: str | None
    readiness_port: str | None
    listen_address: str = "127.0.0.1"

    def http_url(self) -> str:
        return f"http://{self.listen_address}:{self.ports['http']}"


def _only_container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise ChartDrift(f"{deployment['metadata']['name']} has {len(containers)} containers; the test runs one")
    container: Manifest = containers[0]
    return container


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    if len(found) != 1:
        raise ChartDrift(f"expected one {kind} {name}, the chart renders {len(found)}")
    return found[0]


def pod_from_chart(
    manifests: list[Manifest],
    deployment_name: str,
    component: str,
    secrets: Secrets,
    work: Path,
    *,
    image: str,
) -> Pod:
    """The pod of ``deployment_name`` with its files materialised under ``work``; ``image`` replaces the
    registry reference (the images here are tagged locally) — the test checks the chart names this component."""
    deployment = find(manifests, "Deployment", deployment_name)
    spec = deployment["spec"]["template"]["spec"]
    container = _only_container(deployment)
    rendered_image = container["image"]
    if f"sachso-{component}" not in rendered_image.rsplit("/", 1)[-1]:
        raise ChartDrift(f"{deployment_name} runs {rendered_image}, not the {component} image")

    environment: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" not in source:
            raise ChartDrift(f"{deployment_name}: envFrom {source} is not a ConfigMap")
        environment |= {
            k: str(v) for k, v in find(manifests, "ConfigMap", source["configMapRef"]["name"])["data"].items()
        }
    for variable in container.get("env", []):
        if "value" in variable:
            environment[variable["name"]] = str(variable["value"])
        elif "secretKeyRef" in variable.get("valueFrom", {}):
            reference = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = secrets.get(reference["name"], reference["key"]).decode()
        else:
            raise ChartDrift(f"{deployment_name}: {variable['name']} comes from {variable.get('valueFrom')}")

    pod_security = spec.get("securityContext", {})
    security = {**pod_security, **container.get("securityContext", {})}
    fs_group = pod_security.get("fsGroup")
    volumes = {volume["name"]: volume for volume in spec.get("volumes", [])}
    mounts: list[Mount] = []
    for mount in container.get("volumeMounts", []):
        volume = volumes[mount["name"]]
        folder = work / deployment_name / mount["name"]
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            _own(folder, fs_group, 0o2777)
            mounts.append(Mount(folder, mount["mountPath"], bool(mount.get("readOnly", False))))
            continue
        if "secret" in volume:
            source = volume["secret"]
            files = {item["key"]: item["path"] for item in source.get("items", [])}
            if not files:
                files = {key: key for key in secrets.data.get(source["secretName"], {})}
            contents = {path: secrets.get(source["secretName"], key) for key, path in files.items()}
            mode = int(source.get("defaultMode", 0o644))
        elif "configMap" in volume:
            config = find(manifests, "ConfigMap", volume["configMap"]["name"])["data"]
            items = volume["configMap"].get("items") or [{"key": key, "path": key} for key in config]
            contents = {item["path"]: config[item["key"]].encode() for item in items}
            mode = int(volume["configMap"].get("defaultMode", 0o644))
        else:
            raise ChartDrift(f"{deployment_name}: volume {mount['name']} is neither emptyDir, Secret nor ConfigMap")
        folder.mkdir(parents=True, exist_ok=True)
        for path, content in contents.items():
            target = folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            _own(target, fs_group, mode)
        if mount.get("subPath"):
            mounts.append(Mount(folder / mount["subPath"], mount["mountPath"], bool(mount.get("readOnly", False))))
        else:
            mounts.append(Mount(folder, mount["mountPath"], bool(mount.get("readOnly", False))))

    readiness = container.get("readinessProbe", {}).get("httpGet", {})
    capabilities = security.get("capabilities", {})
    if capabilities.get("add"):
        raise ChartDrift(f"{deployment_name} adds capabilities {capabilities['add']}")
    return Pod(
        component=component,
        image=image,
        command=list(container.get("command", [])),
        args=list(container.get("args", [])),
        environment=environment,
        user=int(security.get("runAsUser", 0)),
        group=int(security.get("runAsGroup", security.get("runAsUser", 0))),
        supplementary_groups=[fs_group] if fs_group is not None else [],
        read_only_root=bool(security.get("readOnlyRootFilesystem", False)),
        dropped_capabilities=list(capabilities.get("drop", [])),
        no_new_privileges=security.get("allowPrivilegeEscalation") is False,
        mounts=mounts,
        ports={port["name"]: int(port["containerPort"]) for port in container.get("ports", [])},
        readiness_path=readiness.get("path"),
        readiness_port=readiness.get("port"),
    )


def _own(path: Path, group: int | None, mode: int) -> None:
    if group is not None:
        os.chown(path, 0, group)
    path.chmod(mode)


@dataclass
class RunningPod:
    pod: Pod
    name: str
    podman: Podman

    def logs(self, lines: int = 60) -> str:
        result = self.podman("logs", "--tail", str(lines), self.name, check=False)
        return (result.stdout or "") + (result.stderr or "")

    def address(self) -> str:
        """The pod's own address on a bridge network (a pod with its own network namespace)."""
        result = self.podman("inspect", "--format", "{{.NetworkSettings.IPAddress}}", self.name)
        return result.stdout.strip()

    def running(self) -> bool:
        result = self.podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return result.stdout.strip() == "true"

    def exec(self, *command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``kubectl exec`` as an operator would: the container's own user and environment."""
        return subprocess.run(
            ["podman", "exec", "--interactive", self.name, *command],
            input=stdin,
            env=self.podman._environment(self.podman.driver),
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def wait_ready(self, within: float) -> None:
        """Until the readiness probe the chart renders answers 200 (the pod joins its Service)."""
        assert self.pod.readiness_path
        assert self.pod.readiness_port
        url = f"http://{self.pod.listen_address}:{self.pod.ports[self.pod.readiness_port]}{self.pod.readiness_path}"
        deadline = time.monotonic() + within
        last = "no answer"
        while time.monotonic() < deadline:
            if not self.running():
                raise ChartDrift(f"{self.pod.component} exited during start-up:\n{self.logs()}")
            try:
                with urllib.request.urlopen(url, timeout=3) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"{error.code} {error.read().decode(errors='replace')[:300]}"
            except OSError as error:
                last = str(error)
            time.sleep(0.5)
        raise ChartDrift(f"{self.pod.component} not ready within {within:.0f} s ({last}):\n{self.logs()}")

    def stop(self) -> None:
        self.podman("rm", "--force", "--time", "10", self.name, check=False)


def run_pod(
    podman: Podman, pod: Pod, *, name: str, hosts: Mapping[str, str], network: str = "host", env_dir: Path
) -> RunningPod:
    """``podman run`` with exactly what the chart renders for ``pod``."""
    env_dir.mkdir(parents=True, exist_ok=True)
    env_file = env_dir / f"{name}.env"
    env_file.touch(mode=0o600)
    env_file.write_text("".join(f"{key}={value}\n" for key, value in pod.environment.items()), encoding="utf-8")
    arguments: list[str] = ["run", "--detach", "--replace", "--name", name, "--network", network]
    for host, address in hosts.items():
        arguments += ["--add-host", f"{host}:{address}"]
    arguments += ["--user", f"{pod.user}:{pod.group}"]
    for group in pod.supplementary_groups:
        arguments += ["--group-add", str(group)]
    if pod.read_only_root:
        arguments += ["--read-only", "--read-only-tmpfs=false"]
    for capability in pod.dropped_capabilities:
        arguments += ["--cap-drop", capability]
    if pod.no_new_privileges:
        arguments += ["--security-opt", "no-new-privileges"]
    arguments += ["--env-file", str(env_file)]
    for mount in pod.mounts:
        arguments += [
            "--mount",
            f"type=bind,source={mount.source},destination={mount.destination}"
            + (",ro=true" if mount.read_only else ""),
        ]
    if pod.command:  # Kubernetes' command replaces the image's ENTRYPOINT, its args the CMD
        arguments += ["--entrypoint", json.dumps(pod.command)]
    arguments += [pod.image, *pod.args]
    podman(*arguments)
    return RunningPod(pod, name, podman)


def remove_work(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
