"""The compose half of scripts/check-deploy: deploy/compose/docker-compose.yml.

CI may have no Docker compose plugin, so the file is checked the way compose
reads it: variables interpolated with .env.example's values (an empty value
there is a secret the user must fill in; a stand-in is used), then validated
against the Compose Specification's JSON schema (compose-spec.json, vendored,
Apache-2.0), then the references the schema cannot see. Where `docker compose`
exists it is asked too.
"""

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import yaml

SCHEMA = Path(__file__).with_name("compose-spec.json")
SECRET_NAME = re.compile(r"token|secret|password|_key$", re.I)
# $$, ${VAR}, ${VAR:-x}, ${VAR-x}, ${VAR:?x}, ${VAR?x}, ${VAR:+x}, ${VAR+x}, $VAR
VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*)|(?P<invalid>))"
)


def read_env_file(path: Path) -> dict:
    env = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "=" not in line:
            raise ValueError(f"{path.name}:{n}: not KEY=VALUE: {line!r}")
        key, value = line.split("=", 1)
        env[key.strip()] = value.strip()
    return env


class Interpolator:
    """Compose's variable substitution, recording every variable used."""

    def __init__(self, env: dict, problems: list):
        self.env = env
        self.problems = problems
        self.used = {}  # name -> "required" | "default" | "plain"

    def text(self, s: str, where: str) -> str:
        def one(mt):
            if mt.group("escaped"):
                return "$"
            if mt.group("invalid") is not None:
                self.problems.append(f"compose: {where}: a lone '$' (write $$ for a literal $)")
                return "$"
            name = mt.group("braced") or mt.group("named")
            op, arg = mt.group("op"), mt.group("arg") or ""
            value = self.env.get(name)
            kind = {None: "plain", ":-": "default", "-": "default", ":?": "required",
                    "?": "required", ":+": "default", "+": "default"}[op]
            self.used.setdefault(name, kind)
            if op in (":?", "?"):
                if name not in self.env:
                    self.problems.append(f"compose: {where}: {name} is required "
                                         f"but .env.example does not list it")
                # An empty value in .env.example is a secret left for the user.
                return value or f"check-deploy-stand-in-for-{name}"
            if op in (":-", "-"):
                return value if value or (op == "-" and value is not None) else arg
            if op in (":+", "+"):
                return arg if value else ""
            if value is None:
                self.problems.append(f"compose: {where}: ${{{name}}} has no default and "
                                     f".env.example does not set it")
                return ""
            return value

        return VARIABLE.sub(one, s)

    def tree(self, node, where=""):
        if isinstance(node, dict):
            return {k: self.tree(v, f"{where}.{k}" if where else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.tree(v, f"{where}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, str):
            return self.text(node, where)
        return node


def check_references(raw: dict, doc: dict, compose_dir: Path, problems: list):
    def fail(msg):
        problems.append(f"compose: {msg}")

    services = doc.get("services") or {}
    volumes = set((doc.get("volumes") or {}).keys())
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep in deps if isinstance(deps, (dict, list)) else []:
            if dep not in services:
                fail(f"services.{name}.depends_on: no service {dep!r}")
        for v in svc.get("volumes") or []:
            source = v.split(":", 1)[0] if isinstance(v, str) else v.get("source")
            if not source:
                continue
            if source.startswith((".", "/")):
                if not (compose_dir / source).exists():
                    fail(f"services.{name}.volumes: {source} does not exist beside the compose file")
            elif source not in volumes:
                fail(f"services.{name}.volumes: named volume {source!r} is not declared")
        build = svc.get("build")
        if isinstance(build, dict):
            context = compose_dir / build.get("context", ".")
            dockerfile = context / build.get("dockerfile", "Dockerfile")
            if not dockerfile.is_file():
                fail(f"services.{name}.build: {dockerfile} does not exist")
        # Published ports stay on this host unless someone decides otherwise.
        for p in svc.get("ports") or []:
            if isinstance(p, str) and not p.startswith("127.0.0.1:"):
                fail(f"services.{name}.ports: {p!r} listens on every interface; bind 127.0.0.1")
        # Secrets come from .env, never from the file itself.
        raw_env = (raw.get("services", {}).get(name) or {}).get("environment") or {}
        if isinstance(raw_env, dict):
            for key, value in raw_env.items():
                if SECRET_NAME.search(key) and "${" not in str(value):
                    fail(f"services.{name}.environment.{key}: a literal secret; "
                         "take it from .env with ${VAR:?…}")
        elif raw_env:
            fail(f"services.{name}.environment: use a mapping, so that values can be checked")


def docker_compose_config(compose_file: Path, env: dict, problems: list):
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode:
        return False
    with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as f:
        for k, v in env.items():
            f.write(f"{k}={v or 'check-deploy-stand-in'}\n")
    try:
        r = subprocess.run([docker, "compose", "-f", str(compose_file), "--env-file", f.name,
                            "config", "--quiet"], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"compose: docker compose config: {r.stderr.strip()}")
    finally:
        os.unlink(f.name)
    return True


def check(compose_dir: Path, problems: list) -> str:
    compose_file = compose_dir / "docker-compose.yml"
    try:
        env = read_env_file(compose_dir / ".env.example")
        raw = yaml.safe_load(compose_file.read_text())
    except (OSError, ValueError, yaml.YAMLError) as e:
        problems.append(f"compose: {e}")
        return "unreadable"
    if not isinstance(raw, dict):
        problems.append("compose: docker-compose.yml is not a mapping")
        return "unreadable"
    interp = Interpolator(env, problems)
    doc = interp.tree(raw)
    # Compose converts what interpolation leaves as text ("2") where the
    # schema wants numbers; the schema allows strings there for that reason.
    schema = yaml.safe_load(SCHEMA.read_text())
    for err in jsonschema.Draft7Validator(schema).iter_errors(doc):
        path = ".".join(str(p) for p in err.absolute_path) or "(top)"
        problems.append(f"compose: {path}: {err.message}")
    check_references(raw, doc, compose_dir, problems)
    for name in sorted(env):
        if name not in interp.used:
            problems.append(f"compose: .env.example sets {name}, which docker-compose.yml never uses")
    used_docker = docker_compose_config(compose_file, env, problems)
    return "schema + docker compose config" if used_docker else "schema (no docker compose here)"
