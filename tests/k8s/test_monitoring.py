"""Alerts, dashboards and the metrics they read: every series a rule or a panel asks for is one the code exports,
with labels it has; the alerts the SLOs need exist, page or open a ticket, and link a runbook in both languages."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client import REGISTRY

from tests.k8s.conftest import NAMESPACE, ROOT, SERVICES, Rendered, run

RUNBOOKS = ROOT / "deploy" / "k8s" / "runbooks"
DASHBOARDS = ROOT / "deploy" / "k8s" / "sachso" / "dashboards"
# Modules that define metrics (importing them registers the metric families).
METRIC_MODULES = (
    "sachso.kit.observability",
    "sachso.kit.health",
    "notify.service_layer.sender",
)
# Labels Prometheus adds to every scraped series (target labels), and histograms' bucket label.
TARGET_LABELS = {"namespace", "job", "pod", "service", "instance", "endpoint", "container", "le"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created"), "gauge": ("",)}
SELECTOR = re.compile(r"\b([a-z_][a-z0-9_]*)\{([^}]*)\}")
MATCHER = re.compile(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*\"")


def exported_series() -> dict[str, set[str]]:
    """Series name -> label names, for every metric the services export (and Prometheus' own ``up``)."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    series: dict[str, set[str]] = {"up": set()}
    for family in REGISTRY.collect():
        labels = set(getattr(REGISTRY._names_to_collectors.get(family.name), "_labelnames", ()))
        for suffix in SUFFIXES.get(family.type, ("",)):
            series[family.name + suffix] = labels
    return series


def selectors(expression: str) -> list[tuple[str, set[str]]]:
    """(series, label names) of each ``name{...}`` selector in a PromQL expression."""
    found = []
    for name, matchers in SELECTOR.findall(expression):
        found.append((name, set(MATCHER.findall(matchers))))
    return found


def rules(rendered: Rendered) -> list[dict[str, Any]]:
    (rule,) = rendered.of_kind("PrometheusRule")
    return [entry for group in rule["spec"]["groups"] for entry in group["rules"]]


def dashboard_expressions() -> list[str]:
    expressions = []
    for path in DASHBOARDS.glob("*.json"):
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        for panel in dashboard["panels"]:
            expressions += [target["expr"] for target in panel.get("targets", [])]
    return expressions


def check_expression(expression: str, series: dict[str, set[str]]) -> None:
    used = selectors(expression)
    assert used, f"no metric selector in {expression}"
    for name, labels in used:
        assert name in series, f"{name} is not a metric the services export ({expression})"
        unknown = labels - series[name] - TARGET_LABELS
        assert not unknown, f"{name} has no labels {sorted(unknown)}"


def test_every_alert_reads_metrics_the_code_exports(rendered_profiles: dict[str, Rendered]) -> None:
    series = exported_series()
    for entry in rules(rendered_profiles["province"]):
        check_expression(entry["expr"], series)


def test_every_dashboard_panel_reads_metrics_the_code_exports() -> None:
    series = exported_series()
    expressions = dashboard_expressions()
    assert expressions
    for expression in expressions:
        check_expression(expression.replace("$__rate_interval", "5m"), series)


def test_http_metrics_are_labelled_by_route_template_not_raw_path() -> None:
    assert exported_series()["sachso_http_requests_total"] == {"method", "route", "status"}


@pytest.mark.parametrize(
    "alert",
    [
        "SachsoCheckoutErrorBudgetBurn",
        "SachsoStreamingErrors",
        "SachsoHoldReadyEmailSlow",
        "SachsoDeadLetters",
        "SachsoOutboxBacklog",
        "SachsoServiceDown",
        "SachsoDatabaseUnreachable",
    ],
)
def test_what_hurts_patrons_pages(rendered_profiles: dict[str, Rendered], alert: str) -> None:
    (entry,) = [rule for rule in rules(rendered_profiles["province"]) if rule.get("alert") == alert]
    assert entry["labels"]["severity"] == "page"


def test_every_alert_has_a_severity_and_a_runbook_in_both_languages(rendered_profiles: dict[str, Rendered]) -> None:
    for entry in rules(rendered_profiles["province"]):
        assert entry["labels"]["severity"] in ("page", "ticket"), entry["alert"]
        url = entry["annotations"]["runbook_url"]
        names = [url.rsplit("/", 1)[-1]]
        if "{{ $labels.dependency }}" in names[0]:  # one runbook per dependency the probe checks
            names = [names[0].replace("{{ $labels.dependency }}", dependency) for dependency in ("kafka", "s3")]
        for name in names:
            for language in ("en", "vi"):
                assert (RUNBOOKS / language / name).is_file(), f"{entry['alert']}: no runbook {language}/{name}"


def test_runbooks_exist_in_vietnamese_and_english() -> None:
    english = {path.name for path in (RUNBOOKS / "en").glob("*.md")}
    vietnamese = {path.name for path in (RUNBOOKS / "vi").glob("*.md")}
    assert english == vietnamese
    assert {
        "triage.md",
        "dead-letters.md",
        "mongodb-down.md",
        "kafka-down.md",
        "s3-down.md",
        "key-rotation.md",
        "restore.md",
    } <= english


def test_no_alerts_or_dashboards_unless_asked(rendered_profiles: dict[str, Rendered]) -> None:
    defaults = rendered_profiles["defaults"]
    assert not defaults.of_kind("PrometheusRule")
    assert not [m for m in defaults.of_kind("ConfigMap") if "dashboard" in m["metadata"]["name"]]
    province = rendered_profiles["province"]
    (dashboard,) = [m for m in province.of_kind("ConfigMap") if "dashboard" in m["metadata"]["name"]]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    for name, content in dashboard["data"].items():
        assert json.loads(content) == json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    assert yaml.safe_load(yaml.safe_dump(dashboard))  # renders as valid YAML
    assert Path(DASHBOARDS).is_dir()


def test_the_alert_rules_load_in_prometheus_and_fire_as_their_unit_tests_say(
    rendered_profiles: dict[str, Rendered], promtool: Path, tmp_path: Path
) -> None:
    """Prometheus' own checker reads the rendered rules (PromQL parses, templates expand), and promtool's rule unit
    tests feed series and say when each alert fires: a page for dead letters at once, for an outbox backlog only after
    its five minutes, for checkouts failing at 10 % and not at 0.05 %, for a service with no pod up."""
    (rule,) = rendered_profiles["province"].of_kind("PrometheusRule")
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}), encoding="utf-8")
    checked = run([promtool, "check", "rules", rules_file])
    assert checked.returncode == 0, checked.stdout + checked.stderr

    annotations = {entry["alert"]: entry["annotations"] for entry in rules(rendered_profiles["province"])}
    jobs = [f"sachso-{service}" for service in SERVICES]
    ns = f'namespace="{NAMESPACE}"'
    checkout = f'{ns}, route="/v1/loans", method="POST"'

    def fired(alert: str, labels: dict[str, str], summary: str, description: str | None = None) -> dict[str, Any]:
        expected = dict(annotations[alert])
        expected["summary"] = summary
        if description is not None:
            expected["description"] = description
        return {"exp_labels": labels, "exp_annotations": expected}

    up = [{"series": f'up{{{ns}, job="{job}"}}', "values": "1x20"} for job in jobs if job != "sachso-lending"]
    tests = [
        {
            "interval": "1m",
            "input_series": [
                {"series": f'sachso_events_dead_lettered_total{{{ns}, group="notify"}}', "values": "0 0 1x10"},
                {"series": f'sachso_events_dead_lettered_total{{{ns}, group="drm"}}', "values": "0x12"},
            ],
            "alert_rule_test": [
                {"eval_time": "1m", "alertname": "SachsoDeadLetters", "exp_alerts": []},
                {
                    "eval_time": "3m",
                    "alertname": "SachsoDeadLetters",
                    "exp_alerts": [
                        fired(
                            "SachsoDeadLetters",
                            {"severity": "page", "group": "notify"},
                            "Events dead-lettered by notify",
                        )
                    ],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [
                {"series": f'sachso_outbox_oldest_pending_age_seconds{{{ns}, service="lending"}}', "values": "300x15"},
                {"series": f'sachso_outbox_oldest_pending_age_seconds{{{ns}, service="drm"}}', "values": "3x15"},
            ],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "SachsoOutboxBacklog", "exp_alerts": []},  # pending, not yet 5 min
                {
                    "eval_time": "6m",
                    "alertname": "SachsoOutboxBacklog",
                    "exp_alerts": [
                        fired(
                            "SachsoOutboxBacklog",
                            {"severity": "page", "service": "lending"},
                            "Events of lending wait to be published",
                            "The oldest unpublished event has waited 5m 0s: holds, licences and messages are late.",
                        )
                    ],
                },
            ],
        },
        {
            "interval": "1m",
            "input_series": [  # 100 checkouts a minute, 10 of them failing
                {"series": f'sachso_http_requests_total{{{checkout}, status="201"}}', "values": "0+90x70"},
                {"series": f'sachso_http_requests_total{{{checkout}, status="503"}}', "values": "0+10x70"},
            ],
            "alert_rule_test": [
                {
                    "eval_time": "65m",
                    "alertname": "SachsoCheckoutErrorBudgetBurn",
                    "exp_alerts": [
                        fired(
                            "SachsoCheckoutErrorBudgetBurn",
                            {"severity": "page"},
                            annotations["SachsoCheckoutErrorBudgetBurn"]["summary"],
                            "10% of POST /v1/loans answered 5xx over the last hour.",
                        )
                    ],
                }
            ],
        },
        {
            "interval": "1m",
            "input_series": [  # 2,000 checkouts a minute, one failing: within the 99.9 % objective
                {"series": f'sachso_http_requests_total{{{checkout}, status="201"}}', "values": "0+1999x70"},
                {"series": f'sachso_http_requests_total{{{checkout}, status="503"}}', "values": "0+1x70"},
            ],
            "alert_rule_test": [{"eval_time": "65m", "alertname": "SachsoCheckoutErrorBudgetBurn", "exp_alerts": []}],
        },
        {
            "interval": "1m",
            "input_series": [*up, {"series": f'up{{{ns}, job="sachso-lending"}}', "values": "1 1 0x18"}],
            "alert_rule_test": [
                {"eval_time": "3m", "alertname": "SachsoServiceDown", "exp_alerts": []},
                {
                    "eval_time": "8m",
                    "alertname": "SachsoServiceDown",
                    "exp_alerts": [
                        fired(
                            "SachsoServiceDown",
                            {"severity": "page", "job": "sachso-lending"},
                            "No pod of sachso-lending answers its metrics",
                        )
                    ],
                },
            ],
        },
    ]
    unit_tests = tmp_path / "alerts.test.yaml"
    unit_tests.write_text(
        yaml.safe_dump({"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}), encoding="utf-8"
    )
    tested = run([promtool, "test", "rules", unit_tests])
    assert tested.returncode == 0, tested.stdout + tested.stderr
