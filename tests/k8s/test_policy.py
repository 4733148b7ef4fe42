"""Policy scan: checkov over the manifests of every profile, every skipped rule justified in the chart."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.k8s.conftest import Rendered, run

# checkov reads "checkov.io/skipN: <check id>=<reason>" annotations; the reason must say why, not just be there.
SKIP = re.compile(r"^(CKV2?_K8S_\d+)=(.{20,})$")


def test_checkov_finds_nothing_and_every_skip_is_justified(
    rendered_profiles: dict[str, Rendered], k8s_venv_bin: Path, tmp_path: Path
) -> None:
    # Rendered manifests (not --framework helm): checkov then sees the real namespace and each values file.
    for profile, rendered in rendered_profiles.items():
        (tmp_path / f"{profile}.yaml").write_text(rendered.text, encoding="utf-8")
    result = run(
        [
            k8s_venv_bin / "checkov",
            "--directory", tmp_path,
            "--framework", "kubernetes",
            "--skip-download",
            "--output", "json",
        ],
        timeout=300,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [
        f"{check['check_id']} {check['check_name']}: {check['resource']} ({check['file_path']})"
        for check in report["results"]["failed_checks"]
    ]
    assert not failed, "checkov:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    deployments = sum(len(rendered.of_kind("Deployment")) for rendered in rendered_profiles.values())
    scanned = {check["resource"] + check["file_path"] for check in report["results"]["passed_checks"]}
    assert sum(resource.startswith("Deployment.") for resource in scanned) == deployments, (
        "a Deployment was not scanned"
    )
    for check in report["results"]["skipped_checks"]:
        assert check["check_result"].get("suppress_comment"), f"{check['check_id']} skipped without a reason"

    annotations = [
        (manifest["metadata"]["name"], key, value)
        for rendered in rendered_profiles.values()
        for manifest in rendered.manifests
        for key, value in manifest["metadata"].get("annotations", {}).items()
        if key.startswith("checkov.io/skip")
    ]
    assert annotations, "expected the chart's documented skips"
    for resource, key, value in annotations:
        assert SKIP.match(value), f"{resource} {key}: '{value}' is not '<CKV id>=<reason>'"
