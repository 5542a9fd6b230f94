"""A small kustomize for scripts/check-deploy: renders a kustomization the way
`kubectl kustomize` (kustomize v5) does, for exactly the features deploy/
uses, so that CI can validate what `kubectl apply -k` would send without
kubectl. PyPI has no kustomize that runs here; where kubectl is installed,
kubectl_kustomize.py compares this rendering with `kubectl kustomize`'s and
reports any difference.

Supported, and nothing else (any other field or directive raises
Unsupported; nothing is silently ignored):

- kustomization.yaml with apiVersion kustomize.config.k8s.io/v1beta1 and
  kind Kustomization (both optional);
- `resources`: YAML files (several documents each) and folders holding a
  kustomization.yaml, rendered first, recursively; no URLs, no components,
  no generators. Two objects of the same apiVersion group, kind, namespace
  and name are an error, as in kustomize;
- `patches`, applied in order, each from `path` or an inline `patch`:
  - a strategic-merge patch (a mapping with kind and metadata.name), applied
    to the object of that kind, name and namespace (none if the patch names
    none, as in kustomize), or to those `target` selects. Mappings merge recursively and a
    null deletes a key; `$patch: delete` at the top removes the object. Lists
    merge by key for the fields of MERGE_KEYS (Kubernetes' patchMergeKey;
    the patch's items first, then the base's others, as kustomize orders
    them) and are replaced whole otherwise, which is Kubernetes' rule for
    atomic lists (args, tolerations, affinity terms). Any other `$`
    directive (`$patch` inside, `$retainKeys`, `$setElementOrder`, ...) is
    refused. Known difference: kustomize matches container ports by port and
    protocol, with defaults this does not model; only the kubectl comparison
    would see a patch of them;
  - a JSON 6902 patch (a list of operations add, remove, replace and test;
    no move or copy), applied to the objects `target` selects;
  - `target` selects by kind, name (a regular expression matched whole, as
    kustomize does), namespace, group and version; label and annotation
    selectors are refused;
- `namespace`: set on every object but the cluster-scoped kinds of
  CLUSTER_SCOPED; a Namespace object is renamed to it (as kustomize does);
- `images` (what `kustomize edit set image` writes): name -> newName,
  newTag or digest, on every container and initContainer.

Objects come back in the order their files name them (kustomize sorts by
kind); the checks do not depend on order.
"""

import copy
import re
from pathlib import Path

import yaml


class Unsupported(Exception):
    """The kustomization uses something this renderer does not do (or is wrong)."""


FIELDS = {"apiVersion", "kind", "namespace", "resources", "patches", "images"}
PATCH_FIELDS = {"path", "patch", "target"}
TARGET_FIELDS = {"kind", "name", "namespace", "group", "version"}
IMAGE_FIELDS = {"name", "newName", "newTag", "digest"}
CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "StorageClass", "PriorityClass", "RuntimeClass",
    "IngressClass", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "APIService",
    "CSIDriver", "VolumeAttachment", "ClusterTriggerAuthentication",
}
# Lists that a strategic-merge patch merges item by item, by this key. "ports"
# depends on where it is: a container's merge by containerPort, a Service's
# by port.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "volumes": "name", "imagePullSecrets": "name", "resourceClaims": "name",
    "schedulingGates": "name", "env": "name", "volumeMounts": "mountPath",
    "volumeDevices": "devicePath", "hostAliases": "ip", "topologySpreadConstraints": "topologyKey",
}
CONTAINER_LISTS = {"containers", "initContainers", "ephemeralContainers"}


class Rendered:
    """One object of the output and where it came from."""

    def __init__(self, obj: dict, origin: str):
        self.obj = obj
        self.origin = origin  # file that defined it, then each patch applied

    def id(self):
        meta = self.obj.get("metadata") or {}
        group = str(self.obj.get("apiVersion", "")).rpartition("/")[0]
        return (group, self.obj.get("kind"), meta.get("namespace"), meta.get("name"))


