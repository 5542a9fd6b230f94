"""What only fails once a second pod runs, so no single object shows it and
the API server accepts it: a ReadWriteOnce claim mounted by more than one
replica or by a rolling update; a coordinator on SQLite with more than one
replica or a rolling update, or with its file on no persistent volume;
several coordinators on PostgreSQL that update by Recreate; coordinators
sharing a database with different lease timeouts; a PodDisruptionBudget that
selects no pods or blocks every drain; an anti-affinity term that selects no
pods.

A coordinator's database URL and lease timeout are followed the way its pod
would see them (args, `$(VAR)`, env, the Secret and ConfigMap templates):
they usually sit in a Secret, not in the Deployment. check_k8s.py runs these
on the base and on every overlay's rendering alike.
"""

import base64
import re

from manifests import Manifests, describe, pods_selected

ONE_NODE = {"ReadWriteOnce", "ReadWriteOncePod"}
DEFAULT_LEASE_TIMEOUT = "30"  # seconds, CoordinatorConfig::DEFAULT_LEASE_TIMEOUT


def max_replicas(m: Manifests, obj):
    """How many pods of a Deployment may run at once (not counting the surge of
    an update), and how that is known."""
    spec = obj.get("spec") or {}
    name = (obj.get("metadata") or {}).get("name")
    for _, o in m.objects:
        if m.ns(o) != m.ns(obj):
            continue
        ospec = o.get("spec") or {}
        if o.get("kind") == "ScaledObject" and (ospec.get("scaleTargetRef") or {}).get("name") == name:
            return ospec.get("maxReplicaCount", 100), f"ScaledObject/{o['metadata']['name']}"
        if o.get("kind") == "HorizontalPodAutoscaler" \
                and (ospec.get("scaleTargetRef") or {}).get("name") == name:
            return ospec.get("maxReplicas", 1), f"HorizontalPodAutoscaler/{o['metadata']['name']}"
    return spec.get("replicas", 1), "replicas"


def flag(words: list, name: str):
    """The value of --NAME=V or --NAME V among a container's words, the last one winning."""
    value = None
    for i, w in enumerate(words):
        if w.startswith(f"--{name}="):
            value = w.split("=", 1)[1]
        elif w == f"--{name}" and i + 1 < len(words):
            value = words[i + 1]
    return value


def env_value(m: Manifests, ns: str, container, name: str):
    """The value of the container's env NAME as the pod would see it, followed
    into Secrets (their templates) and ConfigMaps; None when unknown."""
    for e in container.get("env") or []:
        if e.get("name") != name:
            continue
        if "value" in e:
            return str(e["value"])
        src = e.get("valueFrom") or {}
        for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
            ref = src.get(field)
            if ref:
                target = m.find(kind, ref.get("name"), ns)
                if target is None:
                    return None
                key = ref.get("key")
                if kind == "ConfigMap":
                    value = (target.get("data") or {}).get(key)
                elif key in (target.get("stringData") or {}):
                    value = target["stringData"][key]
                else:
                    try:
                        value = base64.b64decode(str((target.get("data") or {})[key])).decode()
                    except (KeyError, ValueError):
                        value = None
                return None if value is None else str(value)
        return None
    return None


def expand(m: Manifests, ns: str, container, text: str):
    """TEXT with each $(VAR) replaced by the env's value; None when one is unknown."""
    unknown = []

    def one(match):
        value = env_value(m, ns, container, match.group(1))
        if value is None:
            unknown.append(match.group(1))
            return ""
        return value
    out = re.sub(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, text)
    return None if unknown else out


def coordinator_words(container):
    """The words after `stylefarm coordinator`, or None for any other program."""
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    if words and words[0].endswith("stylefarm"):
        words = words[1:]
    return words[1:] if words[:1] == ["coordinator"] else None


def database(m: Manifests, ns: str, container, words: list):
    """(kind, url, whence) of a coordinator's database: kind is sqlite,
    postgres, a wrong scheme, or None when the URL cannot be known here.
    Decided as coordinator/src/db/mod.rs's kind() does."""
    raw, whence = flag(words, "db"), "--db"
    if raw is None:
        raw, whence = env_value(m, ns, container, "STYLEFARM_DB"), "env STYLEFARM_DB"
        if raw is None and not any(e.get("name") == "STYLEFARM_DB" for e in container.get("env") or []):
            return "sqlite", None, "the default (a SQLite file in the data folder)"
    url = None if raw is None else expand(m, ns, container, raw)
    if url is None:
        return None, None, whence
    # Say which Secret it came from, when it did.
    names = re.findall(r"(?<!\$)\$\(([A-Za-z_][A-Za-z0-9_]*)\)", raw) if whence == "--db" \
        else ["STYLEFARM_DB"]
    for e in container.get("env") or []:
        ref = (e.get("valueFrom") or {}).get("secretKeyRef")
        if ref and e.get("name") in names:
            whence += f" from Secret {ref.get('name')} key {ref.get('key')}"
    scheme, sep, _ = url.partition(":")
    if sep and scheme in ("postgres", "postgresql"):
        return "postgres", url, whence
    if sep and scheme != "sqlite" and "://" in url:
        return f"{scheme}://", url, whence
    return "sqlite", url, whence


