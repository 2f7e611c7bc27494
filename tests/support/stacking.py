"""A stack for the stack tests: the example app beside two images made here from busybox, and the
session's stack release bundles, made once as a user makes them (``inv export``, ``inv
release``) and shared by the Compose and Swarm tests. Registered as a pytest plugin by conftest.py.

- ``kv``: a key-value stand-in (busybox ``httpd`` with a CGI script over files), with a
  HEALTHCHECK on ``/cgi-bin/app``; its env file ``kv.env`` sets its name (``KV_NAME``).
- ``proxy``: busybox ``httpd`` whose ``/cgi-bin/app`` asks the app's ``/health`` through the
  stack's network (``UPSTREAM`` from its env file ``proxy.env``) and answers what it said.
- bundles: ``1.0.0`` (full) and ``1.1.0`` (the app alone changed: a delta, ``--since last``),
  whose app answers 503 on /health when its env file says ``APP_ENV=broken``: it passes the smoke
  test (the example's settings) and a deploy with prod's env file, and fails its health check in
  prod when that env file says so. Two releases, so the suite stays short.
"""

from __future__ import annotations

import json
import shutil
import socket
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from invoking import free_port, inv
from machines import RISK, set_package, unique_app

BUSYBOX = "/bin/busybox"
KV_CGI = """#!/bin/sh
echo "Content-Type: text/plain"
echo
key="${QUERY_STRING:-ping}"
case "$key" in *[!A-Za-z0-9_-]*) echo "bad key"; exit 0 ;; esac
if [ "$REQUEST_METHOD" = "POST" ]; then cat > "/data/$key"; echo stored; else
  [ "$key" = ping ] && echo "pong from $KV_NAME" || cat "/data/$key"; fi
"""
PROXY_CGI = """#!/bin/sh
echo "Content-Type: application/json"
echo
# the static busybox's wget cannot resolve names (no NSS in the image) and crashes on answers from
# other hosts here: its nslookup finds the upstream, nc asks it
rest="${UPSTREAM#http://}"; host="${rest%%:*}"; port="${rest#*:}"
ip=$(nslookup "$host" 2>/dev/null | awk '/^Address: / { a = $2 } END { print a }')
printf 'GET /health HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' "$host" | nc -w 3 "${ip:-$host}" "$port" |
  sed '1,/^\\r$/d' | grep . || echo '{"proxy": "no answer"}'
"""
STACK_PREDEPLOY_FAILS = "node -e \"console.log('migrating...'); process.exit(1)\""


def busybox_image(client, folder: Path, ref: str, *, cgi: str, port: int, health: bool) -> str:
    """An image of busybox alone: ``httpd`` serving ``cgi`` as /cgi-bin/<name>, uid 1001."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, folder / "busybox")
    (folder / "cgi").write_text(cgi)
    check = (
        "HEALTHCHECK --interval=1s --timeout=3s --retries=30 "
        f'CMD ["/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:{port}/cgi-bin/app"]\n'
        if health
        else ""
    )
    (folder / "Dockerfile").write_text(
        "FROM scratch\n"
        "COPY busybox /bin/busybox\n"
        'RUN ["/bin/busybox", "--install", "-s", "/bin"]\n'
        "RUN mkdir -p /www/cgi-bin /data /tmp && chown 1001 /data && "
        "echo 'app:x:1001:1001::/data:/bin/sh' > /etc/passwd\n"
        "COPY cgi /www/cgi-bin/app\n"
        "RUN chmod 755 /www/cgi-bin/app\n"
        f"{check}"
        "USER 1001\n"
        f'CMD ["/bin/httpd", "-f", "-p", "{port}", "-h", "/www"]\n'
    )
    from airgapkit.engine import images

    images.build(client, folder, ref, offline=True)
    return ref


def compose_yaml(kv: str, proxy: str, port: int) -> str:
    """The stack's file. ``endpoint_mode: dnsrr``: this kernel has no IPVS, so a swarm's virtual
    IPs do not route here; a service's name resolves to its tasks instead (Compose ignores it)."""
    return f"""x-dnsrr: &dnsrr
  endpoint_mode: dnsrr
services:
  api:
    build: .
    depends_on: [kv]
    deploy: *dnsrr
  kv:
    image: {kv}
    env_file: kv.env
    volumes: [kvdata:/data]
    deploy: *dnsrr
  proxy:
    image: {proxy}
    env_file: proxy.env
    depends_on: [api]
    deploy: *dnsrr
    ports:
      - target: 80
        published: {port}
        mode: host
volumes:
  kvdata: {{}}
"""


