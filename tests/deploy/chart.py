"""The Helm chart rendered and validated offline: Helm's own Go engine (helm-python-sdk), kubernetes-validate's schemas.

`render(values)` renders `deploy/helm/local-ai-stack` with the values a `-f file` would give (Helm coalesces them with
the chart's defaults) and returns the objects. `validate(obj, version)` checks one object against the Kubernetes
OpenAPI schema of `version` in strict mode (unknown fields fail, as `kubectl apply --validate=strict`); a
ServiceMonitor is checked against the prometheus-operator CRD's schema in `crds/`, made strict the same way.
`Cluster` answers "may pod A open a connection to pod B on port P" from the rendered NetworkPolicies.
"""

from __future__ import annotations

import copy
import functools
import importlib.util
import ipaddress
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import kubernetes_validate
import yaml

from tests.support.procs import REPO_ROOT

CHART = REPO_ROOT / "deploy" / "helm" / "local-ai-stack"
CRDS = Path(__file__).parent / "crds"
RELEASE = "ai"
NAMESPACE = "ai-stack"
# The chart's kubeVersion floor and the newest schema kubernetes-validate ships.
KUBE_VERSIONS = ("1.29", kubernetes_validate.utils.latest_version().rsplit(".", 1)[0])


def _load_values_schema():
    """deploy/helm/values_schema.py, which writes the chart's values.schema.json (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("values_schema", CHART.parent / "values_schema.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


values_schema = _load_values_schema()


def value_sets() -> dict[str, Path | None]:
    """Every documented value set: the defaults, the two walkthrough files and each ci/ file."""
    sets: dict[str, Path | None] = {"default": None}
    for path in sorted(CHART.glob("values-*.yaml")) + sorted((CHART / "ci").glob("*-values.yaml")):
        sets[path.name.removesuffix(".yaml").removeprefix("values-").removesuffix("-values")] = path
    return sets


def load_values(path: Path | None) -> dict[str, Any]:
    return {} if path is None else (yaml.safe_load(path.read_text()) or {})


@functools.cache
def _chart() -> helm.Chart:
    return helm.Chart.load(CHART)


def render_manifests(values: dict[str, Any] | None = None, chart: helm.Chart | None = None) -> dict[str, str]:
    """Template path -> rendered text, as `helm template RELEASE CHART -n NAMESPACE -f values` prints it."""
    return (chart or _chart()).render(copy.deepcopy(values or {}), name=RELEASE, namespace=NAMESPACE,
                                      is_install=True)


def render(values: dict[str, Any] | None = None, chart: helm.Chart | None = None) -> list[dict[str, Any]]:
    """The rendered objects (NOTES.txt left out), in template order."""
    objects: list[dict[str, Any]] = []
    for name, text in sorted(render_manifests(values, chart).items()):
        if name.endswith(".yaml"):
            objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


def notes(values: dict[str, Any] | None = None) -> str:
    return next(text for name, text in render_manifests(values).items() if name.endswith("NOTES.txt"))


# --- schema validation -------------------------------------------------------------------------------------------


def _strict(schema: Any) -> Any:
    """A CRD schema that rejects unknown fields, as the API server's strict field validation does."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if ("properties" in schema and "additionalProperties" not in schema
                and not schema.get("x-kubernetes-preserve-unknown-fields")):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@functools.cache
def _crd_validators() -> dict[tuple[str, str], jsonschema.protocols.Validator]:
    validators = {}
    for path in CRDS.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            schema = _strict(version["schema"]["openAPIV3Schema"])
            api_version = f"{crd['spec']['group']}/{version['name']}"
            validators[(api_version, crd["spec"]["names"]["kind"])] = jsonschema.Draft4Validator(schema)
    return validators


def crd_documents() -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) for path in CRDS.glob("*.yaml")]


def validate(obj: dict[str, Any], kube_version: str) -> None:
    """Raise if `obj` is not a valid object of Kubernetes `kube_version` (strict: no unknown fields)."""
    crd = _crd_validators().get((obj["apiVersion"], obj["kind"]))
    if crd is None:
        kubernetes_validate.validate(obj, kube_version, strict=True)
        return
    crd.validate({key: value for key, value in obj.items() if key != "metadata"})
    # A custom resource's metadata is an ObjectMeta like any other: check it with a core kind's schema.
    kubernetes_validate.validate({"apiVersion": "v1", "kind": "ConfigMap", "metadata": obj["metadata"]},
                                 kube_version, strict=True)


