"""The Kubernetes half of scripts/check-deploy: deploy/k8s/*.yaml and the
overlays beside it. Here: each object on its own (1-3) and the run as a whole
(check_all). What needs several pods at once is in check_replicas.py (4),
the comparison with kubectl in kubectl_kustomize.py (5), and manifests.py
holds the loaded objects that all of them look things up in.

1. Built-in objects against the Kubernetes OpenAPI schemas (kubernetes-validate,
   strict: an unknown or misspelt field is an error, as `kubectl apply
   --validate=strict` would say) of the oldest and newest version we claim.
2. KEDA's ScaledObject and TriggerAuthentication, which those schemas do not
   have, against KEDA_SCHEMAS below: only the fields deploy/ uses, closed to
   others, plus what each scaler needs. KEDA's own CRD schema is ~100 KB of
   generated YAML and leaves `metadata` open, so it would catch less here;
   the HPA `behavior` inside a ScaledObject goes through Kubernetes' schema.
3. References the API server never checks at apply time and a pod only fails
   on later: Secrets and ConfigMaps and their keys, claims, `$(VAR)` in args,
   probe and Service ports, selectors, the ScaledObject's target, its
   authentication and metrics URL; kustomization.yaml's resources; and that
   committed Secrets hold placeholders only (a password in a URL too).
4. What only fails once a second pod runs (check_replicas.py): a ReadWriteOnce
   claim mounted by more than one replica or by a rolling update, a
   coordinator on SQLite (its database URL followed through `$(VAR)`, env and
   the Secret templates) with more than one replica or a rolling update,
   several coordinators on PostgreSQL that update by Recreate; coordinators
   sharing a database with different lease timeouts; a PodDisruptionBudget
   that selects no pods or blocks every drain; an anti-affinity term that
   selects no pods.
5. Overlays: every folder of deploy/ beside k8s/ with a kustomization.yaml
   (deploy/k8s-postgres). kustomize_lite.py renders it as kustomize would;
   the rendered objects and the overlay's own templates that it does not
   apply (secrets.example.yaml) go through 1-4, their references resolved
   against the overlay first, then the base's templates. Where kubectl is
   installed, `kubectl kustomize` renders the base and each overlay too and
   must give the same objects (kubectl_kustomize.py).
"""

import re
from pathlib import Path
from urllib.parse import urlparse

import jsonschema
import kubernetes_validate
import yaml

import kustomize_lite
from check_replicas import check_anti_affinity, check_disruption_budget, check_replicas
from kubectl_kustomize import kubectl_differs
from manifests import Manifests, describe, pods_selected

# Oldest Kubernetes still supported upstream when this was written, and the
# newest kubernetes-validate knows.
K8S_VERSIONS = ["1.32.0", "1.37.0"]
PLACEHOLDER = "REPLACE-ME"
SECRET_KEY_WORDS = re.compile(r"token|secret|password|key", re.I)