@dataclass(frozen=True)
class StackBundle:
    version: str
    archive: Path
    sums: Path
    password: Path
    manifest: dict

    def deploy_args(self, env: str = "prod") -> list[str]:
        return [
            "deploy", str(self.archive), "--env", env,
            "--sums", str(self.sums), "--password-file", str(self.password),
        ]  # fmt: skip


@dataclass(frozen=True)
class Stack:
    app_name: str
    kv: str
    proxy: str
    port: int  # the proxy's published port
    bundles: dict[str, StackBundle]
    base: str

    def project(self, env: str = "prod") -> str:
        return f"{self.app_name}-{env}"

    def through_proxy(self) -> dict:
        url = f"http://127.0.0.1:{self.port}/cgi-bin/app"
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 - loopback
                return json.load(answer)
        except urllib.error.HTTPError as exc:
            import subprocess

            listening = subprocess.run(["ss", "-ltnp"], capture_output=True, text=True).stdout
            mine = [line for line in listening.splitlines() if f":{self.port} " in line]
            raise AssertionError(f"{exc}: {exc.read()!r} {dict(exc.headers)} {mine}") from exc


def _free_host_port() -> int:
    """A port free on every address: the proxy publishes on all of them (Swarm's host mode)."""
    while True:
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("0.0.0.0", port))  # noqa: S104 - only to see that it is free
            except OSError:
                continue
        return port


def _release(app: Path, version: str, sides: dict, env: dict, since: bool) -> StackBundle:
    """export (connected), release (dev) of the app folder as it is now; the release's three parts."""
    name = json.loads((app / "package.json").read_text())["name"]
    delta = ["--since", "last"] if since else []
    export = ["export", "--app", str(app), "--base-image", sides["base"], "--accept-risk", RISK]
    inv(*export, *delta, cwd=sides["connected"], env=env, check=True)
    stem = f"{name}-{version}"
    base = sides["connected"] / "dist" / f"{stem}-base.zip"
    hashes = sides["connected"] / "dist-hashes" / f"{stem}-base.zip.sha256"
    password = sides["connected"] / "dist-password" / f"{stem}-base.zip.password"
    release = [
        "release", str(base), "--sums", str(hashes), "--password-file", str(password),
        "--accept-risk", RISK, "--smoke-env", str(app / ".env.example"),
    ]  # fmt: skip
    # the app's health check gives up after 12 s, so a failing update fails in about that time
    quick = {**env, "INVOKE_AIRGAPKIT_HEALTH_TIMEOUT": "12"}
    inv(*release, *delta, cwd=sides["airgapped"], env=quick, check=True)
    made = sides["airgapped"]
    archive = made / "dist" / f"{stem}-release.zip"
    sums = made / "dist-hashes" / f"{stem}-release.zip.sha256"
    secret = made / "dist-password" / f"{stem}-release.zip.password"
    shown = inv(
        "inspect", str(archive), "--sums", str(sums), "--password-file", str(secret), "--json",
        cwd=made, env=env, check=True,
    )  # fmt: skip
    return StackBundle(version, archive, sums, secret, json.loads(shown.stdout))


def _bump(app: Path, version: str, app_js: str | None = None) -> None:
    set_package(app, "version", version)
    if app_js is not None:
        (app / "app.js").write_text(app_js)


FAILS_WHEN_BROKEN = """
app.use((req, res, next) => {
  if (req.path === '/health' && process.env.APP_ENV === 'broken') {
    res.status(503).json({status: 'failing on purpose'});
    return;
  }
  next();
});
"""


