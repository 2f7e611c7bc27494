"""The kit across the gap, as a release engineer takes it: made by ``inv kit`` on the connected
side, checked with ``sha256sum -c``, unpacked with ``7z x``, installed by its own ``install.sh``
inside a network namespace with no network at all (``unshare --net``), then the far side run with
the installed ``airgapkit`` (not this checkout) and with the single program, no Python on PATH.

Steps that poll a health path on the host's loopback (deploy) run outside the namespace, with the
program that was installed inside it. The session's round trip (tests/support/machines.py) gives
the bundles: its base bundle for ``release``, its release bundle for ``deploy`` and ``inspect``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest
from invoking import REPO_ROOT, clean_env, free_port, inv, wait_until
from machines import GREETING, RISK, health

from airgapkit.kit import installer

# one_store: the kits are made and installed the same whatever store the engine keeps, and the
# release and deploy they run are the round trip's, which the second engine runs in its own tests
pytestmark = [pytest.mark.docker, pytest.mark.e2e, pytest.mark.one_store]

PYENV = Path(os.environ.get("PYENV_ROOT", "/root/.pyenv")) / "versions"
OLD_VERSION = "0.0.1"  # the "earlier airgapkit" self-update starts from
PASSPHRASE = "amber kettle orbit 47 lantern fjord"  # noqa: S105 - a test key's passphrase


def python_of(version: str) -> Path | None:
    """A CPython of that minor version: pyenv's (as on the CI machines), else one on PATH."""
    for home in sorted(PYENV.glob(f"{version}.*")):
        if (home / "bin" / f"python{version}").exists():
            return home / "bin" / f"python{version}"
    found = shutil.which(f"python{version}")
    return Path(found) if found else None


INSTALLED = {v: p for v in installer.PYTHONS if (p := python_of(v)) is not None}
HERE = f"{sys.version_info.major}.{sys.version_info.minor}"


def run(argv, *, cwd: Path, env: dict | None = None, timeout: int = 600, check: bool = True):
    """A program of the far side, run as ``invoking.inv`` runs a task (clean environment)."""
    program, *args = [str(a) for a in argv]
    return inv(*args, cwd=cwd, env=env, timeout=timeout, check=check, program=(program,))


def offline(*argv) -> list[str]:
    """``argv`` inside a network namespace of its own: only a loopback, and it is down."""
    return ["unshare", "--net", *map(str, argv)]


def one_line(proc, *words: str) -> str:
    """A refusal: non-zero, no traceback, one line on stderr holding every word."""
    assert proc.returncode != 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


class Kit:
    """What ``inv kit`` left in its three places."""

    def __init__(self, side: Path):
        self.archive = next((side / "dist").glob("airgapkit-*-kit.zip"))
        self.sums = side / "dist-hashes" / f"{self.archive.name}.sha256"
        self.password = side / "dist-password" / f"{self.archive.name}.password"
        self.version = self.archive.name.split("-")[1]

    def unpack(self, dest: Path) -> Path:
        """As the far side does: sha256sum -c, then 7z x."""
        dest.mkdir(parents=True)
        for f in (self.archive, self.sums):
            shutil.copy2(f, dest / f.name)
        run(["sha256sum", "-c", self.sums.name], cwd=dest)
        secret = self.password.read_text().strip()
        run(["7z", "x", f"-p{secret}", f"-o{dest / 'kit'}", self.archive.name], cwd=dest)
        return dest / "kit"