_STR = {"type": "string", "minLength": 1}
_INT = {"type": "integer", "minimum": 0}
_META = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
        "namespace": _STR,
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}
_TRIGGER = {
    "type": "object",
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "properties": {
        "type": _STR,
        "name": _STR,
        "useCachedMetrics": {"type": "boolean"},
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        # KEDA's CRD types trigger metadata as map[string]string: a bare YAML
        # number here is refused by the API server.
        "metadata": {"type": "object", "additionalProperties": {"type": "string"}},
        "authenticationRef": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": _STR,
                "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]},
            },
        },
    },
}
KEDA_SCHEMAS = {
    "ScaledObject": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "ScaledObject"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "required": ["scaleTargetRef", "triggers"],
                "additionalProperties": False,
                "properties": {
                    "scaleTargetRef": {
                        "type": "object",
                        "required": ["name"],
                        "additionalProperties": False,
                        "properties": {"apiVersion": _STR, "kind": _STR, "name": _STR,
                                       "envSourceContainerName": _STR},
                    },
                    "pollingInterval": {"type": "integer", "minimum": 1},
                    "cooldownPeriod": _INT,
                    "initialCooldownPeriod": _INT,
                    "idleReplicaCount": _INT,
                    "minReplicaCount": _INT,
                    "maxReplicaCount": {"type": "integer", "minimum": 1},
                    "fallback": {
                        "type": "object",
                        "required": ["failureThreshold", "replicas"],
                        "properties": {"failureThreshold": _INT, "replicas": _INT,
                                       "behavior": _STR},
                        "additionalProperties": False,
                    },
                    "advanced": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "restoreToOriginalReplicaCount": {"type": "boolean"},
                            "horizontalPodAutoscalerConfig": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {"name": _STR, "behavior": {"type": "object"}},
                            },
                        },
                    },
                    "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
                },
            },
        },
    },
    "TriggerAuthentication": {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "keda.sh/v1alpha1"},
            "kind": {"const": "TriggerAuthentication"},
            "metadata": _META,
            "spec": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": False,
                "properties": {
                    "secretTargetRef": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["parameter", "name", "key"],
                            "additionalProperties": False,
                            "properties": {"parameter": _STR, "name": _STR, "key": _STR},
                        },
                    },
                },
            },
        },
    },
}
# Per scaler: metadata it cannot do without, allowed values, and the
# TriggerAuthentication parameter each auth mode reads.
SCALERS = {
    "metrics-api": {
        "required": ["url", "valueLocation", "targetValue"],
        "numbers": ["targetValue", "activationTargetValue"],
        "enums": {"format": {"json", "xml", "yaml", "prometheus"},
                  "authMode": {"apiKey", "basic", "tls", "bearer"}},
        "auth_key": "authMode",
        "auth_params": {"bearer": ["token"], "basic": ["username"], "apiKey": ["apiKey"],
                        "tls": ["ca", "cert", "key"]},
        "url_key": "url",
    },
    "prometheus": {
        "required": ["serverAddress", "query", "threshold"],
        "numbers": ["threshold", "activationThreshold"],
        "enums": {"authModes": {"basic", "bearer", "tls", "custom"}},
        "auth_key": "authModes",
        "auth_params": {"bearer": ["bearerToken"], "basic": ["username"],
                        "tls": ["ca", "cert", "key"], "custom": ["customAuthValue"]},
        "url_key": None,
    },
}


def where(err) -> str:
    return ".".join(str(p) for p in err.absolute_path) or "(top)"


def check_schemas(m: Manifests):
    for file, obj in m.objects:
        kind = obj.get("kind")
        if kind in KEDA_SCHEMAS:
            for err in jsonschema.Draft7Validator(KEDA_SCHEMAS[kind]).iter_errors(obj):
                m.fail(file, f"{describe(obj)}: {where(err)}: {err.message}")
            behavior = (((obj.get("spec") or {}).get("advanced") or {})
                        .get("horizontalPodAutoscalerConfig") or {}).get("behavior")
            if behavior is not None:
                hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                       "metadata": {"name": "behavior-check"},
                       "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "x"},
                                "maxReplicas": 1, "behavior": behavior}}
                validate_builtin(m, file, obj, hpa, "spec.advanced.horizontalPodAutoscalerConfig.")
            continue
        if isinstance(kind, str) and (obj.get("apiVersion") or "").startswith("keda.sh/"):
            m.fail(file, f"{describe(obj)}: a KEDA kind this check does not know")
            continue
        validate_builtin(m, file, obj, obj, "")


def validate_builtin(m: Manifests, file: str, obj, doc, prefix: str):
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            # It carries the jsonschema error's path and message.
            m.fail(file, f"{describe(obj)} (Kubernetes {version}): {prefix}{where(e)}: "
                         f"{e.message}")
            return
        except (kubernetes_validate.SchemaNotFoundError,
                kubernetes_validate.InvalidSchemaError,
                kubernetes_validate.utils.VersionNotSupportedError) as e:
            m.fail(file, f"{describe(obj)} (Kubernetes {version}): {e.message}")
            return


def secret_keys(obj) -> set:
    return set((obj.get("stringData") or {}).keys()) | set((obj.get("data") or {}).keys())