# --- finding things in a rendering -------------------------------------------------------------------------------


def by_kind(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def component(obj: dict[str, Any]) -> str:
    return obj["metadata"]["labels"]["app.kubernetes.io/component"]


def workloads(objects: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """component -> its Deployment, StatefulSet or Job."""
    return {component(obj): obj for obj in objects if obj["kind"] in ("Deployment", "StatefulSet", "Job")}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return spec.get("initContainers", []) + spec["containers"]


def main_container(workload: dict[str, Any]) -> dict[str, Any]:
    return pod_spec(workload)["containers"][0]


def env(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> the env entry (with `value` or `valueFrom`)."""
    return {entry["name"]: entry for entry in container.get("env", [])}


def env_values(container: dict[str, Any]) -> dict[str, str]:
    return {name: entry["value"] for name, entry in env(container).items() if "value" in entry}


def named(objects: Iterable[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} objects rendered"
    return matches[0]


def walk(node: Any) -> Iterator[Any]:
    """Every dict, list and scalar inside `node`."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


# --- NetworkPolicy semantics -------------------------------------------------------------------------------------


def _selects(selector: dict[str, Any] | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels and matchExpressions); an empty selector selects everything."""
    if selector is None:
        return True
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        ok = {"In": labels.get(key) in values, "NotIn": labels.get(key) not in values,
              "Exists": key in labels, "DoesNotExist": key not in labels}[operator]
        if not ok:
            return False
    return True


@dataclass(frozen=True)
class Pod:
    """A pod somewhere in the cluster: its labels, its namespace's labels, its address."""

    name: str
    labels: dict[str, str] = field(default_factory=dict, hash=False)
    namespace: str = NAMESPACE
    namespace_labels: dict[str, str] = field(default_factory=dict, hash=False)
    ip: str = "10.0.0.1"


def _peer_matches(peer: dict[str, Any], pod: Pod, policy_namespace: str) -> bool:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        address = ipaddress.ip_address(pod.ip)
        return address in ipaddress.ip_network(block["cidr"]) and not any(
            address in ipaddress.ip_network(cidr) for cidr in block.get("except", []))
    namespace_ok = (_selects(peer["namespaceSelector"], pod.namespace_labels) if "namespaceSelector" in peer
                    else pod.namespace == policy_namespace)
    return namespace_ok and _selects(peer.get("podSelector"), pod.labels)


def _port_matches(rule: dict[str, Any], port: int) -> bool:
    ports = rule.get("ports")
    if not ports:
        return True
    return any(entry.get("protocol", "TCP") == "TCP" and (
        "port" not in entry or entry["port"] == port or entry["port"] <= port <= entry.get("endPort", -1))
        for entry in ports)


def _rule_allows(rule: dict[str, Any], peers_key: str, peer: Pod, port: int, namespace: str) -> bool:
    peers = rule.get(peers_key)
    return _port_matches(rule, port) and (not peers or any(_peer_matches(p, peer, namespace) for p in peers))


@dataclass
class Cluster:
    """The rendered NetworkPolicies, applied as a conforming CNI would (all in the release's namespace)."""

    policies: list[dict[str, Any]]

    def _policies_for(self, pod: Pod, policy_type: str) -> list[dict[str, Any]]:
        return [p for p in self.policies if pod.namespace == NAMESPACE
                and _selects(p["spec"]["podSelector"], pod.labels)
                and policy_type in p["spec"].get("policyTypes", ["Ingress"])]

    def isolated(self, pod: Pod, policy_type: str) -> bool:
        return bool(self._policies_for(pod, policy_type))

    def ingress_allowed(self, source: Pod, destination: Pod, port: int) -> bool:
        policies = self._policies_for(destination, "Ingress")
        return not policies or any(_rule_allows(rule, "from", source, port, NAMESPACE)
                                   for p in policies for rule in p["spec"].get("ingress", []))

    def egress_allowed(self, source: Pod, destination: Pod, port: int) -> bool:
        policies = self._policies_for(source, "Egress")
        return not policies or any(_rule_allows(rule, "to", destination, port, NAMESPACE)
                                   for p in policies for rule in p["spec"].get("egress", []))

    def allowed(self, source: Pod, destination: Pod, port: int) -> bool:
        return self.egress_allowed(source, destination, port) and self.ingress_allowed(source, destination, port)
