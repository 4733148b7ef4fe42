"""The Helm chart (deploy/k8s/sachso): lint, schema, Kubernetes 1.30 validity, and what each resource promises."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from drm.settings import DrmSettings
from lending.settings import LendingSettings
from notify.settings import NotifySettings
from reader.settings import ReaderSettings
from sachso.kit.settings import AuthSettings, BaseServiceSettings, load_settings
from sachso.kit.topics import (
    DEAD_LETTER_RETENTION_MS,
    DOMAIN_TOPICS,
    RETRY_RETENTION_MS,
    dead_letter_topic,
    retry_topic,
)
from tests.k8s.conftest import (
    KUBERNETES_VERSION,
    NAMESPACE,
    PROFILES,
    ROOT,
    SERVICES,
    Manifest,
    Rendered,
    helm_args,
    load_manifests,
    name,
    render,
    run,
    values_of,
)
from tests.unit.test_consumer_registrations import CONSUMERS

SETTINGS: dict[str, type[BaseServiceSettings]] = {
    "lending": LendingSettings,
    "reader": ReaderSettings,
    "drm": DrmSettings,
    "notify": NotifySettings,
}
# Resources of operators the cluster runs (Strimzi, KEDA, Prometheus Operator): kubernetes-validate has no schema
# for them, so test_custom_resources checks the fields those operators need.
CUSTOM_KINDS = {
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"),
    ("keda.sh/v1alpha1", "ScaledObject"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
COMPONENTS = (*SERVICES, "web")
# Variables a Deployment may set besides the service's own settings: read by the runtime, not by settings.py.
PROCESS_VARIABLES = {"reader": {"TMPDIR"}}
# Secrets whose value is JSON: the settings parse it (a placeholder reference would not).
JSON_SECRETS = {"LENDING_ILS_SIP2_LOGINS", "LENDING_ODL_SOURCES"}


def container(deployment: Manifest) -> Manifest:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    result: Manifest = only
    return result


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_strict(helm: Path, profile: str) -> None:
    result = run([helm, "lint", "--strict", *helm_args(profile)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_manifests_are_valid_kubernetes(rendered: Rendered, kubernetes_validate: Any) -> None:
    problems = []
    for manifest in rendered.manifests:
        if (manifest["apiVersion"], manifest["kind"]) in CUSTOM_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {error.message}")
    assert not problems, f"not valid for Kubernetes {KUBERNETES_VERSION} (strict):\n" + "\n".join(problems)


def test_every_resource_is_namespaced_and_labelled(rendered: Rendered) -> None:
    for manifest in rendered.manifests:
        metadata = manifest["metadata"]
        where = f"{manifest['kind']}/{metadata['name']}"
        if manifest["kind"] == "KafkaTopic":
            continue  # lives where the Strimzi Topic Operator watches
        assert metadata["namespace"] == NAMESPACE, where
        assert metadata["labels"]["app.kubernetes.io/part-of"] == "sachso", where
        assert metadata["labels"]["app.kubernetes.io/instance"] == "sachso", where


@pytest.mark.parametrize(
    ("setting", "complaint"),
    [
        ("services.lending.replicas=-1", "/services/lending/replicas"),
        ("image.tag=latest", "/image/tag"),
        ("kafka.bootstrapServers=kafka-without-port", "/kafka/bootstrapServers"),
        ("containerSecurityContext.readOnlyRootFilesystem=false", "/containerSecurityContext/readOnlyRootFilesystem"),
        ("services.reader.resources.requests.cpu=lots", "/services/reader/resources/requests/cpu"),
        ("services.notify.typo=1", "additional properties 'typo' not allowed"),
        ("services.drm.grpcClientOf={billing}", "/services/drm/grpcClientOf/0"),
        ("mongo.existingSecret=", "/mongo/existingSecret"),
        ("libraryLinks.sip2.existingSecret=Not_A_Secret", "/libraryLinks/sip2/existingSecret"),
        ("libraryLinks.oai.pageSize=0", "/libraryLinks/oai/pageSize"),
        ("libraryLinks.webAppUrl=ftp://x", "/libraryLinks/webAppUrl"),
        ("observability.otlpEndpoint=http://collector-without-port", "/observability/otlpEndpoint"),
        ("observability.traceSampleRatio=2", "/observability/traceSampleRatio"),
    ],
)
def test_values_schema_rejects(helm: Path, setting: str, complaint: str) -> None:
    result = render(helm, "province", "--set", setting)
    assert result.returncode != 0, f"--set {setting} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert complaint in result.stderr, result.stderr


def test_keda_needs_a_consumer_group(helm: Path) -> None:
    result = render(
        helm, "defaults", "--set", "services.drm.keda.enabled=true", "--set-json", "services.drm.consumers=[]"
    )
    assert result.returncode != 0
    assert "services.drm.keda.enabled needs services.drm.consumers" in result.stderr


def service_environment(rendered: Rendered, service: str) -> dict[str, str]:
    """What the container's environment will hold; Secret references get a placeholder value."""
    deployment = rendered.get("Deployment", name(service))
    environment: dict[str, str] = {}
    for source in container(deployment)["envFrom"]:
        environment |= rendered.get("ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in container(deployment)["env"]:
        if "value" in variable:
            environment[variable["name"]] = variable["value"]
        else:
            reference = variable["valueFrom"]["secretKeyRef"]
            environment[variable["name"]] = f"secret:{reference['name']}/{reference['key']}"
    return environment


def secret_files(deployment: Manifest) -> dict[str, str]:
    """Every file the pod's Secret volumes put in the container: path -> "<secret>/<key>"."""
    volumes = {volume["name"]: volume for volume in deployment["spec"]["template"]["spec"]["volumes"]}
    files = {}
    for mount in container(deployment)["volumeMounts"]:
        secret = volumes[mount["name"]].get("secret")
        if secret is None:
            continue
        assert mount["readOnly"] is True, f"{mount['name']} is mounted writable"
        assert "items" in secret, f"{mount['name']}: name the keys, so a missing one stops the pod from starting"
        for item in secret["items"]:
            files[f"{mount['mountPath']}/{item['path']}"] = f"{secret['secretName']}/{item['key']}"
    return files


def in_temporary_files(environment: dict[str, str], files: dict[str, str], folder: Path) -> dict[str, str]:
    """The environment with every mounted-secret path replaced by a real file (settings may check they exist)."""
    replaced = {}
    for variable, value in environment.items():
        parts = value.split(",")
        if all(part in files for part in parts):
            local = []
            for part in parts:
                path = folder / files[part].replace("/", "__")
                path.write_text("placeholder", encoding="utf-8")
                local.append(str(path))
            value = ",".join(local)
        else:
            stray = [part for part in parts if part.startswith("/etc/")]
            assert not stray, f"{variable} points at {stray}, which no Secret volume provides"
        replaced[variable] = value
    return replaced


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_exactly_the_settings_it_reads(
    rendered: Rendered, service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings_class = SETTINGS[service]
    prefix = f"{service.upper()}_"
    environment = service_environment(rendered, service)
    files = secret_files(rendered.get("Deployment", name(service)))
    fields = {field.upper() for field in settings_class.model_fields}
    unknown = sorted(
        variable
        for variable in environment
        if variable.removeprefix(prefix) not in fields and variable not in PROCESS_VARIABLES.get(service, set())
    )
    assert not unknown, f"{service} has no settings for {unknown}"
    for variable in list(os.environ):
        if variable.startswith(prefix):
            monkeypatch.delenv(variable)
    for variable, value in in_temporary_files(environment, files, tmp_path).items():
        # a Secret holding JSON (SIP2 logins, ODL partners) gets an empty JSON object as its placeholder
        monkeypatch.setenv(variable, "{}" if variable in JSON_SECRETS and value.startswith("secret:") else value)
    settings = load_settings(settings_class)  # every required setting is there and every value parses

    all_interfaces = "0.0.0.0"  # noqa: S104 - in a pod the service must listen beyond loopback
    assert settings.http_host == all_interfaces
    assert settings.grpc_host == all_interfaces
    ports = {
        port["name"]: port["containerPort"] for port in container(rendered.get("Deployment", name(service)))["ports"]
    }
    assert (settings.http_port, settings.grpc_port) == (ports["http"], ports["grpc"])
    assert settings.trusted_proxy_hops == 1, "behind the ingress, rate limits must key on the caller, not the proxy"
    assert environment[f"{prefix}MONGO_URI"].startswith("secret:"), "the MongoDB URI carries credentials"
    jwks = environment[f"{prefix}JWKS_URLS"].split(",")
    assert jwks[:2] == [
        f"sachso-{issuer}=http://{name(issuer)}.{NAMESPACE}.svc:{ports['http']}/.well-known/jwks.json"
        for issuer in ("lending", "drm")
    ]
    if service in ("reader", "drm"):
        assert environment[f"{prefix}S3_SECRET_ACCESS_KEY"].startswith("secret:")
        assert environment[f"{prefix}S3_ACCESS_KEY_ID"].startswith("secret:")
    if service in ("lending", "drm", "reader"):
        for key_file in environment[f"{prefix}SIGNING_KEY_FILES"].split(","):
            assert key_file in files, f"{key_file} is not in a mounted Secret"
    drm_target = f"{name('drm')}.{NAMESPACE}.svc:{ports['grpc']}"
    if service == "drm":
        assert environment["DRM_LENDING_GRPC_TARGET"] == f"{name('lending')}.{NAMESPACE}.svc:{ports['grpc']}"
        for variable in ("DRM_LCP_CERTIFICATE_FILE", "DRM_LCP_KEY_FILE", "DRM_MASTER_KEY_FILES"):
            assert all(path in files for path in environment[variable].split(",")), variable
        # the reader's service tokens (content keys for on-the-fly LCP decryption)
        assert isinstance(settings, AuthSettings)
        assert settings.jwt_issuer_list == ["sachso-lending", "sachso-drm", "sachso-reader"]
        assert environment["DRM_JWKS_URLS"].split(",")[-1] == (
            f"sachso-reader=http://{name('reader')}.{NAMESPACE}.svc:{ports['http']}/.well-known/jwks.json"
        )
    else:
        assert isinstance(settings, AuthSettings)
        assert settings.jwt_issuer_list == ["sachso-lending", "sachso-drm"]
    if service in ("lending", "reader"):
        assert environment[f"{prefix}DRM_GRPC_TARGET"] == drm_target
    if service == "reader":
        work = container(rendered.get("Deployment", name("reader")))["volumeMounts"]
        (mount,) = [mount["mountPath"] for mount in work if mount["name"] == "work"]
        assert environment["TMPDIR"] == mount, "spooled uploads belong on the work volume, not in /tmp"
        assert environment["READER_CACHE_DIR"].startswith(mount + "/")
    observability = values_of(rendered.profile)["observability"]
    assert settings.otlp_endpoint == observability["otlpEndpoint"], "traces go where the chart says"
    assert settings.trace_sample_ratio == observability["traceSampleRatio"]
    web = values_of(rendered.profile)["web"]["ingress"]["host"]
    assert settings.cors_origins.split(",")[0] == f"https://{web}", "the web app calls the APIs from its origin"
    if service == "lending":
        check_library_links(values_of(rendered.profile)["libraryLinks"], environment, files, web)


def check_library_links(links: dict[str, Any], environment: dict[str, str], files: dict[str, str], web: str) -> None:
    """The libraryLinks values reach lending's settings; their credentials only from Secrets."""
    assert environment["LENDING_WEB_APP_URL"] == (links["webAppUrl"] or f"https://{web}")
    assert environment["LENDING_MARC_ORGANISATION_CODE"] == links["marcOrganisationCode"]
    assert environment["LENDING_OAI_REPOSITORY_NAME"] == links["oai"]["repositoryName"]
    assert environment["LENDING_OAI_ADMIN_EMAIL"] == links["oai"]["adminEmail"]
    assert environment["LENDING_OAI_PAGE_SIZE"] == str(links["oai"]["pageSize"])
    assert float(environment["LENDING_ILS_SIP2_TIMEOUT_SECONDS"]) == links["sip2"]["timeoutSeconds"]
    sip2, odl = links["sip2"], links["odl"]
    if sip2["existingSecret"]:
        assert environment["LENDING_ILS_SIP2_LOGINS"] == f"secret:{sip2['existingSecret']}/{sip2['loginsKey']}"
    else:
        assert "LENDING_ILS_SIP2_LOGINS" not in environment
    if sip2["caSecret"]:
        assert files[environment["LENDING_ILS_SIP2_CA_FILE"]] == f"{sip2['caSecret']}/{sip2['caKey']}"
    if odl["existingSecret"]:
        assert environment["LENDING_ODL_SOURCES"] == f"secret:{odl['existingSecret']}/{odl['sourcesKey']}"
    else:
        assert "LENDING_ODL_SOURCES" not in environment


@pytest.mark.parametrize("profile", PROFILES)
def test_the_reader_work_volume_holds_the_cache_two_uploads_and_a_scan(
    helm: Path, rendered_profiles: dict[str, Rendered], profile: str
) -> None:
    """The reader downloads a scan being digitised (up to READER_MAX_SCAN_UPLOAD_BYTES) into its cache folder and
    cuts the page masters beside it: the chart sets that limit and refuses a work volume too small for it."""
    work = values_of(profile)["readerWorkVolume"]
    mebibyte = 1024**2
    environment = service_environment(rendered_profiles[profile], "reader")
    assert int(environment["READER_CACHE_DISK_BYTES"]) == work["cacheMi"] * mebibyte
    assert int(environment["READER_MAX_UPLOAD_BYTES"]) == work["maxUploadMi"] * mebibyte
    assert int(environment["READER_MAX_SCAN_UPLOAD_BYTES"]) == work["maxScanUploadMi"] * mebibyte, (
        "without it the reader takes its own default (4 GiB), which the volume was not sized for"
    )
    needed = work["cacheMi"] + 2 * work["maxUploadMi"] + 2 * work["maxScanUploadMi"] + 256
    pod = rendered_profiles[profile].get("Deployment", name("reader"))["spec"]["template"]["spec"]
    (volume,) = [volume for volume in pod["volumes"] if volume["name"] == "work"]
    assert volume["emptyDir"]["sizeLimit"] == f"{work['sizeLimitMi']}Mi"
    assert work["sizeLimitMi"] >= needed
    refused = render(helm, profile, "--set", f"readerWorkVolume.sizeLimitMi={needed - 1}")
    assert refused.returncode != 0, f"a {needed - 1} Mi work volume was accepted"
    assert "readerWorkVolume.sizeLimitMi must hold" in refused.stderr
    assert f"at least {needed} " in refused.stderr, refused.stderr
    assert render(helm, profile, "--set", f"readerWorkVolume.sizeLimitMi={needed}").returncode == 0
    larger_scans = render(
        helm,
        profile,
        "--set",
        f"readerWorkVolume.sizeLimitMi={needed}",
        "--set",
        f"readerWorkVolume.maxScanUploadMi={work['maxScanUploadMi'] + 1}",
    )
    assert larger_scans.returncode != 0, "a larger scan limit on the same volume was accepted"


@pytest.mark.parametrize("component", COMPONENTS)
def test_pods_run_locked_down(rendered: Rendered, component: str) -> None:
    deployment = rendered.get("Deployment", name(component))
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] >= 10000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(deployment)["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert "add" not in security["capabilities"]
    resources = container(deployment)["resources"]
    assert {"cpu", "memory"} <= set(resources["requests"])
    assert "memory" in resources["limits"]
    assert {constraint["topologyKey"] for constraint in pod["topologySpreadConstraints"]} == {
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    }
    assert any(volume["name"] == "tmp" and "emptyDir" in volume for volume in pod["volumes"]), "no writable /tmp"


@pytest.mark.parametrize("service", SERVICES)
def test_probes_use_http_health_and_grpc_health(rendered: Rendered, service: str) -> None:
    main = container(rendered.get("Deployment", name(service)))
    ports = {port["name"]: port["containerPort"] for port in main["ports"]}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["startupProbe"]["grpc"]["port"] == ports["grpc"]
    assert main["command"] == ["python", "-m", service]
    service_resource = rendered.get("Service", name(service))
    assert {(port["name"], port["targetPort"]) for port in service_resource["spec"]["ports"]} == {
        ("http", "http"),
        ("grpc", "grpc"),
    }


def test_metrics_are_scraped(rendered: Rendered) -> None:
    values = values_of(rendered.profile)
    for service in SERVICES:
        annotations = rendered.get("Deployment", name(service))["spec"]["template"]["metadata"]["annotations"]
        monitor = rendered.find("ServiceMonitor", name(service))
        if values["metrics"]["annotations"]:
            assert annotations["prometheus.io/path"] == "/metrics/"
            assert annotations["prometheus.io/port"] == str(values["ports"]["http"])
        if monitor is not None:
            assert monitor["spec"]["endpoints"] == [
                {
                    "port": "http",
                    "path": "/metrics/",
                    "interval": values["metrics"]["serviceMonitor"]["interval"],
                    "scheme": "http",
                }
            ]
        assert values["metrics"]["annotations"] or monitor is not None, f"nothing scrapes {service}"


# -- NetworkPolicies ---------------------------------------------------------------------------------------------


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert "matchExpressions" not in selector, "extend _selects for matchExpressions"
    return all(labels.get(key) == value for key, value in selector.get("matchLabels", {}).items())


def _pod_labels(component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": component,
        "app.kubernetes.io/instance": "sachso",
        "app.kubernetes.io/part-of": "sachso",
    }


def _port_matches(rule_port: dict[str, Any], port_name: str, port_number: int) -> bool:
    return rule_port["port"] in (port_name, port_number)


def ingress_allowed(rendered: Rendered, source: str, target: str, port_name: str) -> bool:
    """May a pod of ``source`` (a component, or a namespace name) open ``port_name`` of ``target``'s pods?"""
    values = values_of(rendered.profile)
    port_number = values["ports"].get(port_name, 8080) if target != "web" else 8080
    for policy in rendered.of_kind("NetworkPolicy"):
        if not _selects(policy["spec"]["podSelector"], _pod_labels(target)):
            continue
        for rule in policy["spec"].get("ingress", []):
            if not any(_port_matches(port, port_name, port_number) for port in rule.get("ports", [])):
                continue
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    namespace_labels = {"kubernetes.io/metadata.name": source}
                    if _selects(peer["namespaceSelector"], namespace_labels):
                        return True
                elif _selects(peer["podSelector"], _pod_labels(source)):
                    return True
    return False


def egress_allowed(rendered: Rendered, source: str, target: str, port_number: int) -> bool:
    for policy in rendered.of_kind("NetworkPolicy"):
        if not _selects(policy["spec"]["podSelector"], _pod_labels(source)):
            continue
        for rule in policy["spec"].get("egress", []):
            if not any(port["port"] == port_number for port in rule.get("ports", [])):
                continue
            if "to" not in rule or any(
                "podSelector" in peer
                and "namespaceSelector" not in peer
                and _selects(peer["podSelector"], _pod_labels(target))
                for peer in rule["to"]
            ):
                return True
    return False


def test_network_policies_allow_only_what_each_service_needs(rendered: Rendered) -> None:
    values = values_of(rendered.profile)
    grpc_port = values["ports"]["grpc"]
    http_port = values["ports"]["http"]
    default_deny = rendered.get("NetworkPolicy", "sachso-default-deny")
    assert default_deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in default_deny["spec"]
    assert "egress" not in default_deny["spec"]

    # who calls whom: lending and the reader ask drm (hashed passphrase; content keys), drm asks lending (renewals)
    grpc_calls = {("lending", "drm"), ("reader", "drm"), ("drm", "lending")}
    for caller in SERVICES:
        jwks = service_environment(rendered, caller)[f"{caller.upper()}_JWKS_URLS"]
        for callee in SERVICES:
            expected = (caller, callee) in grpc_calls
            assert ingress_allowed(rendered, caller, callee, "grpc") is expected, f"{caller} -> {callee} gRPC (in)"
            assert egress_allowed(rendered, caller, callee, grpc_port) is expected, f"{caller} -> {callee} gRPC (out)"
            # HTTP between services: only the JWKS of the issuers the caller's settings name.
            expected_http = f"//{name(callee)}.{NAMESPACE}.svc:" in jwks
            assert ingress_allowed(rendered, caller, callee, "http") is expected_http, f"{caller} -> {callee} HTTP"
            assert egress_allowed(rendered, caller, callee, http_port) is expected_http, f"{caller} -> {callee} HTTP"
    for component in COMPONENTS:
        assert ingress_allowed(rendered, "ingress-nginx", component, "http"), f"ingress controller -> {component}"
        assert not ingress_allowed(rendered, "some-other-namespace", component, "http")
        assert not ingress_allowed(rendered, "ingress-nginx", component, "grpc")
    for service in SERVICES:
        assert ingress_allowed(rendered, "monitoring", service, "http"), f"Prometheus -> {service}"
        assert not ingress_allowed(rendered, "web", service, "http"), f"web -> {service}"
    web = rendered.get("NetworkPolicy", name("web"))
    assert web["spec"]["egress"] == [], "the web app's static files need no egress"


def test_network_policies_open_the_external_dependencies_each_service_uses(rendered: Rendered) -> None:
    egress_values = values_of(rendered.profile)["networkPolicy"]["egress"]
    needs = {
        "lending": {"kafka", "mongo"},
        "reader": {"kafka", "mongo", "s3"},
        "drm": {"kafka", "mongo", "s3"},
        "notify": {"kafka", "mongo", "smtp"},
    }
    if values_of(rendered.profile)["webPush"]["existingSecret"]:
        needs["notify"].add("webPush")
    links = values_of(rendered.profile)["libraryLinks"]
    if links["sip2"]["existingSecret"]:
        needs["lending"].add("sip2")
    if links["odl"]["existingSecret"]:
        needs["lending"].add("odl")
    for service, dependencies in needs.items():
        rules = rendered.get("NetworkPolicy", name(service))["spec"]["egress"]
        for dependency in ("kafka", "mongo", "s3", "smtp", "webPush", "sip2", "odl"):
            wanted = egress_values[dependency]
            ports = [{"port": port, "protocol": "TCP"} for port in wanted["ports"]]
            present = any(rule["ports"] == ports and rule.get("to", []) == wanted["to"] for rule in rules)
            same_as_needed = any(egress_values[need] == wanted for need in dependencies)
            if dependency in dependencies or not same_as_needed:  # identical rules cannot be told apart
                assert present is (dependency in dependencies), f"{service}: egress to {dependency}"
        otlp = values_of(rendered.profile)["observability"]["otlpEndpoint"]
        if otlp:  # the collector's port, taken from the endpoint the settings use
            collector = {"ports": [{"port": urlsplit(otlp).port, "protocol": "TCP"}]}
            collector |= {"to": egress_values["otlp"]["to"]} if egress_values["otlp"]["to"] else {}
            assert collector in rules, f"{service}: egress to the OTLP collector"
        dns = [rule for rule in rules if {"port": 53, "protocol": "UDP"} in rule["ports"]]
        assert dns, f"{service}: no DNS"
        assert all(rule["to"] for rule in dns), f"{service}: DNS only to the cluster DNS"


# -- scaling, disruption, topics ---------------------------------------------------------------------------------


@pytest.mark.parametrize("component", COMPONENTS)
def test_each_deployment_has_one_scaler_and_a_disruption_budget(rendered: Rendered, component: str) -> None:
    deployment = rendered.get("Deployment", name(component))
    hpa = rendered.find("HorizontalPodAutoscaler", name(component))
    scaled_object = rendered.find("ScaledObject", name(component))
    assert not (hpa and scaled_object), "KEDA and an HPA would fight over the replicas"
    if hpa is None and scaled_object is None:
        assert deployment["spec"]["replicas"] >= 1
    else:
        assert "replicas" not in deployment["spec"], "a fixed replica count resets the autoscaler at every upgrade"
    if hpa is not None:
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name(component)}
    budget = rendered.get("PodDisruptionBudget", name(component))
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(budget["spec"]["selector"], labels)


def test_kafka_topics_mirror_the_code(rendered: Rendered) -> None:
    """The domain topics, and a retry and a dead-letter topic for every consumer group the code of an enabled
    service builds (found in the code, not in the values: a group the chart forgot fails here)."""
    values = values_of(rendered.profile)
    topics = {topic["spec"]["topicName"]: topic for topic in rendered.of_kind("KafkaTopic")}
    if not values["kafka"]["strimziTopics"]["enabled"]:
        assert not topics
        return
    groups = sorted(
        registry.group
        for service in SERVICES
        if values["services"][service]["enabled"]
        for registry in CONSUMERS[service]
    )
    expected = {spec.name: spec.retention_ms for spec in DOMAIN_TOPICS}
    for group in groups:
        expected[retry_topic(group).name] = RETRY_RETENTION_MS
        expected[dead_letter_topic(group).name] = DEAD_LETTER_RETENTION_MS
    assert {
        topic_name: int(topic["spec"]["config"]["retention.ms"]) for topic_name, topic in topics.items()
    } == expected
    strimzi = values["kafka"]["strimziTopics"]
    for topic_name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == strimzi["clusterName"]
        assert topic["spec"]["replicas"] >= int(topic["spec"]["config"]["min.insync.replicas"])
        if topic_name in strimzi["partitions"]:
            assert topic["spec"]["partitions"] == strimzi["partitions"][topic_name]
    for spec in DOMAIN_TOPICS:
        assert spec.name in strimzi["partitions"], f"{spec.name}: size its partitions in the values"


@pytest.mark.parametrize("service", SERVICES)
def test_consumer_groups_match_the_code(rendered: Rendered, service: str) -> None:
    """Every consumer group the service's code builds (the reader runs two: ``reader`` and its OCR workers'
    ``reader-ocr``), with its topics: the retry and dead-letter topics, KEDA's triggers and the lag alerts all
    follow from these values."""
    consumers = values_of(rendered.profile)["services"][service]["consumers"]
    assert [(consumer["group"], consumer["topics"]) for consumer in consumers] == [
        (registry.group, list(registry.topics)) for registry in CONSUMERS[service]
    ]


def test_ocr_is_switched_off_by_leaving_its_group_out_of_the_readers_consumers(helm: Path) -> None:
    """One switch: the reader's OCR workers run where ``reader-ocr`` is among its consumers, and with them go the
    group's retry and dead-letter topics and its KEDA trigger; the environment cannot say otherwise."""
    on = load_manifests(render(helm, "province").stdout)
    without = render(
        helm, "province", "--set-json",
        'services.reader.consumers=[{"group": "reader", "topics": ["sachso.lending.events.v1"]}]',
    )  # fmt: skip
    assert without.returncode == 0, without.stderr
    off = load_manifests(without.stdout)

    def reader_ocr(manifests: list[Manifest]) -> tuple[str, set[str], set[str]]:
        (config,) = [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"].endswith("-reader")]
        topics = {m["spec"]["topicName"] for m in manifests if m["kind"] == "KafkaTopic"}
        triggers = {
            trigger["metadata"].get("consumerGroup", "")
            for m in manifests
            if m["kind"] == "ScaledObject"
            for trigger in m["spec"]["triggers"]
        }
        return (
            config["data"]["READER_OCR_WORKER"],
            {topic for topic in topics if topic.startswith("reader-ocr.")},
            {group for group in triggers if group.endswith("reader-ocr")},
        )

    worker, topics, triggers = reader_ocr(on)
    assert worker == "true"
    assert topics == {"reader-ocr.retry", "reader-ocr.dlq"}
    assert triggers
    assert reader_ocr(off) == ("false", set(), set())
    refused = render(helm, "province", "--set", "services.reader.env.READER_OCR_WORKER=false")
    assert refused.returncode != 0
    assert "switch OCR on or off by listing the reader-ocr group" in refused.stderr


def test_keda_scales_on_lag_within_the_partitions(rendered: Rendered) -> None:
    """One kafka trigger per (group, topic) the service's code consumes, its retry topics included."""
    values = values_of(rendered.profile)
    partitions = values["kafka"]["strimziTopics"]["partitions"]
    for scaled_object in rendered.of_kind("ScaledObject"):
        spec = scaled_object["spec"]
        service = scaled_object["metadata"]["labels"]["app.kubernetes.io/name"]
        kafka_triggers = [trigger for trigger in spec["triggers"] if trigger["type"] == "kafka"]
        consumed = {
            (registry.group, topic)
            for registry in CONSUMERS[service]
            for topic in (*registry.topics, retry_topic(registry.group).name)
        }
        assert {
            (trigger["metadata"]["consumerGroup"], trigger["metadata"]["topic"]) for trigger in kafka_triggers
        } == consumed, f"{service}: KEDA does not see the lag of every group the code runs"
        assert len(kafka_triggers) == len(consumed)
        for trigger in kafka_triggers:
            assert trigger["metadata"]["allowIdleConsumers"] == "false"
        assert any(trigger["type"] == "cpu" for trigger in spec["triggers"]), "request load must scale too"
        assert spec["minReplicaCount"] <= spec["maxReplicaCount"]
        if values["kafka"]["strimziTopics"]["enabled"]:
            widest = max(partitions[topic] for registry in CONSUMERS[service] for topic in registry.topics)
            assert spec["maxReplicaCount"] <= widest, f"{service}: more pods than partitions would sit idle"


def test_custom_resources_have_what_their_operators_need(rendered_profiles: dict[str, Rendered]) -> None:
    province = rendered_profiles["province"]
    for topic in province.of_kind("KafkaTopic"):
        assert topic["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert {"topicName", "partitions", "replicas", "config"} <= set(topic["spec"])
        assert topic["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert province.of_kind("ScaledObject"), "the province profile uses KEDA"
    for scaled_object in province.of_kind("ScaledObject"):
        assert scaled_object["spec"]["scaleTargetRef"]["name"] == scaled_object["metadata"]["name"]
        for trigger in scaled_object["spec"]["triggers"]:
            assert all(isinstance(value, str) for value in trigger["metadata"].values()), "KEDA metadata is strings"
    assert province.of_kind("ServiceMonitor"), "the province profile uses the Prometheus Operator"


def test_ingress_publishes_the_public_apis_and_the_web_app(rendered: Rendered) -> None:
    values = values_of(rendered.profile)
    (ingress,) = rendered.of_kind("Ingress")
    backends = {
        rule["host"]: path["backend"]["service"]["name"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    expected = {values["services"][service]["ingress"]["host"]: name(service) for service in SERVICES}
    expected[values["web"]["ingress"]["host"]] = name("web")
    assert backends == expected
    assert set(ingress["spec"]["tls"][0]["hosts"]) == set(expected)
    lending = rendered.get("ConfigMap", name("lending"))["data"]
    assert lending["LENDING_DRM_PUBLIC_URL"] == f"https://{values['services']['drm']['ingress']['host']}"


def test_the_web_apps_config_names_each_api_as_the_app_reads_it(rendered: Rendered) -> None:
    """web/src/api.ts reads config[service]; each URL is that service's public URL, whose CORS allows the app."""
    values = values_of(rendered.profile)
    config = json.loads(rendered.get("ConfigMap", name("web"))["data"]["config.json"])
    assert config == {service: f"https://{values['services'][service]['ingress']['host']}" for service in SERVICES}
    api_source = (ROOT / "web" / "src" / "api.ts").read_text(encoding="utf-8")
    assert "config[service]" in api_source, "web/src/api.ts no longer reads config[service]: update the chart"
    web_origin = f"https://{values['web']['ingress']['host']}"
    for service in SERVICES:
        origins = service_environment(rendered, service)[f"{service.upper()}_CORS_ORIGINS"].split(",")
        assert web_origin in origins, service
