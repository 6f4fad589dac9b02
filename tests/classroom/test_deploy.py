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


def test_the_image_has_what_the_app_needs():
    text = (ROOT / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        *srcs, _ = shlex.split(line)
        for src in srcs:
            assert (ROOT / src).exists(), f"the Dockerfile copies {src}, which is not in the repository"
    copied = {s.rstrip("/") for line in re.findall(r"^COPY (.+)$", text, flags=re.M) for s in shlex.split(line)[:-1]}
    assert {"app", "static", "templates", "pyproject.toml"} <= copied
    deps = " ".join(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"])
    for pkg in ("redis", "segno", "uvicorn", "fastapi"):  # live classes across replicas, the QR code
        assert re.search(rf"\b{pkg}\b", deps), pkg
    assert "/healthz" in text and f"127.0.0.1:{app_port()}" in text
