"""Deltas as a user runs them: v1 full through export, release and deploy; then a one-line change
of the app, v2 as deltas (``--since last``) through the same three steps, each machine with only
what was carried to it and its own history. The deployed image is put back together from the v1
image on the far side and has the ID the release manifest names.

One engine stands for the three machines, so the v2 image the dev side built is removed before the
prod side takes the delta, as prod would not have it.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import docker
import pytest
from invoking import REPO_ROOT, assert_refusal, clean_env, free_port, inv, wait_until
from machines import DB_PASSWORD, EXAMPLE_APP, RISK, health

from airgapkit import history
from airgapkit.engine import identity, store

pytestmark = [pytest.mark.docker, pytest.mark.e2e]

GREETING = "hello-from-delta-4242"


def place(side: Path, kind: str, name: str, version: str) -> tuple[Path, Path, Path]:
    archive = f"{name}-{version}-{kind}.zip"
    return (
        side / "dist" / archive,
        side / "dist-hashes" / f"{archive}.sha256",
        side / "dist-password" / f"{archive}.password",
    )


def carry(files, inbox: Path) -> list[Path]:
    inbox.mkdir(exist_ok=True)
    return [Path(shutil.copy2(f, inbox / f.name)) for f in files]


def incoming(files) -> list[str]:
    archive, sums, password = files
    return [str(archive), "--sums", str(sums), "--password-file", str(password)]


def manifest_of(side: Path, files) -> dict:
    proc = inv("inspect", *incoming(files), "--json", cwd=side, check=True)
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def line(docker_client, base_image, tmp_path_factory):
    """The delivery line: v1 full, then v2 as deltas; what each step made, removed afterwards."""
    root = tmp_path_factory.mktemp("line")
    app = root / "app"
    shutil.copytree(EXAMPLE_APP, app, ignore=shutil.ignore_patterns("node_modules", ".env*"))
    shutil.copy2(EXAMPLE_APP / ".env.example", app / ".env.example")
    name = f"agk-delta-{uuid.uuid4().hex[:8]}"
    set_version(app, name, "1.0.0")
    sides = {side: root / side for side in ("connected", "airgapped", "prod")}
    for side in sides.values():
        side.mkdir()
    prod = sides["prod"]
    shutil.copy2(app / ".env.example", prod / ".env.example")
    (prod / ".env.prod").write_text(
        f"PORT=8080\nAPP_ENV=prod\nGREETING={GREETING}\nDB_HOST=db\nDB_USER=tms\n"
        f"DB_PASSWORD={DB_PASSWORD}\n"
    )
    (prod / ".env.prod").chmod(0o600)
    tmp = {"TMPDIR": str(root)}
    ports = f"127.0.0.1:{free_port()}:8080"
    made = {"app": app, "name": name, "sides": sides, "ports": ports, "tmp": tmp}
    made["base"] = base_image
    try:
        for version, since in (("1.0.0", []), ("1.0.1", ["--since", "last"])):
            if version != "1.0.0":
                change_app(app, name, version)
            deliver(docker_client, made, version, since)
        yield made
    finally:
        for container in (f"{name}-prod", f"{name}-prod-previous"):
            try:
                docker_client.containers.get(container).remove(force=True)
            except docker.errors.NotFound:
                pass
        for ref in (f"{name}:1.0.0", f"{name}:1.0.1"):
            try:
                docker_client.images.remove(ref, force=True)
            except docker.errors.NotFound:
                pass


def deliver(client, made: dict, version: str, since: list[str]) -> None:
    """export, release, deploy of one version, as the three machines run them."""
    name, sides, tmp = made["name"], made["sides"], made["tmp"]
    export = ["export", "--app", str(made["app"]), "--base-image", made["base"]]
    inv(*export, "--accept-risk", RISK, *since, cwd=sides["connected"], env=tmp, check=True)
    exported = carry(place(sides["connected"], "base", name, version), sides["airgapped"] / "inbox")
    smoke = ["--smoke-env", str(made["app"] / ".env.example"), "--accept-risk", RISK]
    release = inv(
        "release", *incoming(exported), *smoke, *since, cwd=sides["airgapped"], env=tmp, check=True
    )
    released = carry(place(sides["airgapped"], "release", name, version), sides["prod"] / "inbox")
    made[version] = {"exported": exported, "released": released, "release_out": release.stdout}
    if since:  # prod has not got the new image: the dev side built it in the same engine
        client.images.remove(f"{name}:{version}")
    deploy = ["deploy", *incoming(released), "--env", "prod", "--name", f"{name}-prod"]
    made[version]["deploy"] = deploy + ["--ports", made["ports"]]
    deployed = inv(*made[version]["deploy"], cwd=sides["prod"], env=tmp, check=True)
    made[version]["deploy_out"] = deployed.stdout + deployed.stderr


def set_version(app: Path, name: str, version: str) -> None:
    for file in ("package.json", "package-lock.json"):
        data = json.loads((app / file).read_text())
        data["name"], data["version"] = name, version
        if file == "package-lock.json":
            data["packages"][""].update(name=name, version=version)
        (app / file).write_text(json.dumps(data, indent=2) + "\n")


def change_app(app: Path, name: str, version: str) -> None:
    """One line of app.js, and the version."""
    code = (app / "app.js").read_text()
    (app / "app.js").write_text(code.replace("status: 'ok',", "status: 'ok', // v2", 1))
    set_version(app, name, version)


# --- what travelled --------------------------------------------------------------------------------


def test_the_base_delta_carries_no_image_and_names_the_base_it_needs(line):
    v1 = manifest_of(line["sides"]["airgapped"], line["1.0.0"]["exported"])
    v2 = manifest_of(line["sides"]["airgapped"], line["1.0.1"]["exported"])
    assert v2["images"] == [] and not any(
        m.startswith("images/") for m in zipfile.ZipFile(line["1.0.1"]["exported"][0]).namelist()
    )
    (needs,) = v2["requires"]
    assert needs == {
        "ref": v1["images"][0]["ref"],
        "id": v1["images"][0]["id"],
        "carried_by": line["1.0.0"]["exported"][0].name,
        "layers": v1["images"][0]["layers"],
    }
    assert v2["since"]["archive"] == line["1.0.0"]["exported"][0].name


def test_the_release_delta_carries_only_the_new_layers(line):
    v1 = manifest_of(line["sides"]["prod"], line["1.0.0"]["released"])
    v2 = manifest_of(line["sides"]["prod"], line["1.0.1"]["released"])
    (needs,) = v2["requires"]
    image = v2["images"][0]
    assert needs["id"] == v1["images"][0]["id"] and needs["for"] == image["id"]
    assert needs["layers"] == [d for d in image["layers"] if d in v1["images"][0]["layers"]]
    assert len(needs["layers"]) < len(image["layers"])
    full = v1["files"][0]["size"]
    delta = v2["files"][0]["size"]
    assert delta < full / 10, (delta, full)


def test_the_deployed_delta_is_the_very_image_released(docker_client, line):
    v2 = manifest_of(line["sides"]["prod"], line["1.0.1"]["released"])
    image = v2["images"][0]
    assert identity.of_ref(docker_client, image["ref"]) == image["id"]
    answer = health(line["ports"])
    assert answer["version"] == "1.0.1" and answer["greeting"] == GREETING


def test_the_delta_deploy_says_how_it_loaded_the_image(docker_client, line):
    """The classic store takes the delta's own layers and holds the rest; the containerd store
    is given the image put back together."""
    said = line["1.0.1"]["deploy_out"]
    ref = f"{line['name']}:1.0.1"
    if store.store(docker_client) == store.CLASSIC:
        assert f"delta: {ref} loaded from its own layers; the engine's classic store holds" in said
    else:
        assert f"delta: {ref} put back together with" in said
    assert "delta:" not in line["1.0.0"]["deploy_out"]  # a full bundle is loaded as it is


def test_inspect_and_the_carry_table_say_what_a_delta_needs(line):
    carry_table = line["1.0.1"]["release_out"]
    assert "needs on the far side" in carry_table and f"{line['name']}:1.0.0" in carry_table
    assert "needs on the far side" not in line["1.0.0"]["release_out"]
    proc = inv(
        "inspect",
        *incoming(line["1.0.1"]["released"]),
        cwd=line["sides"]["prod"],
        env={"COLUMNS": "250"},
    )
    assert "needs on the far side" in proc.stdout
    assert (
        f"{line['name']}:1.0.0" in proc.stdout
        and f"{line['name']}-1.0.0-release.zip" in proc.stdout
    )


# --- the history of each machine ------------------------------------------------------------------


def entries(side: Path) -> list[history.Entry]:
    found, notes = history.History(side / ".airgapkit" / "history.jsonl").read()
    assert notes == []
    return found


@pytest.mark.parametrize(
    ("side", "action"), [("connected", "export"), ("airgapped", "release"), ("prod", "deploy")]
)
def test_each_machine_keeps_its_runs(line, side, action):
    runs = [e for e in entries(line["sides"][side]) if e.action == action]
    assert [(e.version, e.outcome) for e in runs][:2] == [("1.0.0", "ok"), ("1.0.1", "ok")]
    assert runs[0].since is None and runs[1].since["version"] == "1.0.0"
    assert runs[1].archive.endswith(".zip") and len(runs[1].archive_sha256) == 64
    assert runs[1].images or runs[1].requires
    text = (line["sides"][side] / ".airgapkit" / "history.jsonl").read_text()
    assert DB_PASSWORD not in text and "password" not in text.lower().replace("dist-password", "")


PHASES = {
    "export": ["pull", "gate", "pack", "save & archive"],
    "release": ["verify", "load", "build", "smoke test", "save & archive"],
    "deploy": ["verify", "load", "start & health"],
}


@pytest.mark.parametrize(
    ("side", "action"), [("connected", "export"), ("airgapped", "release"), ("prod", "deploy")]
)
def test_each_run_records_its_phase_times(line, side, action):
    runs = [e for e in entries(line["sides"][side]) if e.action == action]
    for run in runs[:2]:
        assert list(run.times) == PHASES[action]
        assert 0 < sum(run.times.values()) <= run.seconds + 0.5


def test_a_deploy_ends_with_its_phase_times(line):
    said = line["1.0.1"]["deploy_out"].splitlines()
    (times,) = [text for text in said if text.startswith("times: ")]
    assert times.startswith("times: verify ") and ", start & health " in times


def test_inv_history_reads_it_back(line):
    proc = inv("history", "--app", line["name"], cwd=line["sides"]["prod"], env={"COLUMNS": "250"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("deploy") >= 2 and f"{line['name']}-1.0.0-release.zip" in proc.stdout


# --- refusals ---------------------------------------------------------------------------------------


def test_a_delta_applied_twice_is_refused_and_recorded(line):
    proc = inv(*line["1.0.1"]["deploy"], cwd=line["sides"]["prod"], env=line["tmp"])
    assert_refusal(proc, "was applied here before; nothing loaded")
    last = entries(line["sides"]["prod"])[-1]
    assert last.outcome == "failed" and "applied here before" in last.message
    assert health(line["ports"])["version"] == "1.0.1"  # the running one untouched


def test_since_a_bundle_of_another_app_is_refused(line, tmp_path):
    manifest = manifest_of(line["sides"]["prod"], line["1.0.0"]["released"])
    manifest["app"]["name"] = "billing"
    other = tmp_path / "billing.json"
    other.write_text(json.dumps(manifest))
    export = [
        "export",
        "--app",
        str(line["app"]),
        "--base-image",
        line["base"],
        "--since",
        str(other),
    ]
    proc = inv(*export, cwd=line["sides"]["connected"], env=line["tmp"])
    assert_refusal(proc, "is a bundle of billing, not", "give one of")


def test_a_delta_whose_container_went_is_deployed_again_without_loading(docker_client, line):
    """After a rolled-back deploy the delta's image stays in the engine, and no container runs it:
    the same delta deploys again (its image, checked by ID, is not loaded twice)."""
    docker_client.containers.get(f"{line['name']}-prod").remove(force=True)
    proc = inv(*line["1.0.1"]["deploy"], cwd=line["sides"]["prod"], env=line["tmp"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        f"{line['name']}:1.0.1 is in this engine already (an earlier deploy): not loaded again"
        in (proc.stdout + proc.stderr)
    )
    assert health(line["ports"])["version"] == "1.0.1"


# --- a delta deploy interrupted half-way --------------------------------------------------------


@pytest.fixture
def half_replaced(docker_client, line):
    """v1 running as NAME-prod, then the v2 delta deployed with .env.test, whose PORT the app
    answers nowhere: it waits for its health with v1 set aside as NAME-prod-previous. Yields the
    running deploy (a child the test started) and what it knows; the test signals it."""
    name, prod = f"{line['name']}-prod", line["sides"]["prod"]
    v1 = ["deploy", *incoming(line["1.0.0"]["released"]), "--env", "prod", "--name", name]
    inv(*v1, "--ports", line["ports"], cwd=prod, env=line["tmp"], check=True)
    v1_image = docker_client.containers.get(name).attrs["Image"]
    env_prod = (prod / ".env.prod").read_text()
    (prod / ".env.test").write_text(env_prod.replace("PORT=8080", "PORT=9999"))
    (prod / ".env.test").chmod(0o600)
    deploy = [a if a != "prod" else "test" for a in line["1.0.1"]["deploy"]]
    slow = {**line["tmp"], "INVOKE_AIRGAPKIT_HEALTH_TIMEOUT": "300"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT), *deploy],
        cwd=prod, env=clean_env(slow), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert wait_until(lambda: half_way(docker_client, name, v1_image), 120)
        yield {"proc": proc, "name": name, "v1_image": v1_image, "prod": prod}
    finally:
        proc.kill()
        proc.wait()


def half_way(client, name: str, v1_image: str) -> bool:
    try:
        current = client.containers.get(name)
        client.containers.get(f"{name}-previous")
    except docker.errors.NotFound:
        return False
    return current.status == "running" and current.attrs["Image"] != v1_image


def test_ctrl_c_of_a_deploy_half_way_says_the_state_and_status_shows_it(half_replaced, line):
    name, proc = half_replaced["name"], half_replaced["proc"]
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    said = err.strip().splitlines()[-1]
    assert "nothing was left under a final name" not in said
    assert f"found an interrupted deploy of {name}: {name} holds {line['name']}:1.0.1" in said
    assert f"{name}-previous holds" in said and f"inv rollback --env test --name {name}" in said
    last = entries(half_replaced["prod"])[-1]
    assert last.outcome == "interrupted" and f"{name}-previous" in last.message
    status = inv("status", "--env", "prod", "--name", name, cwd=half_replaced["prod"])
    assert status.returncode == 0, status.stderr
    assert f"warning: found an interrupted deploy of {name}" in status.stdout + status.stderr
    assert f"inv rollback --env prod --name {name}" in status.stdout + status.stderr


def test_the_same_delta_deployed_again_finishes_the_killed_one_first(
    docker_client, half_replaced, line
):
    """Recover first, then judge: the killed deploy's container (not answering) is undone, v1
    comes back, and the delta goes in as any deploy does; it is not 'applied here before'."""
    name = half_replaced["name"]
    half_replaced["proc"].send_signal(signal.SIGKILL)
    half_replaced["proc"].wait()
    quick = {**line["tmp"], "INVOKE_AIRGAPKIT_HEALTH_TIMEOUT": "15"}
    proc = inv(*line["1.0.1"]["deploy"], cwd=half_replaced["prod"], env=quick)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    said = proc.stdout + proc.stderr
    assert said.index(f"found an interrupted deploy of {name}") < said.index("not loaded again")
    assert "applied here before" not in said
    assert health(line["ports"])["version"] == "1.0.1"
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(f"{name}-previous")


def test_a_missing_prerequisite_is_refused_before_anything_is_loaded(docker_client, line):
    """Last: it takes the v1 image away from the engine."""
    name = line["name"]
    docker_client.containers.get(f"{name}-prod").remove(force=True)
    docker_client.images.remove(f"{name}:1.0.1", force=True)
    v1_id = identity.of_ref(docker_client, f"{name}:1.0.0")
    docker_client.images.remove(f"{name}:1.0.0", force=True)
    proc = inv(*line["1.0.1"]["deploy"], cwd=line["sides"]["prod"], env=line["tmp"])
    assert_refusal(
        proc,
        f"needs image {name}:1.0.0 ({v1_id[:19]})",
        f"it came in {name}-1.0.0-release.zip",
    )
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(f"{name}:1.0.1")  # nothing loaded
