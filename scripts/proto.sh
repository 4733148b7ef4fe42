#!/usr/bin/env bash
# Contracts: generate Python from proto/, lint them, and refuse changes that break deployed clients.
#   scripts/proto.sh            generate into libs/ (committed, so code and type checks see it)
#   scripts/proto.sh check      fail if the committed generated code is not what proto/ generates
#   scripts/proto.sh lint       buf lint
#   scripts/proto.sh breaking   buf breaking against proto/baseline.binpb (the last released contract)
#   scripts/proto.sh baseline   record the current contract as released (do this when you release)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv
PY=$VENV/bin/python
BUF=$VENV/bin/buf
PACKAGES=(events lending drm reader notify)

generate() {
  local out=$1
  local well_known
  well_known=$("$PY" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')
  mapfile -t sources < <(cd proto && find sachso -name '*.proto' | LC_ALL=C sort)
  (cd proto && "../$PY" -m grpc_tools.protoc -I. -I"$well_known" \
    --plugin=protoc-gen-mypy="../$VENV/bin/protoc-gen-mypy" \
    --plugin=protoc-gen-mypy_grpc="../$VENV/bin/protoc-gen-mypy_grpc" \
    --python_out="$out" --grpc_python_out="$out" --mypy_out=quiet:"$out" --mypy_grpc_out=quiet:"$out" \
    "${sources[@]}")
  for package in "${PACKAGES[@]}"; do
    for dir in "$out/sachso/$package" "$out/sachso/$package/v1"; do
      [ -d "$dir" ] && printf '"""Generated from proto/ by scripts/proto.sh; do not edit."""\n' >"$dir/__init__.py"
    done
  done
}

case "${1:-generate}" in
  generate)
    for package in "${PACKAGES[@]}"; do rm -rf "libs/sachso/$package"; done
    generate "$PWD/libs"
    echo "generated Python contracts in libs/sachso/{$(IFS=,; echo "${PACKAGES[*]}")}"
    ;;
  check)
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    for package in "${PACKAGES[@]}"; do
      if ! diff -r -x __pycache__ "$tmp/sachso/$package" "libs/sachso/$package" >/dev/null; then
        echo "libs/sachso/$package is not what proto/ generates: run 'make proto' and commit the result" >&2
        diff -r -x __pycache__ "$tmp/sachso/$package" "libs/sachso/$package" | head -20 >&2
        exit 1
      fi
    done
    echo "generated contracts are current"
    ;;
  lint)
    "$BUF" lint proto
    echo "buf lint: clean"
    ;;
  breaking)
    "$BUF" breaking proto --against proto/baseline.binpb
    echo "buf breaking: no change breaks the released contract"
    ;;
  baseline)
    "$BUF" build proto -o proto/baseline.binpb
    echo "recorded proto/baseline.binpb"
    ;;
  *)
    echo "usage: $0 [generate|check|lint|breaking|baseline]" >&2
    exit 2
    ;;
esac
