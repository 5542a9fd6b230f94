"""The objects of one deployment as the Kubernetes checks see them: deploy/k8s's
files or an overlay's rendering, and where problems go. A module of its own
because check_k8s.py and check_replicas.py both look things up here and would
otherwise import each other."""

from pathlib import Path

import yaml


class Manifests:
    """The objects of one deployment (deploy/k8s's files, or an overlay's
    rendering), each with the file it came from, and the problems found."""

    def __init__(self, problems: list, objects: list, namespace: str, prefix: str,
                 context=()):
        self.problems = problems
        self.objects = objects  # (file name, object), all checked
        self.namespace = namespace
        self.prefix = prefix  # before every file name in a problem
        # Looked up after `objects` by references, never checked: the base's
        # templates that an overlay does not repeat.
        self.context = list(context)

    @classmethod
    def load(cls, k8s_dir: Path, problems: list):
        """Every object of every file of deploy/k8s."""
        kust = yaml.safe_load((k8s_dir / "kustomization.yaml").read_text()) or {}
        m = cls(problems, [], kust.get("namespace", "default"), "k8s/")
        m.dir = k8s_dir
        m.kustomization = kust
        for path in sorted(k8s_dir.glob("*.yaml")):
            if path.name == "kustomization.yaml":
                continue
            for doc in m.read(path, path.name):
                m.objects.append((path.name, doc))
        return m

    def read(self, path: Path, label: str) -> list:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except yaml.YAMLError as e:
            self.fail(label, f"not valid YAML: {e}")
            return []
        for doc in docs:
            if not isinstance(doc, dict):
                self.fail(label, "a document that is not a mapping")
        return [d for d in docs if isinstance(d, dict)]

    def fail(self, where: str, message: str):
        self.problems.append(f"{self.prefix}{where}: {message}")

    def ns(self, obj) -> str:
        return (obj.get("metadata") or {}).get("namespace") or self.namespace

    def find(self, kind: str, name: str, namespace: str):
        for _, o in self.objects + self.context:
            if o.get("kind") == kind and (o.get("metadata") or {}).get("name") == name \
                    and self.ns(o) == namespace:
                return o
        return None


def describe(obj) -> str:
    return f"{obj.get('kind', '?')}/{(obj.get('metadata') or {}).get('name', '?')}"


def pods_selected(m: Manifests, selector: dict, ns: str):
    for _, o in m.objects:
        if o.get("kind") == "Deployment" and m.ns(o) == ns:
            labels = ((o.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
            if selector and all(labels.get(k) == v for k, v in selector.items()):
                yield o
