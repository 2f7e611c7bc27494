"""The demo: the whole round trip on one machine, in three folders that stand for three machines.

``connected/`` exports, ``airgapped/`` releases, ``prod/`` deploys; what crosses between them is
copied into the next one's ``inbox/``, as a person would carry the archive, its hash and its
password.
"""

from __future__ import annotations

import json
import shutil
import stat
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from . import display, fsutil
from .app import envfiles
from .crossing import bundle
from .flows.deploy import deploy
from .flows.export import export
from .flows.release import release
from .fsutil import CHUNK, AtomicFile, write_atomic
from .settings import Crossing, Gate, Incoming, Project, Smoke, Target

DEMO_SETTINGS = {"APP_ENV": "prod", "GREETING": "hello from .env.prod"}
RISK = "demo: no scanner report on this machine"


def write_demo_env(example: Path, dest: Path) -> None:
    """prod's env file: the example's keys, with prod values for the ones /health shows."""
    values = {**envfiles.read(example), **DEMO_SETTINGS}
    text = "".join(f"{key}={json.dumps(value or '')}\n" for key, value in values.items())
    write_atomic(dest, text.encode(), mode=0o600)


def round_trip(client, cfg: Mapping, *, base_image: str, workdir: Path, port: int) -> str:
    """Export, carry, release, carry, deploy; return what the deployed API answered on /health.

    ``cfg`` is the configuration (``c.config.airgapkit``): its app, Dockerfile, policy and
    timeouts are the demo's; the folders are the demo's own.
    """
    fsutil.require_folder(workdir, "--workdir")
    sides = {side: workdir / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        shutil.rmtree(side, ignore_errors=True)
    project = Project.from_config(cfg)
    app_dir = project.app.resolve()
    exported = export(
        client,
        app_dir=app_dir,
        base_image=base_image,
        build_dir=sides["connected"] / "build",
        crossing=Crossing.from_config(cfg, **side_places(sides["connected"])),
        gate=Gate.from_config(cfg, accept_risk=RISK),
    )
    released = release(
        client,
        incoming=carry(exported, sides["airgapped"] / "inbox"),
        dockerfile=Path(project.dockerfile).resolve(),
        variant="inside",
        smoke=Smoke.from_config(cfg),
        crossing=Crossing.from_config(cfg, **side_places(sides["airgapped"])),
        gate=Gate.from_config(cfg, accept_risk=RISK),
    )
    prod = sides["prod"]
    prod.mkdir(parents=True, exist_ok=True)
    shutil.copy2(app_dir / ".env.example", prod / ".env.example")
    write_demo_env(prod / ".env.example", prod / ".env.prod")
    # prod's folder holds the example and .env.prod the demo just wrote, whatever is configured.
    prod_cfg = {**cfg, "environments": {"prod": ".env.prod"}, "env_example": ".env.example"}
    target = Target.from_config(prod_cfg, env="prod", ports=f"{port}:8080", base_dir=prod)
    deploy(client, incoming=carry(released, prod / "inbox"), target=target)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:  # noqa: S310
        body = answer.read().decode()
    display.console().print(f"http://127.0.0.1:{port}/health answered: {body}")
    return body


def side_places(side: Path) -> dict[str, Path]:
    """A demo machine's three places, as the flags that name them."""
    return {
        "out_dir": side / "media",
        "hashes_dir": side / "second-channel",
        "password_dir": side / "third-channel",
    }


def carry(delivery: bundle.Delivery, inbox: Path) -> Incoming:
    """What a person carries across: the archive, its hash and its password, into the next machine."""
    archive, sums = copy_into([delivery.archive, delivery.sums], inbox)
    password = (
        copy_into([delivery.password], inbox / "password", mode=0o600)[0]
        if delivery.password
        else None
    )
    return Incoming.from_flags(archive, sums=sums, password_file=password)


def copy_into(files: list[Path], folder: Path, mode: int | None = None) -> list[Path]:
    """Carry files into a folder (the demo's stand-in for media and second channels).

    Each copy keeps its file's mode, or gets ``mode`` (0o600 keeps a password file private on
    every system), and appears whole or not at all.
    """
    copies = []
    for src in files:
        kept = _mode(src) if mode is None else mode
        with open(src, "rb") as data, AtomicFile(folder / src.name, mode=kept) as out:
            shutil.copyfileobj(data, out.file, CHUNK)
        copies.append(folder / src.name)
    return copies


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)