def render(folder: Path, root: Path = None, _seen=()) -> list:
    """The objects `kubectl kustomize FOLDER` would print, as Rendered; origins
    are paths relative to ROOT (FOLDER's parent by default)."""
    folder = folder.resolve()
    root = (root or folder.parent).resolve()
    if folder in _seen:
        raise Unsupported(f"{folder}: a cycle of kustomizations")
    kfile = folder / "kustomization.yaml"
    if not kfile.is_file():
        raise Unsupported(f"{rel(folder, root)}: no kustomization.yaml")
    k = yaml.safe_load(kfile.read_text()) or {}
    here = rel(kfile, root)
    if not isinstance(k, dict):
        raise Unsupported(f"{here}: not a mapping")
    unknown = set(k) - FIELDS
    if unknown:
        raise Unsupported(f"{here}: field(s) {sorted(unknown)} not supported by this renderer")
    if k.get("apiVersion", "kustomize.config.k8s.io/v1beta1") != "kustomize.config.k8s.io/v1beta1" \
            or k.get("kind", "Kustomization") != "Kustomization":
        raise Unsupported(f"{here}: not a kustomize.config.k8s.io/v1beta1 Kustomization")

    out = []
    for res in k.get("resources") or []:
        if not isinstance(res, str) or "://" in res or res.startswith(("github.com/", "git@")):
            raise Unsupported(f"{here}: resource {res!r}: only local files and folders")
        path = (folder / res).resolve()
        if path.is_dir():
            out += render(path, root, _seen + (folder,))
        elif path.is_file():
            for doc in yaml.safe_load_all(path.read_text()):
                if doc is None:
                    continue
                if not isinstance(doc, dict) or "kind" not in doc:
                    raise Unsupported(f"{rel(path, root)}: a document that is not an object")
                out.append(Rendered(doc, rel(path, root)))
        else:
            raise Unsupported(f"{here}: resource {res} does not exist")
    seen = {}
    for r in out:
        if r.id() in seen:
            raise Unsupported(f"{here}: {r.obj['kind']}/{r.obj['metadata'].get('name')} defined "
                              f"twice ({seen[r.id()]} and {r.origin})")
        seen[r.id()] = r.origin

    for i, p in enumerate(k.get("patches") or []):
        out = apply_patch(folder, root, f"{here} patches[{i}]", p, out)
    if k.get("namespace"):
        set_namespace(out, k["namespace"])
    for i, image in enumerate(k.get("images") or []):
        set_image(out, image, f"{here} images[{i}]")
    return out


def rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def apply_patch(folder: Path, root: Path, where: str, p, objects: list) -> list:
    if not isinstance(p, dict) or set(p) - PATCH_FIELDS or ("path" in p) == ("patch" in p):
        raise Unsupported(f"{where}: give exactly one of path and patch (and maybe target)")
    if "path" in p:
        path = (folder / p["path"]).resolve()
        if folder not in path.parents:
            raise Unsupported(f"{where}: {p['path']} is outside {folder.name}/ (kustomize refuses it)")
        text, label = path.read_text(), rel(path, root)
    else:
        text, label = p["patch"], where
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    if len(docs) != 1:
        raise Unsupported(f"{label}: one patch per file or inline patch, found {len(docs)}")
    patch = docs[0]
    target = p.get("target")
    if target is not None and (not isinstance(target, dict) or set(target) - TARGET_FIELDS):
        raise Unsupported(f"{where}: target may only name {sorted(TARGET_FIELDS)}")

    if isinstance(patch, list):
        if target is None:
            raise Unsupported(f"{where}: a JSON 6902 patch needs a target")
        selected = [r for r in objects if selects(target, r.obj)]
        if not selected:
            raise Unsupported(f"{where}: target {target} selects no object")
        for r in selected:
            r.obj = json6902(r.obj, patch, label)
            r.origin += f" + {label}"
        return objects
    if not isinstance(patch, dict) or "kind" not in patch or \
            not (patch.get("metadata") or {}).get("name"):
        raise Unsupported(f"{label}: neither a strategic-merge patch (kind, metadata.name) "
                          "nor a JSON 6902 list")
    if target is None:
        # As kustomize: the patch's namespace, or none, must be the object's.
        meta = patch["metadata"]
        target = {"kind": patch["kind"], "name": re.escape(meta["name"]),
                  "namespace": meta.get("namespace")}
    selected = [r for r in objects if selects(target, r.obj)]
    if not selected:
        raise Unsupported(f"{label}: patches {patch['kind']}/{patch['metadata']['name']}, "
                          "which no resource defines")
    body = dict(patch)
    directive = body.pop("$patch", None)
    if directive == "delete":
        if set(body) - {"apiVersion", "kind", "metadata"}:
            raise Unsupported(f"{label}: $patch: delete with other fields")
        return [r for r in objects if r not in selected]
    if directive is not None:
        raise Unsupported(f"{label}: $patch: {directive} not supported")
    for r in selected:
        r.obj = merge(r.obj, body, (), r.obj.get("kind"), label)
        r.origin += f" + {label}"
    return objects


def selects(target: dict, obj: dict) -> bool:
    meta = obj.get("metadata") or {}
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    if "kind" in target and target["kind"] != obj.get("kind"):
        return False
    if "name" in target and not re.fullmatch(target["name"], meta.get("name") or ""):
        return False
    if "namespace" in target and target["namespace"] != meta.get("namespace"):
        return False
    if "group" in target and target["group"] != group:
        return False
    return "version" not in target or target["version"] == version