@pytest.fixture(scope="session")
def stack(docker_client, registry, tmp_path_factory, private_tmp):
    """The stack's images and its two release bundles; everything made is removed at the end."""
    root = tmp_path_factory.mktemp("stack")
    tag = uuid.uuid4().hex[:8]
    kv = busybox_image(
        docker_client, root / "kv-image", f"agk-kv-{tag}:1", cgi=KV_CGI, port=6379, health=True
    )
    proxy = busybox_image(
        docker_client, root / "proxy-image", f"agk-proxy-{tag}:1", cgi=PROXY_CGI, port=80,
        health=False,
    )  # fmt: skip
    app = unique_app(root / "app")
    port = _free_host_port()
    (app / "compose.yaml").write_text(compose_yaml(kv, proxy, port))
    (app / "kv.env.example").write_text("# The key-value store's name.\nKV_NAME=kv\n")
    (app / "proxy.env.example").write_text("# Where the app answers.\nUPSTREAM=http://api:8080\n")
    sides = {"base": f"{registry}/node:20-alpine"}
    for side in ("connected", "airgapped"):
        sides[side] = root / side
        sides[side].mkdir()
    name = json.loads((app / "package.json").read_text())["name"]
    bundles = {}
    private_tmp = {**private_tmp, "INVOKE_AIRGAPKIT_COMPRESSION": "1"}  # the fastest level
    try:
        bundles["1.0.0"] = _release(app, "1.0.0", sides, private_tmp, since=False)
        js = (app / "app.js").read_text()
        fails = js.replace(
            "app.disable('x-powered-by');", "app.disable('x-powered-by');" + FAILS_WHEN_BROKEN
        )
        _bump(app, "1.1.0", fails)
        bundles["1.1.0"] = _release(app, "1.1.0", sides, private_tmp, since=True)
        yield Stack(name, kv, proxy, port, bundles, sides["base"])
    finally:
        for ref in [kv, proxy, *(f"{name}:{v}" for v in ("1.0.0", "1.1.0"))]:
            for image in docker_client.images.list(name=ref.partition(":")[0]):
                try:
                    docker_client.images.remove(image.id, force=True)
                except docker.errors.APIError:
                    pass


PROD_ENV = (
    "PORT=8080\nAPP_ENV=prod\nGREETING=hello from the stack\n"
    "DB_HOST=db.prod.internal\nDB_USER=tms\nDB_PASSWORD=stack-secret-4711\n"
)


@contextmanager
def broken_settings(prod: Path):
    """Prod's env files changed for a deploy that must fail: the app's says APP_ENV=broken (1.1.0
    then fails its health check) and kv's changes too (so kv is updated, and must come back)."""
    app_env, kv_env = prod / ".env.prod", prod / "kv.env.prod"
    kept = app_env.read_text(), kv_env.read_text()
    app_env.write_text(PROD_ENV.replace("APP_ENV=prod", "APP_ENV=broken"))
    kv_env.write_text("KV_NAME=kv-prod-changed\n")
    try:
        yield
    finally:
        app_env.write_text(kept[0])
        kv_env.write_text(kept[1])


def prod_folder(root: Path, stack: Stack, environment: dict) -> Path:
    """Prod's folder: the env files of every service and a configuration with ``prod``."""
    import yaml

    root.mkdir(parents=True, exist_ok=True)
    (root / ".env.prod").write_text(PROD_ENV)
    (root / "kv.env.prod").write_text("KV_NAME=kv-prod\n")
    (root / "proxy.env.prod").write_text("UPSTREAM=http://api:8080\n")
    for env_file in root.glob("*.env.prod"):
        env_file.chmod(0o600)
    (root / ".env.prod").chmod(0o600)
    config = {"airgapkit": {"health_timeout": 60, "environments": {"prod": environment}}}
    (root / "airgapkit.yaml").write_text(yaml.safe_dump(config))
    return root
