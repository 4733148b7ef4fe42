# Sách Số — the two commands are `make up` and `make test`; everything they need is installed from here.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
PYTEST := $(PY) -m pytest -p no:cacheprovider
UV_VERSION := $(shell sed -n 's/^uv==\([^ ]*\).*/\1/p' requirements/dev.lock)

.PHONY: help venv system web screenshots images test-images restore-drill test-e2e readium-tools iiif-tools lock lint proto proto-check test test-unit test-integration k8s-check up down status bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-18s %s\n", $$1, $$2}'

$(VENV)/.synced: requirements/dev.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) pip sync -q --python $(PY) --require-hashes requirements/dev.lock
	$(UV) pip install -q --python $(PY) --no-deps --no-build-isolation -e .
	touch $@

venv: $(VENV)/.synced ## create .venv with the locked dependencies

lock: ## re-pin requirements/*.lock from requirements/*.in (hashes included)
	$(UV) pip compile -q --generate-hashes --python-version 3.11 requirements/base.in -o requirements/base.lock
	$(UV) pip compile -q --generate-hashes --python-version 3.11 requirements/dev.in -o requirements/dev.lock
	$(UV) pip compile -q --generate-hashes --python-version 3.11 requirements/k8s.in -o requirements/k8s.lock
	$(UV) pip compile -q --generate-hashes --python-version 3.11 tools/iiif/requirements.in -o tools/iiif/requirements.lock

proto: venv ## regenerate Python code from proto/
	scripts/proto.sh

proto-check: venv ## buf lint, buf breaking against the released contract, generated code current
	scripts/proto.sh lint
	scripts/proto.sh breaking
	scripts/proto.sh check

lint: venv proto-check ## ruff, formatting, mypy (strict) and the contract checks
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs/sachso/kit services deploy/local bench tests

test-unit: venv ## unit tests: no servers, seconds
	$(PYTEST) tests/unit -q

READIUM_TOOLS := tools/readium/node_modules/.package-lock.json

system: ## Debian packages beyond Python and npm: a JDK (EPUBCheck), Node.js and npm, Chromium
	deploy/local/system-packages.sh

$(READIUM_TOOLS): tools/readium/package-lock.json | system
	cd tools/readium && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

readium-tools: $(READIUM_TOOLS) ## Readium's own JS implementations (cross-checks, benchmark peer), from the lock file

IIIF_TOOLS := .local/iiif-tools/.synced

$(IIIF_TOOLS): tools/iiif/requirements.lock
	test -x .local/iiif-tools/bin/python || $(PYTHON) -m venv .local/iiif-tools
	.local/iiif-tools/bin/pip install -q --disable-pip-version-check --require-hashes -r tools/iiif/requirements.lock
	touch $@

iiif-tools: $(IIIF_TOOLS) ## iiif-prezi3 in its own virtualenv: validates our IIIF manifests in the tests

WEB_DEPS := web/node_modules/.package-lock.json
WEB := web/dist/index.html

$(WEB_DEPS): web/package-lock.json | system
	cd web && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(WEB): $(WEB_DEPS) $(shell find web/src web/public web/index.html web/vite.config.ts -type f 2>/dev/null)
	cd web && npm run build --silent

web: $(WEB) ## build the web reading app (static files in web/dist)

test-e2e: venv system $(WEB) ## the reader and librarian journeys in headless Chromium
	$(PYTEST) tests/e2e -q

# The README's and the librarians' guide's pictures are the browser tests' own screenshots (test-artifacts/).
SCREENSHOTS := phone-catalogue phone-shelf phone-reader phone-reader-settings phone-title phone-inbox phone-account \
	desktop-reader desktop-reader-larger desktop-pdf-fit-page phone-pdf-fit-width \
	02-librarian-applications:librarian-applications 10-librarian-report:librarian-report \
	10c-librarian-titles:librarian-titles \
	10c-librarian-patrons:librarian-patrons 10c-librarian-accounts:librarian-accounts 08b-hold-ready:hold-ready

screenshots: ## copy the e2e screenshots the README and docs/huong-dan-thu-thu.md show into docs/screenshots
	for entry in $(SCREENSHOTS); do from=$${entry%%:*}; to=$${entry##*:}; cp test-artifacts/$$from.png docs/screenshots/$$to.png; done

# Integration tests wait on servers far more than they compute: two pytest-xdist workers (each with its own local
# servers, started once) overlap those waits; a test module stays on one worker (its module fixtures start once).
TEST_WORKERS ?= 2
test-integration: venv system $(READIUM_TOOLS) $(IIIF_TOOLS) ## integration tests against real local servers (started once per worker)
	$(PYTEST) tests/integration -q -n $(TEST_WORKERS) --dist loadfile --durations=15

images: venv system ## build every image of deploy/images/ with podman on a local Debian base (no registry)
	$(PY) deploy/local/images.py build

test-images: images ## run the images as the chart renders them for a province, and drive the journey through them
	scripts/k8s.sh tools
	$(PYTEST) tests/images -q

restore-drill: venv ## back up, lose and restore the local platform's databases; check nothing is lost or doubled
	$(PY) deploy/local/restore_drill.py

k8s-check: venv ## Helm chart and images, offline: helm lint/template, kubernetes-validate, schema, checkov, hadolint
	scripts/k8s.sh check

# The browser tests leave about 40 % of the 2 cores idle (vmstat over the tier), so the images build and are tested,
# and the chart checked, beside them; each target's output is printed whole when it ends.
test: lint test-unit test-integration ## everything CI checks
	$(MAKE) --no-print-directory -j2 --output-sync=target test-e2e test-images k8s-check

up: venv system $(WEB) ## start the local servers and all four services; prints where to open them
	$(PY) deploy/local/local_platform.py up

down: ## stop everything `make up` started
	@if [ -x $(PY) ]; then $(PY) deploy/local/local_platform.py down; fi

status: venv ## what `make up` is running
	$(PY) deploy/local/local_platform.py status

# Each bench appends its figures as JSON lines to one file; the table of every ratio closes the run, even when a
# bench failed (then `make bench` fails too). The repository root is on the path for the benches' `tests.` imports.
bench: venv $(READIUM_TOOLS) ## run every benchmark under bench/, then print one table of every ratio
	results=$$(mktemp); trap 'rm -f "$$results"' EXIT; failed=""; \
	for script in bench/bench_*.py; do echo "== $$script"; \
		PYTHONPATH=$(CURDIR) SACHSO_BENCH_RESULTS="$$results" $(PY) $$script || failed="$$failed $$script"; done; \
	$(PY) bench/_common.py "$$results"; \
	if [ -n "$$failed" ]; then echo "failed:$$failed"; exit 1; fi

clean: down ## remove the virtualenv and local state (the images too)
	@if [ -x $(PY) ]; then $(PY) deploy/local/images.py remove; fi
	rm -rf $(VENV) .local
