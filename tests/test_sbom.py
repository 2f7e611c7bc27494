"""sbom: npm's CycloneDX document of the installed tree, the base image added, rows and counts."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from npmtree import npm_ls_packages
from rich.console import Console

from airgapkit.engine import identity as engine_identity
from airgapkit.trust import sbom
from airgapkit.trust.sbom import SbomError
from conftest import EXAMPLE_APP


@pytest.fixture(scope="module")
def installed_app(tmp_path_factory):
    """A copy of the example app with its dependencies installed by ``npm ci``."""
    app = tmp_path_factory.mktemp("sbom") / "tms-api"
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns("node_modules"))
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=app, check=True)
    return app


@pytest.fixture(scope="module")
def app_bom(installed_app) -> dict:
    return sbom.generate(installed_app)


def test_the_sbom_lists_exactly_what_npm_ls_shows(installed_app, app_bom):
    assert app_bom["bomFormat"] == "CycloneDX"
    assert app_bom["metadata"]["component"]["name"] == "tms-api"
    expected = npm_ls_packages(installed_app)
    assert (
        "express",
        json.loads((installed_app / "node_modules/express/package.json").read_text())["version"],
    ) in expected
    listed = {(row.name, row.version) for row in sbom.rows(app_bom)}
    assert listed == expected
    assert sbom.package_count(app_bom) == len(expected) > 20
    assert all(row.purl == f"pkg:npm/{row.name}@{row.version}" for row in sbom.rows(app_bom))


def test_an_app_without_its_dependencies_installed_is_refused_with_npms_reason(tmp_path):
    app = tmp_path / "tms-api"
    app.mkdir()
    for name in ("package.json", "package-lock.json"):
        shutil.copy(EXAMPLE_APP / name, app / name)
    with pytest.raises(SbomError) as exc:
        sbom.generate(app)
    message = str(exc.value)
    assert f"npm sbom failed in {app}: missing: express@" in message
    assert message.endswith("install the app's dependencies (npm ci) and retry")


def test_documents_that_are_not_cyclonedx_are_refused():
    cases = [
        (b"{not json", "is not JSON"),
        (json.dumps({"spdxVersion": "SPDX-2.3"}).encode(), "not a CycloneDX SBOM"),
        (json.dumps(["a"]).encode(), "not a CycloneDX SBOM"),
        (json.dumps({"bomFormat": "CycloneDX"}).encode(), "no CycloneDX specVersion"),
        (
            json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": {}}).encode(),
            "not a list of named components",
        ),
    ]
    for data, expected in cases:
        with pytest.raises(SbomError, match=expected):
            sbom.parse(data, "x.json")


def test_write_and_read_back(tmp_path, app_bom):
    path = sbom.write(app_bom, tmp_path / "sbom" / "cyclonedx.json")
    assert sbom.read(path) == app_bom
    with pytest.raises(SbomError, match="cannot be read"):
        sbom.read(tmp_path / "missing.json")


def test_image_identity_prefers_the_digest_of_the_repository_named():
    attrs = {
        "Id": "sha256:" + "1" * 64,
        "RepoDigests": ["mirror.local/node@sha256:" + "2" * 64, "node@sha256:" + "3" * 64],
    }
    config = "sha256:" + "4" * 64  # the config digest (engine.identity), not always the Id
    identity = sbom.ImageIdentity.from_attrs("node:20-alpine", attrs, config)
    assert identity.repo_digest == "node@sha256:" + "3" * 64 and identity.image_id == config
    built_here = sbom.ImageIdentity.from_attrs("node:20-alpine", {"Id": attrs["Id"]}, config)
    assert built_here.repo_digest is None


def test_the_base_image_is_added_once_and_read_back(app_bom):
    identity = sbom.ImageIdentity("node:20-alpine", "sha256:" + "a" * 64, "node@sha256:" + "b" * 64)
    with_image = sbom.add_base_image(app_bom, identity)
    again = sbom.add_base_image(with_image, identity)
    assert sbom.counts(again)["container"] == 1
    assert sbom.package_count(again) == sbom.package_count(app_bom)
    assert sbom.base_image(again) == identity
    assert sbom.base_image(app_bom) is None
    image_row = next(r for r in sbom.rows(again) if r.type == "container")
    assert (image_row.name, image_row.version) == ("node", "20-alpine")
    assert image_row.purl == (
        "pkg:oci/node@sha256%3A" + "b" * 64
        + "?repository_url=docker.io/library/node&tag=20-alpine"
    )  # fmt: skip
    assert sbom.check(json.loads(sbom.dumps(again)), "again") == again


@pytest.mark.docker
def test_the_identity_of_a_pulled_image_names_its_registry_digest(
    docker_client, registry, cleanup_images, app_bom
):
    ref = f"{registry}/node:20-alpine"
    cleanup_images.append(ref)
    image = docker_client.images.pull(ref)
    identity = sbom.ImageIdentity.from_attrs(
        ref, image.attrs, engine_identity.of(docker_client, image)
    )
    assert identity.image_id == engine_identity.of(docker_client, image)
    assert identity.repo_digest.startswith(f"{registry}/node@sha256:")
    row = next(
        r for r in sbom.rows(sbom.add_base_image(app_bom, identity)) if r.type == "container"
    )
    digest = identity.repo_digest.split("@")[1].replace(":", "%3A")
    assert row.purl == f"pkg:oci/node@{digest}?repository_url={registry}/node&tag=20-alpine"


def test_table_shows_every_package(app_bom):
    console = Console(record=True, width=200)
    console.print(sbom.table(app_bom, "tms-api-1.0.0-base.zip"))
    text = console.export_text()
    assert f"tms-api-1.0.0-base.zip: {sbom.package_count(app_bom)} packages" in text
    for row in sbom.rows(app_bom):
        assert row.purl in text


@pytest.mark.parametrize(
    "components",
    [
        [{"name": "a", "properties": "x"}],
        [{"name": "a", "properties": [1]}],
        [{"name": "a", "components": "x"}],
        [{"name": "a", "components": [{"version": "1"}]}],
    ],
)
def test_components_of_the_wrong_shape_are_refused_at_any_depth(components):
    doc = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": components}
    with pytest.raises(SbomError, match="not a list of named components"):
        sbom.parse(json.dumps(doc).encode(), "x.json")