def check_pod_template(m: Manifests, file: str, obj):
    spec = obj.get("spec") or {}
    ns = m.ns(obj)
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        m.fail(file, f"{describe(obj)}: selector {selector} does not match the pod labels {labels}")
    pod = template.get("spec") or {}
    volumes = {v.get("name"): v for v in pod.get("volumes") or []}
    for name, v in volumes.items():
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and not m.find("PersistentVolumeClaim", claim, ns):
            m.fail(file, f"{describe(obj)}: volume {name} claims {claim}, which no manifest defines")
    for c in pod.get("containers") or []:
        cname = c.get("name")
        here = f"{describe(obj)}: container {cname}"
        env_names = set()
        for e in c.get("env") or []:
            env_names.add(e.get("name"))
            src = e.get("valueFrom") or {}
            for ref_kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                ref = src.get(field)
                if not ref or ref.get("optional"):
                    continue
                target = m.find(ref_kind, ref.get("name"), ns)
                if target is None:
                    m.fail(file, f"{here}: env {e.get('name')} reads {ref_kind} "
                                 f"{ref.get('name')}, which no manifest defines")
                elif ref_kind == "Secret" and ref.get("key") not in secret_keys(target):
                    m.fail(file, f"{here}: env {e.get('name')} reads key {ref.get('key')} "
                                 f"that Secret {ref.get('name')} does not have")
                elif ref_kind == "ConfigMap" and ref.get("key") not in (target.get("data") or {}):
                    m.fail(file, f"{here}: env {e.get('name')} reads key {ref.get('key')} "
                                 f"that ConfigMap {ref.get('name')} does not have")
            res = src.get("resourceFieldRef")
            if res and res.get("containerName", cname) != cname:
                m.fail(file, f"{here}: resourceFieldRef names another container")
        # Kubernetes leaves an undefined $(VAR) in args as literal text.
        for arg in (c.get("command") or []) + (c.get("args") or []):
            for var in re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", str(arg)):
                if var not in env_names:
                    m.fail(file, f"{here}: argument {arg!r} uses $({var}), which env does not define")
        ports = {p.get("name") for p in c.get("ports") or []}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            port = ((c.get(probe) or {}).get("httpGet") or {}).get("port")
            if isinstance(port, str) and port not in ports:
                m.fail(file, f"{here}: {probe} uses port {port!r}, not a named port of the container")
        for mount in c.get("volumeMounts") or []:
            if mount.get("name") not in volumes:
                m.fail(file, f"{here}: volumeMount {mount.get('name')} has no volume")


def check_service(m: Manifests, file: str, svc):
    ns = m.ns(svc)
    spec = svc.get("spec") or {}
    pods = list(pods_selected(m, spec.get("selector") or {}, ns))
    if not pods:
        m.fail(file, f"{describe(svc)}: selector {spec.get('selector')} matches no Deployment's pods")
        return
    for p in spec.get("ports") or []:
        target = p.get("targetPort")
        if isinstance(target, str):
            for d in pods:
                names = {cp.get("name") for c in d["spec"]["template"]["spec"].get("containers", [])
                         for cp in c.get("ports") or []}
                if target not in names:
                    m.fail(file, f"{describe(svc)}: port {p.get('name')} targets {target!r}, "
                                 f"which {describe(d)} does not name")


def check_scaled_object(m: Manifests, file: str, so):
    ns = m.ns(so)
    spec = so.get("spec") or {}
    target = (spec.get("scaleTargetRef") or {}).get("name")
    deployment = m.find("Deployment", target, ns)
    if deployment is None:
        m.fail(file, f"{describe(so)}: scaleTargetRef {target} is no Deployment of the manifests")
    elif "replicas" in (deployment.get("spec") or {}):
        m.fail(file, f"{describe(so)}: {describe(deployment)} sets replicas, which would "
                     "fight the autoscaler on every apply")
    if spec.get("minReplicaCount", 0) > spec.get("maxReplicaCount", 100):
        m.fail(file, f"{describe(so)}: minReplicaCount above maxReplicaCount")
    for i, t in enumerate(spec.get("triggers") or []):
        here = f"{describe(so)}: triggers.{i} ({t.get('type')})"
        scaler = SCALERS.get(t.get("type"))
        if scaler is None:
            m.fail(file, f"{here}: a scaler type this check does not know")
            continue
        meta = t.get("metadata") or {}
        for key in scaler["required"]:
            if not meta.get(key):
                m.fail(file, f"{here}: metadata.{key} is required")
        for key in scaler["numbers"]:
            if key in meta:
                try:
                    float(meta[key])
                except (TypeError, ValueError):
                    m.fail(file, f"{here}: metadata.{key} {meta[key]!r} is not a number")
        for key, allowed in scaler["enums"].items():
            for value in str(meta.get(key, "")).split(","):
                if value.strip() and value.strip() not in allowed:
                    m.fail(file, f"{here}: metadata.{key} {value!r}: use one of {sorted(allowed)}")
        modes = [v.strip() for v in str(meta.get(scaler["auth_key"], "")).split(",") if v.strip()]
        ref = t.get("authenticationRef")
        if modes and not ref:
            m.fail(file, f"{here}: {scaler['auth_key']} set without an authenticationRef")
        if ref:
            check_trigger_auth(m, file, here, ns, ref.get("name"),
                               [p for mode in modes for p in scaler["auth_params"].get(mode, [])])
        if scaler["url_key"] and meta.get(scaler["url_key"]):
            check_service_url(m, file, here, ns, meta[scaler["url_key"]])