def merge(base, patch, path: tuple, kind: str, label: str):
    """Strategic merge of PATCH into BASE (a copy is returned)."""
    if isinstance(patch, dict):
        for key in patch:
            if isinstance(key, str) and key.startswith("$"):
                raise Unsupported(f"{label}: directive {key} at {'.'.join(path) or '(top)'} "
                                  "not supported")
        if not isinstance(base, dict):
            return strip_nulls(patch)
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if value is None:
                out.pop(key, None)
            elif key in out:
                out[key] = merge(out[key], value, path + (key,), kind, label)
            else:
                out[key] = strip_nulls(value)
        return out
    if isinstance(patch, list):
        key = merge_key(path, kind)
        if key is None or not isinstance(base, list):
            return strip_nulls(patch)
        # kustomize's order: the patch's items first, in its order (merged
        # with the base's item of the same key), then the base's other items.
        out, keys = [], []
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                raise Unsupported(f"{label}: an item of {'.'.join(path)} without its merge key {key}")
            old = [b for b in base if isinstance(b, dict) and b.get(key) == item[key]]
            out.append(merge(old[0], item, path, kind, label) if old else strip_nulls(item))
            keys.append(item[key])
        return out + [copy.deepcopy(b) for b in base
                      if not (isinstance(b, dict) and b.get(key) in keys)]
    return patch


def merge_key(path: tuple, kind: str):
    if not path:
        return None
    field = path[-1]
    if field == "ports":
        if len(path) >= 2 and path[-2] in CONTAINER_LISTS:
            return "containerPort"
        if kind == "Service" and path == ("spec", "ports"):
            return "port"
        return None
    return MERGE_KEYS.get(field)


def strip_nulls(value):
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def json6902(obj: dict, ops: list, label: str) -> dict:
    out = copy.deepcopy(obj)
    for n, op in enumerate(ops):
        here = f"{label} op {n}"
        if not isinstance(op, dict) or op.get("op") not in ("add", "remove", "replace", "test") \
                or not isinstance(op.get("path"), str):
            raise Unsupported(f"{here}: only add, remove, replace and test with a path")
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        if not op["path"].startswith("/") or not parts:
            raise Unsupported(f"{here}: path {op['path']!r} must start with / and name a field")
        parent = out
        for p in parts[:-1]:
            parent = step(parent, p, here, op["path"])
        last = parts[-1]
        kind = op["op"]
        if kind != "remove" and "value" not in op:
            raise Unsupported(f"{here}: {kind} without a value")
        if isinstance(parent, list):
            if last == "-" and kind == "add":
                parent.append(copy.deepcopy(op["value"]))
                continue
            i = index(last, len(parent) + (kind == "add"), here, op["path"])
            if kind == "add":
                parent.insert(i, copy.deepcopy(op["value"]))
            elif kind == "remove":
                del parent[i]
            elif kind == "replace":
                parent[i] = copy.deepcopy(op["value"])
            elif parent[i] != op["value"]:
                raise Unsupported(f"{here}: test failed: {op['path']} is {parent[i]!r}, "
                                  f"not {op['value']!r}")
        elif isinstance(parent, dict):
            if kind != "add" and last not in parent:
                raise Unsupported(f"{here}: {op['path']} does not exist")
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            elif parent[last] != op["value"]:
                raise Unsupported(f"{here}: test failed: {op['path']} is {parent[last]!r}, "
                                  f"not {op['value']!r}")
        else:
            raise Unsupported(f"{here}: {op['path']}: the parent is not a mapping or list")
    return out


def step(node, part: str, here: str, path: str):
    if isinstance(node, dict) and part in node:
        return node[part]
    if isinstance(node, list):
        return node[index(part, len(node), here, path)]
    raise Unsupported(f"{here}: {path} does not exist")


def index(part: str, size: int, here: str, path: str) -> int:
    if not part.isdigit() or int(part) >= size:
        raise Unsupported(f"{here}: {path}: no list item {part}")
    return int(part)


def set_namespace(objects: list, namespace: str):
    for r in objects:
        meta = r.obj.setdefault("metadata", {})
        if r.obj.get("kind") == "Namespace":
            meta["name"] = namespace
        elif r.obj.get("kind") not in CLUSTER_SCOPED:
            meta["namespace"] = namespace


def set_image(objects: list, image: dict, where: str):
    if not isinstance(image, dict) or "name" not in image or set(image) - IMAGE_FIELDS:
        raise Unsupported(f"{where}: give name and some of newName, newTag, digest")

    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("containers", "initContainers") and isinstance(value, list):
                    for c in value:
                        if isinstance(c, dict) and isinstance(c.get("image"), str):
                            c["image"] = retag(c["image"], image)
                else:
                    visit(value)
        elif isinstance(node, list):
            for v in node:
                visit(v)

    for r in objects:
        visit(r.obj)


def retag(ref: str, image: dict) -> str:
    name, digest = ref.split("@", 1) if "@" in ref else (ref, None)
    tag = None
    if ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if name != image["name"]:
        return ref
    name = image.get("newName") or name
    if image.get("digest"):
        return f"{name}@{image['digest']}"
    if image.get("newTag"):
        return f"{name}:{image['newTag']}"
    return name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")
