"""The demo: the whole round trip on one machine, in three folders that stand for three machines.

``connected/`` exports, ``airgapped/`` releases, ``prod/`` deploys; what crosses between them is
copied into the next one's ``inbox/``, as a person would carry the archive, its hash and its
password.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path

from rich.console import Console

from .app import envfiles
from .crossing import bundle
from .flows import pipeline

DEMO_SETTINGS = {"APP_ENV": "prod", "GREETING": "hello from .env.prod"}


def write_demo_env(example: Path, dest: Path) -> None:
    """prod's env file: the example's keys, with prod values for the ones /health shows."""
    values = {**envfiles.read(example), **DEMO_SETTINGS}
    text = "".join(f"{key}={json.dumps(value or '')}\n" for key, value in values.items())
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


def round_trip(
    client,
    *,
    app_dir: Path,
    base_image: str,
    workdir: Path,
    port: int,
    policy: dict,
    dockerfile: Path,
) -> str:
    """Export, carry, release, carry, deploy; return what the deployed API answered on /health."""
    sides = {side: workdir / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        shutil.rmtree(side, ignore_errors=True)
    risk = "demo: no scanner report on this machine"
    exported = pipeline.export(
        client,
        app_dir=app_dir,
        base_image=base_image,
        build_dir=sides["connected"] / "build",
        crossing=pipeline.Crossing(side_places(sides["connected"])),
        gate=pipeline.Gate(policy, None, risk),
    )
    released = pipeline.release(
        client,
        incoming=carry(exported, sides["airgapped"] / "inbox"),
        dockerfile=dockerfile,
        variant="inside",
        smoke=pipeline.Smoke(ports=f"{port}:8080"),
        crossing=pipeline.Crossing(side_places(sides["airgapped"])),
        gate=pipeline.Gate(policy, None, risk),
    )
    prod = sides["prod"]
    prod.mkdir(parents=True, exist_ok=True)
    shutil.copy2(app_dir / ".env.example", prod / ".env.example")
    write_demo_env(prod / ".env.example", prod / ".env.prod")
    target = pipeline.Target(
        "prod", {"prod": ".env.prod"}, prod / ".env.example", prod, f"{port}:8080", "/health", 60
    )
    pipeline.deploy(client, incoming=carry(released, prod / "inbox"), target=target)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:  # noqa: S310
        body = answer.read().decode()
    Console().print(f"http://127.0.0.1:{port}/health answered: {body}")
    return body


def side_places(side: Path) -> pipeline.Places:
    return pipeline.Places(side / "media", side / "second-channel", side / "third-channel")


def carry(delivery: bundle.Delivery, inbox: Path) -> pipeline.Incoming:
    """What a person carries across: the archive, its hash and its password, into the next machine."""
    archive, sums = copy_into([delivery.archive, delivery.sums], inbox)
    password = copy_into([delivery.password], inbox / "password")[0] if delivery.password else None
    return pipeline.Incoming(archive, sums, password)


def copy_into(files: list[Path], folder: Path) -> list[Path]:
    """Carry files into a folder (the demo's stand-in for media and second channels)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy2(f, folder / f.name)) for f in files]
