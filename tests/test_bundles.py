"""flows/bundles.py: the three places, the outgoing password, and reading an arrived bundle."""

from __future__ import annotations

import pytest
from invoking import inv
from machines import RISK

from airgapkit.errors import AirgapError
from airgapkit.flows import bundles
from airgapkit.settings import Crossing, Places


def places_flags(tmp_path) -> dict:
    return {"out_dir": tmp_path / "a", "hashes_dir": tmp_path / "b", "password_dir": tmp_path / "c"}


def test_the_release_password_never_comes_from_the_incoming_variable(monkeypatch, tmp_path):
    """On the dev side AIRGAPKIT_PASSWORD opens the export; the release must get its own."""
    monkeypatch.setenv("AIRGAPKIT_PASSWORD", "the-export-bundle-password-Q7x!")
    config = {"compression": 6}
    crossing = Crossing.from_config(config, **places_flags(tmp_path))
    assert bundles.outgoing_password(crossing) is None  # None: generate a new one
    given = tmp_path / "new.password"
    given.write_text("kT9#vB2$wQ8&zL4!pR6^\n")
    crossing = Crossing.from_config(config, **places_flags(tmp_path), new_password_file=given)
    assert bundles.outgoing_password(crossing) == "kT9#vB2$wQ8&zL4!pR6^"


@pytest.mark.parametrize(
    "nested",
    [
        {"hashes_dir": "dist"},
        {"password_dir": "dist/secret"},
        {"hashes_dir": "side", "password_dir": "side/pw"},
    ],
)
def test_check_places_refuses_the_same_or_nested_folders(tmp_path, nested):
    config = {"out_dir": "dist", "hashes_dir": "dist-hashes", "password_dir": "dist-password"}
    flags = {key: tmp_path / value for key, value in nested.items()}
    places = Places.from_config({k: tmp_path / v for k, v in config.items()}, **flags)
    with pytest.raises(AirgapError, match="same or nested"):
        bundles.check_places(places)


@pytest.mark.docker
@pytest.mark.e2e
def test_inspect_prints_the_manifest_and_the_accepted_risk(round_trip):
    archive, sums, password = round_trip["released"]
    proc = inv(
        "inspect",
        str(archive),
        "--sums",
        str(sums),
        "--password-file",
        str(password),
        cwd=archive.parent,
        check=True,
    )
    out = proc.stdout
    assert "release bundle" in out and round_trip["app_name"] in out
    assert RISK in " ".join(out.split())  # the risk line names every rule: it may wrap
    assert f"{round_trip['app_name']}:1.0.0" in out
