"""Build the platform's real images on this machine with podman, from the Dockerfiles in deploy/images/.

    python deploy/local/images.py build [COMPONENT ...]   # `make images`: every image, or the ones named
    python deploy/local/images.py list                    # what is built
    python deploy/local/images.py remove                  # remove the images and this checkout's podman storage

No Docker daemon and no container registry are reachable here (../shared/docs/local-infrastructure.md), so:

- podman (Debian's, as root) keeps its images under ``.local/podman`` of this checkout, so checkouts and
  people sharing the machine never see each other's images; overlay storage where the kernel allows it (it is
  much faster), vfs otherwise; the ``runc`` runtime, and a containers.conf without default ulimits (setrlimit is
  not permitted here);
- the base images are made from Debian's packages with mmdebstrap and imported: a bookworm Python 3.11 for the
  services (as ``python:3.11-slim-bookworm``), a trixie one with Node.js 20 and nginx for the web app (bookworm's
  Node.js is too old for Vite). They trust the certificate authorities this machine adds
  (``/usr/local/share/ca-certificates``), so pip, npm and apt reach their registries from inside a build as they
  do from here. Production builds keep the official, digest-pinned bases the Dockerfiles name.

Images are tagged ``localhost/sachso-<component>:local``. The image test (tests/images) runs them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "deploy" / "images"
STATE = ROOT / ".local" / "podman"
TAG = "local"
HOST_CERTIFICATES = Path("/usr/local/share/ca-certificates")
SERVICES = ("lending", "reader", "drm", "notify")
COMPONENTS = (*SERVICES, "web")


class ImageError(RuntimeError):
    """A build step failed; the message names it and carries the end of its output."""


def _host_certificates_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(HOST_CERTIFICATES.glob("*.crt")) if HOST_CERTIFICATES.is_dir() else []:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class BaseImage:
    """A Debian root file system made by mmdebstrap, imported as ``localhost/<name>:<hash of its recipe>``."""

    name: str
    suite: str
    packages: tuple[str, ...]
    mirror: str = ""

    @property
    def recipe_hash(self) -> str:
        recipe = json.dumps([self.suite, self.packages, self.mirror, _host_certificates_digest()])
        return hashlib.sha256(recipe.encode()).hexdigest()[:12]

    @property
    def reference(self) -> str:
        return f"localhost/{self.name}:{self.recipe_hash}"


PYTHON_BASE = BaseImage(
    "sachso-base-python", "bookworm", ("ca-certificates", "python3", "python3-venv", "python-is-python3")
)
WEB_BASE = BaseImage(
    "sachso-base-web", "trixie", ("ca-certificates", "nodejs", "npm", "nginx"), mirror="http://deb.debian.org/debian"
)


@dataclass(frozen=True)
class ImageRecipe:
    component: str
    dockerfile: Path
    target: str | None
    build_args: Mapping[str, str] = field(default_factory=dict)

    @property
    def reference(self) -> str:
        return image_reference(self.component)


def image_reference(component: str) -> str:
    return f"localhost/sachso-{component}:{TAG}"


RECIPES = (
    *(
        ImageRecipe(service, IMAGES / "service.Dockerfile", service, {"PYTHON_IMAGE": PYTHON_BASE.reference})
        for service in SERVICES
    ),
    ImageRecipe(
        "web",
        IMAGES / "web.Dockerfile",
        None,
        {"NODE_IMAGE": WEB_BASE.reference, "NGINX_IMAGE": WEB_BASE.reference},
    ),
)


class Podman:
    """podman with this checkout's storage and configuration (never the machine's default storage)."""

    def __init__(self, state: Path = STATE) -> None:
        self.state = state
        self.state.mkdir(parents=True, exist_ok=True)
        self.containers_conf = state / "containers.conf"
        self.containers_conf.write_text(
            "[containers]\n"
            "# setrlimit is not permitted on these machines: no default ulimits\n"
            "default_ulimits = []\n"
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            'runtime = "runc"\n',
            encoding="utf-8",
        )
        self.driver = self._storage_driver()

    def _storage_conf(self, driver: str) -> Path:
        path = self.state / f"storage-{driver}.conf"
        path.write_text(
            "[storage]\n"
            f'driver = "{driver}"\n'
            f'runroot = "{self.state / "run"}"\n'
            f'graphroot = "{self.state / ("storage-" + driver)}"\n',
            encoding="utf-8",
        )
        return path

    def _storage_driver(self) -> str:
        chosen = self.state / "driver"
        if chosen.exists():
            return chosen.read_text(encoding="utf-8").strip()
        driver = "vfs"
        if shutil.which("podman") and "overlay" in Path("/proc/filesystems").read_text(encoding="utf-8"):
            probe = subprocess.run(
                ["podman", "info", "--format", "{{.Store.GraphDriverName}}"],
                env=self._environment("overlay"),
                capture_output=True,
                text=True,
                check=False,
            )
            if probe.returncode == 0 and probe.stdout.strip() == "overlay":
                driver = "overlay"
        chosen.write_text(driver, encoding="utf-8")
        return driver

    def _environment(self, driver: str) -> dict[str, str]:
        return {
            **os.environ,
            "CONTAINERS_CONF": str(self.containers_conf),
            "CONTAINERS_STORAGE_CONF": str(self._storage_conf(driver)),
        }

    def __call__(
        self, *arguments: str | Path, check: bool = True, capture: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            ["podman", *map(str, arguments)],
            env=self._environment(self.driver),
            capture_output=capture,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            output = (result.stdout or "") + (result.stderr or "")
            raise ImageError(f"podman {' '.join(map(str, arguments[:3]))} … failed:\n{output[-3000:]}")
        return result

    def exists(self, reference: str) -> bool:
        return self("image", "exists", reference, check=False).returncode == 0

    def popen(self, *arguments: str | Path, log: Path) -> subprocess.Popen[bytes]:
        """A long-running podman command (``run`` without ``--detach``) writing to ``log``."""
        with log.open("ab") as output:
            return subprocess.Popen(
                ["podman", *map(str, arguments)],
                env=self._environment(self.driver),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def _require(*commands: str) -> None:
    missing = [command for command in commands if shutil.which(command) is None]
    if missing:
        raise ImageError(f"{', '.join(missing)} not found: `make system` installs podman, runc and mmdebstrap")


def build_base(podman: Podman, base: BaseImage) -> str:
    """Import ``base`` unless this recipe was imported before; returns its reference."""
    if podman.exists(base.reference):
        return base.reference
    _require("mmdebstrap")
    tarball = podman.state / f"{base.name}-{base.recipe_hash}.tar"
    certificates = (
        f'mkdir -p "$1{HOST_CERTIFICATES}" && cp {HOST_CERTIFICATES}/*.crt "$1{HOST_CERTIFICATES}/" '
        '&& chroot "$1" update-ca-certificates'
        if list(HOST_CERTIFICATES.glob("*.crt"))
        else "true"
    )
    command = [
        "mmdebstrap",
        "--variant=minbase",
        f"--include={','.join(base.packages)}",
        "--dpkgopt=path-exclude=/usr/share/doc/*",
        "--dpkgopt=path-include=/usr/share/doc/*/copyright",
        "--dpkgopt=path-exclude=/usr/share/man/*",
        "--dpkgopt=path-exclude=/usr/share/locale/*",
        "--aptopt=Acquire::Retries=3",
        f"--customize-hook={certificates}",
        base.suite,
        str(tarball),
        *([base.mirror] if base.mirror else []),
    ]
    started = time.monotonic()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tarball.unlink(missing_ok=True)
        raise ImageError(f"mmdebstrap {base.suite} failed:\n{(result.stdout + result.stderr)[-3000:]}")
    podman("import", tarball, base.reference)
    tarball.unlink()
    print(f"base {base.reference}: {time.monotonic() - started:.0f} s", flush=True)
    return base.reference


def build_image(podman: Podman, recipe: ImageRecipe, log: Path) -> float:
    """Build one image from its Dockerfile; returns the seconds it took."""
    arguments: list[str | Path] = [
        "build",
        "--isolation",
        "chroot",
        "--network",
        "host",
        "--pull=never",
        "--file",
        recipe.dockerfile,
        "--ignorefile",
        recipe.dockerfile.with_name(recipe.dockerfile.name + ".dockerignore"),
        "--tag",
        recipe.reference,
    ]
    for name, value in recipe.build_args.items():
        arguments += ["--build-arg", f"{name}={value}"]
    if recipe.target:
        arguments += ["--target", recipe.target]
    started = time.monotonic()
    with log.open("ab") as output:
        process = subprocess.run(
            ["podman", *map(str, arguments), str(ROOT)],
            env=podman._environment(podman.driver),
            stdout=output,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if process.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise ImageError(f"building {recipe.reference} failed (log: {log}):\n{tail}")
    return time.monotonic() - started


def build(components: Sequence[str] = COMPONENTS, podman: Podman | None = None) -> dict[str, float]:
    """Build the bases and the images of ``components``; returns seconds per image.

    Two lines of work run side by side, since both mostly wait on downloads and disks: the services (their base,
    then the four targets, which share every stage but the last) and the web app (its base, then its image)."""
    _require("podman", "runc")
    podman = podman or Podman()
    timings: dict[str, float] = {}
    recipes = [recipe for recipe in RECIPES if recipe.component in components]

    def line(base: BaseImage, chosen: list[ImageRecipe], log: Path) -> None:
        if not chosen:
            return
        build_base(podman, base)
        for recipe in chosen:
            timings[recipe.component] = build_image(podman, recipe, log)
            print(f"{recipe.reference}: {timings[recipe.component]:.0f} s", flush=True)

    services = [recipe for recipe in recipes if recipe.component in SERVICES]
    web = [recipe for recipe in recipes if recipe.component == "web"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        lines = [
            pool.submit(line, PYTHON_BASE, services, podman.state / "build-services.log"),
            pool.submit(line, WEB_BASE, web, podman.state / "build-web.log"),
        ]
        for done in lines:
            done.result()  # the first failure, with its log's tail
    podman("image", "prune", "--force", check=False)  # intermediate stages
    return timings


def built(podman: Podman | None = None) -> dict[str, bool]:
    podman = podman or Podman()
    return {component: podman.exists(image_reference(component)) for component in COMPONENTS}


def remove(podman: Podman | None = None) -> None:
    """Remove every image and container of this checkout's storage (the bases too)."""
    if shutil.which("podman") is None or not STATE.exists():
        return
    podman = podman or Podman()
    podman("system", "reset", "--force", check=False)
    shutil.rmtree(podman.state, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("build", "list", "remove"))
    parser.add_argument("components", nargs="*", help=f"some of {', '.join(COMPONENTS)} (default: all)")
    args = parser.parse_args()
    unknown = sorted(set(args.components) - set(COMPONENTS))
    if unknown:
        parser.error(f"unknown components: {', '.join(unknown)}")
    try:
        if args.command == "build":
            started = time.monotonic()
            build(args.components or COMPONENTS)
            print(f"images built in {time.monotonic() - started:.0f} s (storage: {Podman().driver})")
        elif args.command == "list":
            for component, present in built().items():
                print(f"{image_reference(component)}: {'built' if present else 'missing'}")
        else:
            remove()
    except ImageError as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