def start_kit(side: Path, *flags: str) -> subprocess.Popen:
    """``inv kit FLAGS`` in ``side``, as a user runs it, started in the background."""
    side.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO_ROOT), "kit", *flags]
    return subprocess.Popen(
        argv,
        cwd=side,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finished(side: Path, proc: subprocess.Popen) -> Kit:
    output, _ = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"inv kit failed in {side}:\n{output}"
    return Kit(side)


@pytest.fixture(scope="module")
def kits(tmp_path_factory) -> dict[str, Kit]:
    """The kits the tests take, made at once (each mostly waits on the index or one CPU):
    this platform at every installed Python with the single program; the other systems users
    have; an earlier airgapkit for this machine."""
    sides = {name: tmp_path_factory.mktemp(f"kit-{name}") for name in ("here", "other", "old")}
    here = start_kit(sides["here"], "--python", ",".join(INSTALLED), "--executable")
    signing = signing_key(sides["other"] / "keys")
    other = start_kit(
        sides["other"],
        "--platform",
        "windows/amd64,darwin/arm64,linux/arm64",
        "--python",
        "3.12",
        "--sign-key",
        signing.private,
        "--key-passphrase-file",
        sides["other"] / "keys" / "pass",
    )
    try:
        make_old_kit(sides["old"], tmp_path_factory.mktemp("old-source"))
    finally:
        made = {"here": finished(sides["here"], here), "other": finished(sides["other"], other)}
    return {**made, "old": Kit(sides["old"])}


def signing_key(folder: Path):
    """A key pair the "other" kit is signed with (its passphrase in ``folder/pass``)."""
    from airgapkit.trust import keys

    folder.mkdir(parents=True)
    (folder / "pass").write_text(PASSPHRASE)
    return keys.keygen(folder / "release", PASSPHRASE)


@pytest.fixture(scope="module")
def kit(kits) -> Kit:
    return kits["here"]


@pytest.fixture(scope="module")
def other_kit(kits) -> Kit:
    """Kits for the other systems users have: they resolve completely (checked in their own test)."""
    return kits["other"]


@pytest.fixture(scope="module")
def old_kit(kits) -> Kit:
    return kits["old"]


@pytest.fixture(scope="module")
def unpacked(kit, tmp_path_factory) -> Path:
    return kit.unpack(tmp_path_factory.mktemp("kit-far") / "media")


@pytest.fixture(scope="module")
def installs(unpacked, tmp_path_factory) -> dict:
    """The kit installed by its install.sh with each Python, offline, into a fresh place each:
    a prefix (versions side by side) with the first, the user's virtual environment with the rest."""
    done = {}
    for i, (version, python) in enumerate(INSTALLED.items()):
        place = tmp_path_factory.mktemp(f"far-py{version}")
        how = ["--prefix", place / "prefix"] if i == 0 else ["--venv", place / "venv"]
        started = time.monotonic()
        proc = run(offline("sh", unpacked / "install.sh", "--python", python, *how), cwd=place)
        home = place / "prefix" / version_in(proc.stdout) if i == 0 else place / "venv"
        program = place / "prefix" / "bin" / "airgapkit" if i == 0 else home / "bin" / "airgapkit"
        done[version] = Installed(program, home, place, proc.stdout, time.monotonic() - started)
    return done


@dataclass
class Installed:
    """An install by the kit's own script: the program to run, its venv, where it was made."""

    program: Path
    home: Path
    place: Path
    said: str
    seconds: float


def version_in(said: str) -> str:
    match = re.search(r"airgapkit (\S+) installed", said)
    assert match, said
    return match.group(1)


def far_side_env(place: Path) -> dict:
    """The far side's settings: its own history file, nothing of this checkout's."""
    return {"INVOKE_AIRGAPKIT_HISTORY": str(place / "history.jsonl")}


@pytest.mark.parametrize("version", installer.PYTHONS)
def test_the_kit_installs_offline_with_each_python_and_runs_the_far_side(
    version, installs, round_trip, machines, docker_client
):
    if version not in INSTALLED:
        pytest.skip(f"Python {version} is not installed on this machine (pyenv or PATH)")
    installed = installs[version]
    program, place = installed.program, installed.place
    print(f"install with Python {version}: {installed.seconds:.1f} s")  # -s shows it
    assert version_in(installed.said) == run([program, "--version"], cwd=place).stdout.split()[-1]
    # the program is the installed copy, not this checkout
    where = run(
        [installed.home / "bin" / "python", "-c", "import airgapkit; print(airgapkit.__file__)"],
        cwd=place,
    )
    assert where.stdout.startswith(str(installed.home)), where.stdout
    archive, sums, password = round_trip["release_inbox"]
    env = far_side_env(place)
    shown = run(
        offline(program, "inspect", archive, "--sums", sums, "--password-file", password),
        cwd=place,
        env=env,
    )
    assert round_trip["app_name"] in shown.stdout
    shutil.copy2(machines["prod"] / ".env.example", place / ".env.example")
    shutil.copy2(machines["prod"] / ".env.prod", place / ".env.prod")
    name = f"{round_trip['app_name']}-kit-py{version.replace('.', '')}"
    ports = f"127.0.0.1:{free_port()}:8080"
    try:
        run(
            [program, "deploy", archive, "--sums", sums, "--password-file", password]
            + ["--env", "prod", "--name", name, "--ports", ports],
            cwd=place,
            env=env,
        )
        assert health(ports)["greeting"] == GREETING
    finally:
        remove_container(docker_client, name)
    assert ("deploy", archive.name, "ok") in history_of(offline(program), place, env)


def history_of(program: list, cwd: Path, env: dict) -> list[tuple[str, str, str]]:
    """(action, archive, outcome) of each entry ``history --json`` prints."""
    printed = run([*program, "history", "--json"], cwd=cwd, env=env).stdout.splitlines()
    return [(e["action"], e["archive"], e["outcome"]) for e in map(json.loads, printed)]


def remove_container(client, name: str) -> None:
    for ref in (name, f"{name}-previous"):
        try:
            client.containers.get(ref).remove(force=True)
        except docker.errors.NotFound:
            pass


def test_the_installed_airgapkit_releases_a_base_bundle(installs, round_trip, tmp_path):
    """The dev side's step with the installed program: verify, build offline, smoke, bundle."""
    installed = installs[HERE if HERE in installs else next(iter(installs))]
    program = installed.program
    archive, sums, password = round_trip["exported"]
    smoke = tmp_path / "smoke.env"
    smoke.write_text("PORT=8080\nAPP_ENV=dev\nGREETING=x\nDB_HOST=h\nDB_USER=u\nDB_PASSWORD=p\n")
    run(
        [program, "release", archive, "--sums", sums, "--password-file", password]
        + ["--accept-risk", RISK, "--smoke-env", smoke],
        cwd=tmp_path,
        env=far_side_env(tmp_path),
    )
    made = list((tmp_path / "dist").glob("*-release.zip"))
    assert made, list(tmp_path.iterdir())
    assert (tmp_path / "dist-hashes" / f"{made[0].name}.sha256").is_file()


# --- the single program ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def program(unpacked, tmp_path_factory) -> tuple[Path, dict]:
    """The kit's single program, and an environment whose PATH holds docker, bash and no Python."""
    found = list((unpacked / "executables").glob("*/airgapkit"))
    assert len(found) == 1, found
    home = tmp_path_factory.mktemp("no-python")
    exe = Path(shutil.copy2(found[0], home / "airgapkit"))
    exe.chmod(0o755)
    tools = home / "bin"
    tools.mkdir()
    for tool in ("docker", "bash"):  # debug-shell's: the docker CLI, run by Invoke through bash
        (tools / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(tools), "HOME": str(home), **far_side_env(home)}
    assert shutil.which("python3", path=env["PATH"]) is None
    return exe, env


def test_the_single_program_runs_the_far_side_with_no_python(
    program, round_trip, machines, docker_client, tmp_path
):
    exe, env = program
    started = time.monotonic()
    assert run([exe, "--version"], cwd=tmp_path, env=env).stdout.strip().startswith("airgapkit ")
    print(f"single program --version: {time.monotonic() - started:.2f} s")
    listed = run([exe, "--list"], cwd=tmp_path, env=env).stdout
    for name in ("release", "deploy", "extract", "inspect", "history", "rollback", "debug-shell"):
        assert name in listed
    base, sums, password = round_trip["exported"]
    smoke = tmp_path / "smoke.env"
    smoke.write_text("PORT=8080\nAPP_ENV=dev\nGREETING=x\nDB_HOST=h\nDB_USER=u\nDB_PASSWORD=p\n")
    release = [base, "--sums", sums, "--password-file", password, "--accept-risk", RISK]
    run([exe, "release", *release, "--smoke-env", smoke], cwd=tmp_path, env=env)
    archive = next((tmp_path / "dist").glob("*-release.zip"))
    sums = tmp_path / "dist-hashes" / f"{archive.name}.sha256"
    password = tmp_path / "dist-password" / f"{archive.name}.password"
    incoming = [archive, "--sums", sums, "--password-file", password]
    assert round_trip["app_name"] in run([exe, "inspect", *incoming], cwd=tmp_path, env=env).stdout
    shutil.copy2(machines["prod"] / ".env.example", tmp_path / ".env.example")
    shutil.copy2(machines["prod"] / ".env.prod", tmp_path / ".env.prod")
    name, ports = f"{round_trip['app_name']}-kit-exe", f"127.0.0.1:{free_port()}:8080"
    target = ["--env", "prod", "--name", name]
    try:
        run([exe, "deploy", *incoming, *target, "--ports", ports], cwd=tmp_path, env=env)
        assert health(ports)["greeting"] == GREETING
        assert name in run([exe, "status", *target], cwd=tmp_path, env=env).stdout
        # --image: with no app folder on prod, debug-shell cannot read the image's name from one
        image = ["--image", f"{round_trip['app_name']}:1.0.0"]
        shell = subprocess.run(
            [str(exe), "debug-shell", *target, *image],
            cwd=tmp_path,
            env=clean_env(env),
            input="echo ALIVE-$((40 + 2)); exit\n",
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert "ALIVE-42" in shell.stdout, shell.stdout + shell.stderr
        back = run([exe, "rollback", *target], cwd=tmp_path, env=env, check=False)
        one_line(back, "nothing to roll back")
    finally:
        remove_container(docker_client, name)
    assert ("deploy", archive.name, "ok") in history_of([exe], tmp_path, env)
    plain = tmp_path / "note.txt"
    plain.write_text("carried\n")
    sums = tmp_path / "sums" / "SHA256SUMS"
    made = ["--files", plain, "--output", tmp_path / "out" / "note.zip", "--sums", sums]
    run([exe, "archive", *made, "--generate-password"], cwd=tmp_path, env=env)
    secret = tmp_path / "dist-password" / "note.zip.password"
    back = ["--sums", sums, "--password-file", secret, "--dest", tmp_path / "back"]
    run([exe, "extract", tmp_path / "out" / "note.zip", *back], cwd=tmp_path, env=env)
    assert (tmp_path / "back" / "note.txt").read_text() == "carried\n"


# --- self-update -----------------------------------------------------------------------------------


def make_old_kit(side: Path, source: Path) -> None:
    """A kit of an earlier airgapkit: this commit's tree (git archive) with a lower version,
    for this machine (``make`` called as the task calls it, with that tree as the source)."""
    from airgapkit.config import DEFAULTS
    from airgapkit.kit import make, targets
    from airgapkit.settings import Crossing

    tree = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", "HEAD"],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(source)], input=tree.stdout, check=True)
    package = source / "src" / "airgapkit" / "__init__.py"  # the version's one place
    text, count = re.subn(
        r'(?m)^__version__ = "[^"]+"',
        f'__version__ = "{OLD_VERSION}"',
        package.read_text(),
        count=1,
    )
    assert count == 1, "the test lowers airgapkit.__version__; it has none now"
    package.write_text(text)
    crossing = Crossing.from_config(
        DEFAULTS["airgapkit"],
        out_dir=str(side / "dist"),
        hashes_dir=str(side / "dist-hashes"),
        password_dir=str(side / "dist-password"),
    )
    make.make([targets.here()], crossing, None, source=source)


def version_of(program: Path, cwd: Path) -> str:
    return run([program, "--version"], cwd=cwd).stdout.split()[-1]


def installed_old(old_kit: Kit, place: Path) -> Path:
    """The earlier airgapkit installed by its own kit (offline) under ``place/prefix``."""
    media = old_kit.unpack(place / "old-media")
    python = INSTALLED.get(HERE) or Path(sys.executable)
    run(
        offline("sh", media / "install.sh", "--python", python, "--prefix", place / "prefix"),
        cwd=place,
    )
    launcher = place / "prefix" / "bin" / "airgapkit"
    assert version_of(launcher, place) == OLD_VERSION
    return launcher


def test_self_update_installs_beside_the_old_one_and_an_interrupted_one_changes_nothing(
    old_kit, kit, tmp_path
):
    launcher = installed_old(old_kit, tmp_path)
    prefix = launcher.parent.parent
    update = [launcher, "self-update", kit.archive, "--sums", kit.sums]
    update += ["--password-file", kit.password]
    # killed (the whole process group, as a power cut would) while the new version is installed
    killed = subprocess.Popen(
        offline(*update),
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    filling = prefix / kit.version / "lib"
    assert wait_until(lambda: filling.exists() or killed.poll() is not None, 300)
    assert killed.poll() is None, "self-update ended before it could be interrupted"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    assert (prefix / "current").read_text().strip() == OLD_VERSION
    assert version_of(launcher, tmp_path) == OLD_VERSION
    run([launcher, "history"], cwd=tmp_path, env=far_side_env(tmp_path))  # the old one works
    done = run(offline(*update), cwd=tmp_path)
    assert f"airgapkit {OLD_VERSION} -> {kit.version}" in done.stdout, done.stdout
    assert version_of(launcher, tmp_path) == kit.version
    assert version_of(prefix / OLD_VERSION / "bin" / "airgapkit", tmp_path) == OLD_VERSION


@pytest.mark.faults  # a small tmpfs of the test's own (root)
def test_a_full_disk_during_self_update_leaves_the_old_one_in_use(old_kit, kit, unpacked, tmp_path):
    """The prefix on a tmpfs the old version fills but for a little more than the new one's
    wheels: the free-space check passes, and the install runs out of space half-way."""
    media = old_kit.unpack(tmp_path / "old-media")
    python = INSTALLED.get(HERE) or Path(sys.executable)
    need = installer.installed_size(unpacked / "targets" / installer.target_id(*here_target()))
    prefix = tmp_path / "prefix"
    prefix.mkdir()
    script = (
        'mount -t tmpfs -o size=200m tmpfs "$1" || exit 99\n'
        'sh "$2" --python "$3" --prefix "$1" >/dev/null || exit 98\n'
        'free=$(df --output=avail -B1 "$1" | tail -n 1)\n'
        'fallocate -l $((free - $4 - 4000000)) "$1/filler" || exit 97\n'
        'prefix=$1; shift 4; unshare --net "$@"; echo "RC:$?"\n'
        'echo "CURRENT:$(cat "$prefix/current" 2>/dev/null)"\n'
    )
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    argv += [prefix, media / "install.sh", python, need, prefix / "bin" / "airgapkit"]
    argv += ["self-update", kit.archive, "--sums", kit.sums, "--password-file", kit.password]
    proc = run(argv, cwd=tmp_path, check=False)
    assert proc.returncode not in (97, 98, 99), proc.stdout + proc.stderr
    assert "RC:1" in proc.stdout, proc.stdout + proc.stderr
    assert f"CURRENT:{OLD_VERSION}" in proc.stdout
    last = proc.stderr.strip().splitlines()[-1]
    assert "No space left on device" in last and f"airgapkit {OLD_VERSION} stays in use" in last
    assert "Traceback" not in proc.stderr


def here_target() -> tuple[str, str]:
    return installer.this_platform(), HERE


# --- bad input on the far side ---------------------------------------------------------------------


def test_kits_for_windows_macos_and_arm64_resolve_completely_and_their_locks_verify(
    other_kit, tmp_path
):
    kit_dir = other_kit.unpack(tmp_path / "media")
    manifest = installer.read_manifest(kit_dir)
    assert {t["platform"] for t in manifest["targets"]} == {
        "windows/amd64",
        "darwin/arm64",
        "linux/arm64",
    }
    for target in manifest["targets"]:
        lock = installer.check_target_files(kit_dir, manifest, target)  # every wheel by its hash
        names = {line.split("==")[0] for line in lock.read_text().splitlines()}
        assert {
            "airgapkit",
            "docker",
            "cryptography",
            "isal",
            "zlib-ng",
            "www-authenticate",
        } <= names
        wheels = list(lock.parent.glob("*.whl"))
        assert len(wheels) == len(names)
        native = [w.name for w in wheels if not w.name.endswith("-none-any.whl")]
        tag = {"windows/amd64": "win_amd64", "darwin/arm64": "macosx_", "linux/arm64": "aarch64"}
        assert all(tag[target["platform"]] in name for name in native), native
        if target["platform"] == "windows/amd64":
            assert "pywin32" in names  # the docker SDK's, on Windows only
        else:
            assert "pywin32" not in names


def test_a_kit_for_another_platform_is_refused_here_in_one_line(other_kit, installs, tmp_path):
    kit_dir = other_kit.unpack(tmp_path / "media")
    proc = run(offline("sh", kit_dir / "install.sh"), cwd=tmp_path, check=False)
    line = one_line(proc, "windows/amd64", f"not for this machine ({installer.this_platform()}")
    assert "inv kit --platform" in line
    installed = next(iter(installs.values()))
    update = [installed.program, "self-update", other_kit.archive, "--sums", other_kit.sums]
    proc = run([*update, "--password-file", other_kit.password], cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "not for this machine" in proc.stderr.strip().splitlines()[-1]


def test_a_wheel_swapped_in_the_unpacked_kit_is_refused_by_its_lock(unpacked, tmp_path):
    kit_dir = tmp_path / "kit"
    shutil.copytree(unpacked, kit_dir)
    folder = kit_dir / "targets" / installer.target_id(*here_target())
    idna = next(folder.glob("idna-*.whl"))
    idna.write_bytes(idna.read_bytes() + b"\0")  # another file under the wheel's name
    python = INSTALLED.get(HERE) or Path(sys.executable)
    proc = run(
        offline("sh", kit_dir / "install.sh", "--python", python, "--venv", tmp_path / "v"),
        cwd=tmp_path,
        check=False,
    )
    one_line(proc, idna.name, "matches no SHA-256", "requirements.txt")
    assert not (tmp_path / "v").exists()


def test_a_kit_whose_hash_does_not_match_is_refused_and_nothing_changes(kit, installs, tmp_path):
    installed = next(iter(installs.values()))
    sums = tmp_path / kit.sums.name
    sums.write_text(f"{'0' * 64}  {kit.archive.name}\n")
    update = [installed.program, "self-update", kit.archive, "--sums", sums]
    proc = run([*update, "--password-file", kit.password], cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert kit.archive.name in proc.stderr.strip().splitlines()[-1]


@pytest.mark.faults  # a small tmpfs of the test's own (root)
def test_a_full_disk_during_install_is_one_line_and_leaves_nothing(unpacked, tmp_path):
    python = INSTALLED.get(HERE) or Path(sys.executable)
    prefix = tmp_path / "small"
    prefix.mkdir()
    script = (
        'mount -t tmpfs -o size=8m tmpfs "$1" || exit 99; shift; "$@"; rc=$?; ls -A "$0"; exit $rc'
    )
    argv = ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", script]
    argv += [prefix, prefix, "sh", unpacked / "install.sh", "--python", python, "--prefix", prefix]
    proc = run(argv, cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    one_line(proc, str(prefix), "MB free", "nothing was installed")
    assert proc.stdout.strip() == "", proc.stdout  # nothing left on the small disk


def test_a_signed_kit_is_checked_against_the_trusted_keys_before_anything_else(
    other_kit, installs, tmp_path
):
    """Signed by its maker's key: refused where trust.keys lists another key only; taken (and
    then refused for its platform, the next check) where it lists the maker's."""
    from airgapkit.trust import keys

    stranger = keys.keygen(tmp_path / "stranger", PASSPHRASE)
    maker = other_kit.archive.parent.parent / "keys" / "release.pub"
    program = next(iter(installs.values())).program
    update = ["self-update", other_kit.archive, "--sums", other_kit.sums]
    update += ["--password-file", other_kit.password]
    for trusted, refusal in (
        (stranger.public, "not among the trusted keys"),
        (maker, "not for this machine"),
    ):
        config = tmp_path / "trust.yaml"
        config.write_text(f"airgapkit:\n  trust:\n    keys: [{trusted}]\n")
        proc = run([program, "-f", config, *update], cwd=tmp_path, check=False)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
        assert refusal in proc.stderr.strip().splitlines()[-1], proc.stderr