def check_trigger_auth(m: Manifests, file, here, ns, name, needed_params):
    auth = m.find("TriggerAuthentication", name, ns)
    if auth is None:
        m.fail(file, f"{here}: authenticationRef {name} is no TriggerAuthentication of the manifests")
        return
    refs = (auth.get("spec") or {}).get("secretTargetRef") or []
    params = {r.get("parameter") for r in refs}
    for p in needed_params:
        if p not in params:
            m.fail(file, f"{here}: its auth mode reads parameter {p!r}, which "
                         f"TriggerAuthentication {name} does not give")
    for r in refs:
        secret = m.find("Secret", r.get("name"), ns)
        if secret is None:
            m.fail(file, f"TriggerAuthentication/{name}: Secret {r.get('name')} is defined nowhere")
        elif r.get("key") not in secret_keys(secret):
            m.fail(file, f"TriggerAuthentication/{name}: Secret {r.get('name')} has no key {r.get('key')}")


def check_service_url(m: Manifests, file, here, ns, url):
    """A URL naming SERVICE[.NAMESPACE[.svc…]]:PORT must name a Service port of the manifests."""
    u = urlparse(url)
    parts = (u.hostname or "").split(".")
    if len(parts) > 2 and parts[2] != "svc":
        return  # not an in-cluster Service name
    svc_ns = parts[1] if len(parts) > 1 else ns
    svc = m.find("Service", parts[0], svc_ns)
    if svc is None:
        m.fail(file, f"{here}: {url} names Service {parts[0]}.{svc_ns}, which no manifest defines")
        return
    ports = {p.get("port") for p in (svc.get("spec") or {}).get("ports") or []}
    if u.port not in ports:
        m.fail(file, f"{here}: {url}: Service {parts[0]} has no port {u.port}")


def check_secrets_are_placeholders(m: Manifests, file: str, secret):
    if secret.get("data"):
        m.fail(file, f"{describe(secret)}: use stringData with {PLACEHOLDER} values, not data "
                     "(base64 hides what is committed)")
    for key, value in (secret.get("stringData") or {}).items():
        if SECRET_KEY_WORDS.search(key) and PLACEHOLDER not in str(value):
            m.fail(file, f"{describe(secret)}: {key} holds a value, not the placeholder "
                         f"{PLACEHOLDER}: never commit secrets")
        # postgres://USER:PASSWORD@HOST/DB: the password must be the placeholder.
        try:
            password = urlparse(str(value)).password
        except ValueError:
            password = None
        if password is not None and PLACEHOLDER not in password:
            m.fail(file, f"{describe(secret)}: {key} is a URL with a password, not the "
                         f"placeholder {PLACEHOLDER}: never commit secrets")


def check_kustomization(m: Manifests):
    resources = m.kustomization.get("resources") or []
    seen = {}
    for r in resources:
        path = m.dir / r
        if not path.is_file():
            m.fail("kustomization.yaml", f"resource {r} does not exist")
    for file, obj in m.objects:
        if file in resources:
            key = (obj.get("kind"), m.ns(obj), (obj.get("metadata") or {}).get("name"))
            if key in seen:
                m.fail(file, f"{describe(obj)} also defined in {seen[key]}")
            seen[key] = file
            if obj.get("kind") == "Secret":
                m.fail(file, f"{describe(obj)}: Secrets must not be applied by kustomization.yaml "
                             "(their values are placeholders)")
        ns = (obj.get("metadata") or {}).get("namespace")
        if obj.get("kind") != "Namespace" and ns and ns != m.namespace:
            m.fail(file, f"{describe(obj)}: namespace {ns}, but kustomization.yaml says {m.namespace}")


# --- Putting it together --------------------------------------------------------

WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")


