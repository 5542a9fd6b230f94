"""scripts/check-deploy's entry point: validates a deploy/ folder without a
cluster or a Docker daemon, prints every problem and exits 1 if there is one.

    python3 check_deploy.py DEPLOY_DIR

Kubernetes manifests and their overlays (deploy/k8s-postgres, rendered by
kustomize_lite.py): check_k8s.py; the compose file: check_compose.py; the
Dockerfiles (here): every stage named by `COPY --from` exists, and each
file's last stage runs as a numeric non-root USER, which Kubernetes'
runAsNonRoot can verify.
"""

import re
import sys
from pathlib import Path

import check_compose
import check_k8s


def check_dockerfile(path: Path, problems: list):
    stages, user = [], None
    for n, line in enumerate(path.read_text().splitlines(), 1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        op = words[0].upper()
        if op == "FROM":
            m = re.match(r"(?i)FROM\s+(\S+)(?:\s+AS\s+(\S+))?", line.strip())
            stages.append(m.group(2) if m and m.group(2) else None)
            user = None
        elif op == "USER":
            user = words[1] if len(words) > 1 else ""
        for ref in re.findall(r"--from=(\S+)", line):
            if op == "COPY" and ref not in stages and ":" not in ref and "/" not in ref:
                problems.append(f"docker/{path.name}:{n}: COPY --from={ref}: no earlier stage of that name")
    if not stages:
        problems.append(f"docker/{path.name}: no FROM")
    elif user is None:
        problems.append(f"docker/{path.name}: the last stage sets no USER (it would run as root)")
    elif not re.fullmatch(r"[1-9][0-9]*(:[0-9]+)?", user):
        problems.append(f"docker/{path.name}: USER {user}: use a numeric non-root uid")


def main(deploy_dir: Path) -> int:
    problems = []
    for line in check_k8s.check_all(deploy_dir, problems):
        print(f"check-deploy: {line}")
    how = check_compose.check(deploy_dir / "compose", problems)
    print(f"check-deploy: compose: {how}")
    dockerfiles = sorted((deploy_dir / "docker").glob("Dockerfile*"))
    for path in dockerfiles:
        check_dockerfile(path, problems)
    print(f"check-deploy: docker: {len(dockerfiles)} Dockerfiles")
    for p in problems:
        print(f"check-deploy: {p}", file=sys.stderr)
    if problems:
        print(f"check-deploy: {len(problems)} problem(s) in {deploy_dir}", file=sys.stderr)
        return 1
    print("check-deploy: ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: check_deploy.py DEPLOY_DIR")
    sys.exit(main(Path(sys.argv[1]).resolve()))
