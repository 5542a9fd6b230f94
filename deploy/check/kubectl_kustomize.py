"""The comparison of kustomize_lite.py's rendering with `kubectl kustomize`'s.
kustomize_lite renders only the subset deploy/ uses, so the objects checked
could drift from what `kubectl apply -k` sends; where kubectl is installed,
any difference is a problem. Optional, as CI may have no kubectl.
"""

import shutil
import subprocess
from pathlib import Path

import yaml

import kustomize_lite


def kubectl_differs(folder: Path, rendered: list):
    """None when kubectl is not installed; else '' when `kubectl kustomize
    FOLDER` gives the same objects as RENDERED, or what differs."""
    kubectl = shutil.which("kubectl")
    if not kubectl:
        return None
    r = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    if r.returncode:
        return f"kubectl kustomize failed: {r.stderr.strip()}"
    theirs = {kustomize_lite.Rendered(o, "").id(): o
              for o in yaml.safe_load_all(r.stdout) if o is not None}
    ours = {x.id(): x.obj for x in rendered}
    diffs = [f"only kubectl has {i[1]}/{i[3]}" for i in theirs if i not in ours] + \
            [f"only this renderer has {i[1]}/{i[3]}" for i in ours if i not in theirs]
    for i in ours.keys() & theirs.keys():
        where = first_difference(ours[i], theirs[i], "")
        if where is not None:
            diffs.append(f"{i[1]}/{i[3]} differs at {where or '(top)'}")
    return "; ".join(sorted(diffs))


def first_difference(a, b, path: str):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(a.keys() | b.keys(), key=str):
            if k not in a or k not in b:
                return f"{path}.{k}".lstrip(".")
            d = first_difference(a[k], b[k], f"{path}.{k}")
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} (length {len(a)} vs {len(b)})".lstrip(".")
        for n, (x, y) in enumerate(zip(a, b)):
            d = first_difference(x, y, f"{path}.{n}")
            if d is not None:
                return d
        return None
    return None if a == b else path.lstrip(".")