def check_objects(m: Manifests):
    check_schemas(m)
    for file, obj in m.objects:
        kind = obj.get("kind")
        if kind in WORKLOADS:
            check_pod_template(m, file, obj)
            check_anti_affinity(m, file, obj)
        elif kind == "Service":
            check_service(m, file, obj)
        elif kind == "ScaledObject":
            check_scaled_object(m, file, obj)
        elif kind == "Secret":
            check_secrets_are_placeholders(m, file, obj)
        elif kind == "PodDisruptionBudget":
            check_disruption_budget(m, file, obj)
    check_replicas(m)


def check(k8s_dir: Path, problems: list) -> Manifests:
    m = Manifests.load(k8s_dir, problems)
    check_objects(m)
    check_kustomization(m)
    return m


def overlays(deploy_dir: Path) -> list:
    return sorted(p.parent for p in deploy_dir.glob("*/kustomization.yaml") if p.parent.name != "k8s")


def check_overlay(folder: Path, base: Manifests, problems: list):
    """Renders the overlay FOLDER and checks the result; returns the Manifests
    or None when it cannot be rendered."""
    label = f"{folder.name}/kustomization.yaml"
    try:
        rendered = kustomize_lite.render(folder, folder.parent)
    except (kustomize_lite.Unsupported, OSError, yaml.YAMLError) as e:
        problems.append(f"{label}: cannot render: {e}")
        return None
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text()) or {}
    m = Manifests(problems, [(f"{folder.name} ({r.origin})", r.obj) for r in rendered],
                  kust.get("namespace") or base.namespace, "")
    # The overlay's files that it neither applies nor patches with: templates
    # such as secrets.example.yaml, checked and looked up like the base's.
    used = {"kustomization.yaml"} | {str(r) for r in kust.get("resources") or []} \
        | {str(p.get("path")) for p in kust.get("patches") or [] if isinstance(p, dict)}
    for path in sorted(folder.glob("*.yaml")):
        if path.name not in used:
            for doc in m.read(path, f"{folder.name}/{path.name}"):
                m.objects.append((f"{folder.name}/{path.name}", doc))
                if doc.get("kind") != "Namespace" and m.ns(doc) != m.namespace:
                    m.fail(f"{folder.name}/{path.name}", f"{describe(doc)}: namespace {m.ns(doc)}, "
                                                         f"but {label} says {m.namespace}")
    # The base's files that its kustomization does not apply (its Secret
    # templates): what the overlay does not define itself is looked up there.
    applied = set(base.kustomization.get("resources") or [])
    m.context = [(f"k8s/{f}", o) for f, o in base.objects if f not in applied]
    for r in rendered:
        if r.obj.get("kind") == "Secret":
            m.fail(f"{folder.name} ({r.origin})", f"{describe(r.obj)}: Secrets must not be "
                                                  "applied by a kustomization (their values are "
                                                  "placeholders)")
    check_objects(m)
    m.rendered = rendered
    return m


def check_all(deploy_dir: Path, problems: list) -> list:
    """Checks deploy/k8s and every overlay; returns lines that say what was checked."""
    base = check(deploy_dir / "k8s", problems)
    lines = [f"k8s: {len(base.objects)} objects, Kubernetes {' and '.join(K8S_VERSIONS)}"]
    try:
        base_rendered = kustomize_lite.render(deploy_dir / "k8s", deploy_dir)
    except (kustomize_lite.Unsupported, OSError, yaml.YAMLError) as e:
        problems.append(f"k8s/kustomization.yaml: cannot render: {e}")
        base_rendered = None
    renderings = [("k8s", deploy_dir / "k8s", base_rendered)]
    for folder in overlays(deploy_dir):
        m = check_overlay(folder, base, problems)
        renderings.append((folder.name, folder, m and m.rendered))
        if m:
            lines.append(f"{folder.name}: overlay rendered to {len(m.rendered)} objects "
                         f"(+{len(m.objects) - len(m.rendered)} templates), same checks")
    compared = []
    for name, folder, rendered in renderings:
        if rendered is None:
            continue
        diff = kubectl_differs(folder, rendered)
        if diff is None:
            break
        if diff:
            problems.append(f"{name}/kustomization.yaml: this renderer and kubectl kustomize "
                            f"disagree: {diff}")
        compared.append(name)
    lines.append(f"kubectl kustomize: same objects for {', '.join(compared)}" if compared
                 else "kubectl kustomize: not installed, rendered by kustomize_lite.py only")
    return lines