def sqlite_path(url: str):
    if url.startswith("sqlite://"):
        path = url[len("sqlite://"):]
    elif url.startswith("sqlite:"):
        path = url[len("sqlite:"):]
    else:
        path = url
    return path.split("?", 1)[0]


def check_replicas(m: Manifests):
    lease_timeouts = {}  # (namespace, database URL) -> {lease timeout: Deployment}
    for file, obj in m.objects:
        if obj.get("kind") != "Deployment":
            continue
        ns = m.ns(obj)
        spec = obj.get("spec") or {}
        replicas, how = max_replicas(m, obj)
        many = f"{replicas} replicas" if how == "replicas" else f"up to {replicas} replicas ({how})"
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        pod = (spec.get("template") or {}).get("spec") or {}
        volumes = {v.get("name"): v for v in pod.get("volumes") or []}
        claims = {}  # volume name -> claim name, of one-node claims
        for vname, v in volumes.items():
            claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
            pvc = m.find("PersistentVolumeClaim", claim, ns) if claim else None
            modes = set((pvc or {}).get("spec", {}).get("accessModes") or [])
            if modes and modes <= ONE_NODE:
                claims[vname] = claim
                if replicas > 1:
                    m.fail(file, f"{describe(obj)}: {many} mount the ReadWriteOnce claim {claim} "
                                 f"(volume {vname}): pods on other nodes cannot attach it; keep "
                                 "the state in a shared database and use an emptyDir")
                elif strategy != "Recreate":
                    m.fail(file, f"{describe(obj)}: strategy {strategy} with the ReadWriteOnce "
                                 f"claim {claim}: the new pod starts while the old one holds it; "
                                 "use Recreate")
        for c in pod.get("containers") or []:
            words = coordinator_words(c)
            if words is None:
                continue
            here = f"{describe(obj)}: container {c.get('name')}"
            kind, url, whence = database(m, ns, c, words)
            if kind is None:
                continue  # unknown value: the reference checks say why
            if kind == "sqlite":
                if replicas > 1:
                    m.fail(file, f"{here}: {many} on one SQLite database ({whence}): SQLite "
                                 "serves one coordinator; use a postgres:// URL (docs/deploy.md)")
                elif strategy != "Recreate":
                    m.fail(file, f"{here}: strategy {strategy} on a SQLite database ({whence}): "
                                 "an update would run two coordinators on it; use Recreate")
                if url is not None:
                    path = sqlite_path(url)
                    mounts = [mt for mt in c.get("volumeMounts") or []
                              if path.startswith(mt.get("mountPath", "").rstrip("/") + "/")]
                    if not any(mt.get("name") in claims or
                               "persistentVolumeClaim" in (volumes.get(mt.get("name")) or {})
                               for mt in mounts):
                        m.fail(file, f"{here}: the SQLite database {path} ({whence}) is on no "
                                     "persistent volume: a restart would lose the farm's state")
            elif kind == "postgres":
                if replicas > 1 and strategy == "Recreate":
                    m.fail(file, f"{here}: {many} on PostgreSQL with strategy Recreate: every "
                                 "update stops all of them at once; use RollingUpdate")
                timeout = flag(words, "lease-timeout") \
                    or env_value(m, ns, c, "STYLEFARM_FARM__LEASE_TIMEOUT") or DEFAULT_LEASE_TIMEOUT
                lease_timeouts.setdefault((ns, url), {}).setdefault(timeout, describe(obj))
            else:
                m.fail(file, f"{here}: database URL scheme {kind} ({whence}): the coordinator "
                             "takes sqlite:PATH or postgres://")
    for (_, url), seen in lease_timeouts.items():
        if len(seen) > 1:
            m.fail("(coordinators)", f"coordinators share {url} with different lease timeouts "
                   f"{sorted(seen.items())}: they must use the same lease_timeout")


def check_disruption_budget(m: Manifests, file: str, pdb):
    spec = pdb.get("spec") or {}
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    pods = list(pods_selected(m, selector, m.ns(pdb)))
    if not pods:
        m.fail(file, f"{describe(pdb)}: selector {selector} matches no Deployment's pods")
    for d in pods:
        replicas, how = max_replicas(m, d)
        if how != "replicas":
            continue
        low = spec.get("minAvailable")
        if isinstance(low, int) and low >= replicas:
            m.fail(file, f"{describe(pdb)}: minAvailable {low} with {replicas} replicas of "
                         f"{describe(d)}: no node drain could ever evict one")
        if spec.get("maxUnavailable") in (0, "0%"):
            m.fail(file, f"{describe(pdb)}: maxUnavailable 0: no node drain could ever evict "
                         f"a pod of {describe(d)}")


def check_anti_affinity(m: Manifests, file: str, obj):
    anti = (((obj.get("spec") or {}).get("template") or {}).get("spec") or {}) \
        .get("affinity", {}).get("podAntiAffinity") or {}
    terms = [t for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or []] + \
        [(t or {}).get("podAffinityTerm") or {}
         for t in anti.get("preferredDuringSchedulingIgnoredDuringExecution") or []]
    for t in terms:
        selector = (t.get("labelSelector") or {}).get("matchLabels") or {}
        if selector and not list(pods_selected(m, selector, m.ns(obj))):
            m.fail(file, f"{describe(obj)}: podAntiAffinity selects {selector}, no Deployment's "
                         "pods: it spreads nothing")
