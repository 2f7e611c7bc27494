"""A stack against the app alone: deploy time, and what an app-only update carries.

The example app beside the two busybox services of the stack tests (a key-value stand-in with a
health check, a proxy), on the node stand-in base. Measured, in one run:

- ``inv deploy`` of the stack's release on ``target: compose`` (3 services, from the verified
  bundle to every service healthy) against ``inv deploy`` of the app alone's release (one
  container, healthy), each on a prod side where nothing of it runs yet (goal: <= 1.5x);
- the archive of ``release --since last`` after one line of app.js changed (the app alone
  changed) against the changed app layers deflated at the same level (goal: <= 1.1x).

Each task runs as a child process in its own folder (connected, dev, prod). Not a test: run it by
hand; everything it makes is removed at the end.

    python bench/stack.py [--repeat 3] [--level 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import docker

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent / "tests" / "support"))
import node_standin  # noqa: E402
import stacking  # noqa: E402
from compare import INV, make_app, measure  # noqa: E402
from delta import bundle_flags, change_app, changed_layers_deflated  # noqa: E402

RISK = "bench: no scanner here"


def release_of(app: Path, name: str, version: str, sides: dict, base: str, since: bool) -> list:
    """export and release of the app folder as it is; the release's bundle flags."""
    delta = ["--since", "last"] if since else []
    export = [*INV, "export", "--app", str(app), "--base-image", base, "--accept-risk", RISK]
    subprocess.run([*export, *delta, *sides["level"]], cwd=sides["connected"], check=True,
                   capture_output=True)  # fmt: skip
    base_bundle = bundle_flags(sides["connected"], "base", name, version)
    release = [*INV, "release", *base_bundle, "--accept-risk", RISK,
               "--smoke-env", str(app / ".env.example")]  # fmt: skip
    subprocess.run([*release, *delta, *sides["level"]], cwd=sides["dev"], check=True,
                   capture_output=True)  # fmt: skip
    return bundle_flags(sides["dev"], "release", name, version)


def prod_side(folder: Path, environment) -> Path:
    import yaml

    folder.mkdir()
    (folder / ".env.prod").write_text(
        "PORT=8080\nAPP_ENV=prod\nGREETING=bench\nDB_HOST=db\nDB_USER=u\nDB_PASSWORD=bench-only\n"
    )
    (folder / "kv.env.prod").write_text("KV_NAME=kv-bench\n")
    (folder / "proxy.env.prod").write_text("UPSTREAM=http://api:8080\n")
    for env_file in folder.glob("*.prod"):
        env_file.chmod(0o600)
    for env_file in [folder / ".env.prod"]:
        env_file.chmod(0o600)
    config = {"airgapkit": {"environments": {"prod": environment}}}
    (folder / "airgapkit.yaml").write_text(yaml.safe_dump(config))
    return folder


def timed_deploys(prod: Path, bundle: list, extra: list, repeat: int, clear) -> list[float]:
    """``inv deploy`` ``repeat`` times, each onto a side where nothing of it runs (``clear``)."""
    seconds = []
    for _ in range(repeat):
        clear()
        argv = [
            *INV,
            "-f",
            str(prod / "airgapkit.yaml"),
            "deploy",
            *bundle,
            "--env",
            "prod",
            *extra,
        ]
        seconds.append(measure(argv, prod)[0])
    clear()
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--level", type=int, default=5)
    args = parser.parse_args()
    client = docker.from_env(timeout=3600)
    base = node_standin.ensure_image(client)
    tag = uuid.uuid4().hex[:8]
    made: list[str] = []
    with tempfile.TemporaryDirectory(prefix="agk-bench-stack-") as scratch:
        work = Path(scratch)
        kv = stacking.busybox_image(client, work / "kv", f"agk-bench-kv-{tag}:1",
                                    cgi=stacking.KV_CGI, port=6379, health=True)  # fmt: skip
        proxy = stacking.busybox_image(client, work / "proxy", f"agk-bench-proxy-{tag}:1",
                                       cgi=stacking.PROXY_CGI, port=80, health=False)  # fmt: skip
        made += [kv, proxy]
        single_dir, stack_dir = work / "single", work / "stacked"
        single_dir.mkdir()
        stack_dir.mkdir()
        single_app, single_name = make_app(single_dir)
        stack_app, stack_name = make_app(stack_dir)
        port = stacking._free_host_port()
        (stack_app / "compose.yaml").write_text(stacking.compose_yaml(kv, proxy, port))
        (stack_app / "kv.env.example").write_text("KV_NAME=kv\n")
        (stack_app / "proxy.env.example").write_text("UPSTREAM=http://api:8080\n")
        made += [f"{single_name}:1.0.0", f"{stack_name}:1.0.0", f"{stack_name}:1.0.1"]
        try:
            for where in (single_dir, stack_dir):
                for side in ("connected", "dev"):
                    (where / side).mkdir()
            level = ["--level", str(args.level)]
            single_sides = {"connected": single_dir / "connected", "dev": single_dir / "dev",
                            "level": level}  # fmt: skip
            stack_sides = {"connected": stack_dir / "connected", "dev": stack_dir / "dev",
                           "level": level}  # fmt: skip
            single = release_of(single_app, single_name, "1.0.0", single_sides, base, False)
            stacked = release_of(stack_app, stack_name, "1.0.0", stack_sides, base, False)

            single_prod = prod_side(single_dir / "prod", ".env.prod")
            stack_prod = prod_side(stack_dir / "prod", {"target": "compose"})
            app_port = stacking._free_host_port()

            def clear_single():
                for name in (single_name, f"{single_name}-previous"):
                    try:
                        client.containers.get(name).remove(force=True)
                    except docker.errors.NotFound:
                        pass

            state = stack_prod / ".airgapkit" / "stacks" / f"{stack_name}-prod"

            def clear_stack():
                subprocess.run(["docker", "compose", "-p", f"{stack_name}-prod", "down", "-v"],
                               capture_output=True, check=False)  # fmt: skip
                shutil.rmtree(state, ignore_errors=True)

            alone = timed_deploys(single_prod, single, ["--ports", f"127.0.0.1:{app_port}:8080"],
                                  args.repeat, clear_single)  # fmt: skip
            together = timed_deploys(stack_prod, stacked, [], args.repeat, clear_stack)

            change_app(stack_app, "1.0.1")
            delta = release_of(stack_app, stack_name, "1.0.1", stack_sides, base, True)
            delta_size = Path(delta[0]).stat().st_size
            raw, deflated = changed_layers_deflated(
                client, f"{stack_name}:1.0.1", f"{stack_name}:1.0.0", args.level
            )
            full_size = Path(stacked[0]).stat().st_size
        finally:
            for ref in made:
                for image in client.images.list(name=ref.partition(":")[0]):
                    try:
                        client.images.remove(image.id, force=True)
                    except docker.errors.APIError:
                        pass
    result = {
        "repeat": args.repeat,
        "level": args.level,
        "deploy_app_alone_s": alone,
        "deploy_stack_s": together,
        "deploy_ratio_median": statistics.median(together) / statistics.median(alone),
        "full_stack_release_bytes": full_size,
        "app_only_delta_bytes": delta_size,
        "changed_app_layers_bytes": raw,
        "changed_app_layers_deflated_bytes": deflated,
        "delta_ratio": delta_size / deflated,
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
