"""What the image-rule tests share: test images built FROM the node stand-in, reports that speak of
them, fresh private keys, and ``inv`` run as a user runs it.

Test images are built with the network off, named uniquely and removed by the test module that made
them. Sizes are read with the SDK's inspect on the classic store, and on the containerd image store
(whose inspect counts the blobs as stored, compressed) from the layers of ``docker save`` decoded;
a report names the image by its config digest, as scanners do, read from ``docker save`` too: all
independently of the code under test. Vulnerability numbers are the counts written by hand for each
fixture (see tests/fixtures/scanners/README.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
import uuid
from datetime import date
from pathlib import Path

import docker
import invoking
import zstandard

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "scanners"
TRIVY = FIXTURES / "trivy-node20.json"
GRYPE = FIXTURES / "grype-node20.json"
FAKE_ID = "sha256:" + "0f" * 32  # the image ID both fixtures name
FAKE_LAYER = "sha256:" + "1e" * 32  # their one layer

# Node 20 is in Maintenance LTS until 2026-04-30 on this day: 15 whole months left.
IN_SUPPORT = date(2025, 1, 15)
LENIENT = {"max_size_mb": 200, "min_support_months": 6, "allowed": {"critical": 9, "high": 9}}
STRICT = {"max_size_mb": 200, "min_support_months": 6, "allowed": {"critical": 0, "high": 0}}
TRIVY_COUNTS = "critical 1, high 2, medium 3, low 3, unspecified 1 (trivy)"
GRYPE_COUNTS = "critical 1, high 2, medium 3, low 2, unspecified 1 (grype)"
ACCEPT = 'or pass --accept-risk "reason"'


def host_node_version() -> str:
    """The stand-in's Node version: the host's own node, which the stand-in carries."""
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().lstrip("v")


def private_key_pem() -> str:
    """A fresh Ed25519 private key in PEM (PKCS#8), made for this run only."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


# --- images ---------------------------------------------------------------------------------------


def build(client, base: str, body: str, files: dict[str, str] | None = None) -> str:
    """An image FROM ``base`` with the Dockerfile lines ``body`` (and ``files`` in its context)."""
    ref = f"agk-test-gate-{uuid.uuid4().hex[:10]}:1"
    dockerfile = f"FROM {base}\n{body}\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(
        fileobj=context, custom_context=True, tag=ref, network_mode="none", rm=True, forcerm=True
    )
    return ref


def remove(client, refs) -> None:
    for ref in refs:
        try:
            client.images.remove(ref, force=True)
        except docker.errors.NotFound:
            pass


def inspect_mb(client, ref: str) -> str:
    if "io.containerd.snapshotter" not in json.dumps(client.info().get("DriverStatus")):
        return f"{client.api.inspect_image(ref)['Size'] / 1_000_000:.1f} MB"
    return f"{saved(client, ref)[1] / 1_000_000:.1f} MB"


def saved(client, ref: str) -> tuple[str, int]:
    """The config digest and the length of every layer's tar, as ``docker save`` shows them."""
    with tempfile.TemporaryFile() as file:
        for chunk in client.api.get_image(ref):
            file.write(chunk)
        file.seek(0)
        with tarfile.open(fileobj=file) as archive:
            (entry,) = json.load(archive.extractfile("manifest.json"))
            config = archive.extractfile(entry["Config"]).read()
            length = sum(_decoded_length(archive.extractfile(p)) for p in entry["Layers"])
    return "sha256:" + hashlib.sha256(config).hexdigest(), length


def _decoded_length(blob) -> int:
    head = blob.peek(4)[:4]
    if head[:2] == b"\x1f\x8b":
        blob = gzip.GzipFile(fileobj=blob)
    elif head == b"\x28\xb5\x2f\xfd":
        blob = zstandard.ZstdDecompressor().stream_reader(blob, read_across_frames=True)
    return sum(len(chunk) for chunk in iter(lambda: blob.read(1 << 20), b""))


# --- reports --------------------------------------------------------------------------------------


def report_for(
    client, ref: str, folder: Path, fixture: Path = TRIVY, *, layers=None, made: date | None = None
) -> Path:
    """A copy of a fixture that says it is about ``ref`` (its image ID and layers), made on
    ``made`` (default today: the connected side refuses a report older than a week)."""
    attrs = client.api.inspect_image(ref)
    image_id = saved(client, ref)[0]
    doc = json.loads(fixture.read_text())
    diff_ids = layers if layers is not None else attrs["RootFS"]["Layers"]
    stamp = f"{(made or date.today()).isoformat()}T09:00:00Z"
    if "matches" in doc:
        doc["source"]["target"]["imageID"] = image_id
        doc["source"]["target"]["layers"] = [{"digest": d} for d in diff_ids]
        doc["descriptor"]["timestamp"] = stamp
    else:
        doc["Metadata"]["ImageID"] = image_id
        doc["Metadata"]["DiffIDs"] = diff_ids
        doc["CreatedAt"] = stamp
    path = folder / f"{uuid.uuid4().hex[:6]}-{fixture.name}"
    path.write_text(json.dumps(doc))
    return path


def clean_report(client, ref: str, folder: Path) -> Path:
    """A Trivy report about ``ref`` that finds nothing."""
    path = folder / "clean.json"
    doc = {
        "SchemaVersion": 2,
        "ArtifactName": ref,
        "ArtifactType": "container_image",
        "Metadata": {"ImageID": saved(client, ref)[0]},
        "Results": [],
    }
    path.write_text(json.dumps(doc))
    return path


# --- the tasks ------------------------------------------------------------------------------------


def inv(*args: str) -> subprocess.CompletedProcess:
    """``inv`` in the project, wide enough that the tables' rows stay on one line."""
    return invoking.inv(*args, cwd=REPO, env={"COLUMNS": "200"}, timeout=300)
