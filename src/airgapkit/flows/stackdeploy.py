"""A stack deployed on test/prod (the third part of flows/stack.py's story): every env file
checked against its contract, every host path checked, the images loaded, then ``target: compose``
(``engine.compose.deploy``) or ``target: stack`` (pushed, pinned by digest, ``engine.stack.deploy``);
``predeploy`` runs before the switch. See docs/stacks.md.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import fsutil, history, locks
from ..app import compose, envfiles
from ..delta import apply
from ..engine import compose as engine_compose
from ..engine import images, oneoff, swarm, swarmsecrets
from ..engine import push as registry_push
from ..engine import stack as engine_stack
from ..engine.client import engine_address
from ..errors import AirgapError
from ..oci.reference import default_container_name
from ..settings import Target
from ..trust import contract
from . import status as statuses
from .release import check_loaded  # the one check of loaded IDs
from .stack import carried, engine_pinned

STATE_DIR = Path(".airgapkit") / "stacks"  # a compose project's deployed file, for a rollback


def project_name(target: Target, app: dict) -> str:
    """The Compose project or Swarm stack name: configured, else ``<app>-<environment>``."""
    configured = target.configured.project if target.configured else ""
    if configured:
        return configured
    name = f"{app['image_name']}-{target.environment}".lower()
    return "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in name)


def check_bundle(opened, target: Target) -> None:
    """A stack bundle goes to a stack target, a single app's to the others."""
    has_stack = bool(opened.manifest.stack)
    if has_stack and not target.is_stack:
        raise AirgapError(
            f"{opened.path.name} carries a stack (compose.yaml); environment {target.environment} "
            "runs one container: set its target to compose or stack in invoke.yaml"
        )
    if target.is_stack and not has_stack:
        raise AirgapError(
            f"{opened.path.name} carries one app, no compose.yaml; environment "
            f"{target.environment} deploys a stack (target {target.configured.target})"
        )


@dataclass(frozen=True)
class Prepared:
    """A stack checked on this machine before anything changes: the file with host paths made
    absolute, and each service's env values and env files (the app's included)."""

    stack: compose.Stack
    doc: dict
    env_files: dict[str, list[Path]]
    contracts: dict[str, Path]  # service -> the contract its env values were checked against


def prepare(opened, target: Target, app_env_file: Path, app_contract: Path, work: Path) -> Prepared:
    """Every host path and every service's env file checked here, one line per problem."""
    stack = carried(opened, work)
    doc, problems = compose.with_host_paths(stack.stack.doc, target.base_dir)
    problems = [f"{stack.stack.source}: {line}" for line in problems]
    env_files = {stack.stack.app_service: [app_env_file]}
    contracts = {stack.stack.app_service: app_contract}
    for name in stack.stack.others():
        env_files[name] = []
        for env_file in stack.stack.env_files(name):
            path = target.base_dir / compose.for_environment(env_file, target.environment)
            if not path.is_file():
                problems.append(
                    f"service {name}: its env file {path} for environment {target.environment} "
                    f"is missing; make it from the contract {compose.example_of(env_file)}"
                )
                continue
            contract.check(
                path,
                stack.contracts[env_file],
                described_as=(f"the env contract of service {name} carried by {opened.path.name}"),
            )
            env_files[name].append(path)
            contracts[name] = stack.contracts[env_file]
    if problems:
        raise compose.ComposeError(problems)
    return Prepared(stack.stack, doc, env_files, contracts)


def deploy(
    client,
    opened,
    target: Target,
    *,
    app_env: dict,
    app_env_file: Path,
    app_contract: Path,
    run: history.Run,
):
    """Check, load, then deploy the stack by the environment's target (see the module's docs)."""
    manifest = opened.manifest
    project = run.entry.name = project_name(target, manifest.app)  # status finds it by the history
    on_swarm = target.configured.target == "stack"
    doing = f"deploy of stack {project}"
    with (
        tempfile.TemporaryDirectory(prefix="airgapkit-stack-") as tmp,
        locks.held("stack", f"{engine_address()} {project}", doing),  # one deploy at a time
    ):
        work = Path(tmp)
        checked = prepare(opened, target, app_env_file, app_contract, work)
        if on_swarm:
            swarm.require_manager(client)  # never initialised here: it says how
        apply.check_prerequisites(client, manifest, opened.path)
        apply.load_images(client, opened)
        check_loaded(client, manifest.images)
        prepared = dataclasses.replace(checked, doc=engine_pinned(client, checked.doc))
        if on_swarm:
            deploy_swarm(client, prepared, target, project, app_env, run, work)
        else:
            deploy_compose(client, prepared, target, project, run)
    statuses.print_stack(statuses.of_stack(client, target, project))


def noted_predeploy(run: history.Run, doing) -> None:
    """Run the predeploy (``doing``) and put its outcome in the history, whichever it is."""
    try:
        outcome = doing()
    except oneoff.PredeployFailed as failed:
        run.entry.predeploy = failed.outcome.record()
        raise
    run.entry.predeploy = outcome.record()


def deploy_compose(
    client, prepared: Prepared, target: Target, project: str, run: history.Run
) -> None:
    """``target: compose``: ``up --wait`` with the file and a copy of each service's env files,
    made in ``.airgapkit/stacks/<project>/next``; kept as ``current`` once it runs, so that the
    next deploy brings back exactly this stack (its env values included) when it fails."""
    state = target.base_dir / STATE_DIR / project
    current, new = state / "current", state / "next"
    shutil.rmtree(new, ignore_errors=True)
    new.mkdir(mode=0o700, parents=True)
    services = {}
    for name, service in prepared.doc["services"].items():
        copies = [
            _copy_private(path, new / f"{name}-{i}.env")
            for i, path in enumerate(prepared.env_files.get(name, []))
        ]
        services[name] = {**service, "env_file": copies} if copies else service
    file = fsutil.write_atomic(
        new / "compose.yaml", compose.dump({**prepared.doc, "services": services}), mode=0o600
    )
    if target.predeploy:
        app = prepared.stack.app_service
        noted_predeploy(
            run,
            lambda: engine_compose.run_once(project, file, app, target.predeploy, target.log_dir),
        )
    previous = current / "compose.yaml"
    engine_compose.deploy(
        client,
        project=project,
        file=file,
        previous=previous if previous.is_file() else None,
        timeout=target.health_timeout,
        log_dir=target.log_dir,
    )
    shutil.rmtree(current, ignore_errors=True)
    new.rename(current)


def _copy_private(source: Path, dest: Path) -> str:
    """A copy of an env file only its owner reads; its name relative to the file's folder."""
    fsutil.write_atomic(dest, Path(source).read_bytes(), mode=0o600)
    return f"./{dest.name}"


def deploy_swarm(
    client,
    prepared: Prepared,
    target: Target,
    project: str,
    app_env: dict,
    run: history.Run,
    work: Path,
) -> None:
    """``target: stack``: every image pushed (digests read back), secrets made, the file written
    for ``docker stack deploy``, the predeploy, then the deploy watched."""
    env = target.configured
    pushed = {}
    for name, service in prepared.doc["services"].items():
        pushed[name] = registry_push.push(client, _local_name(service), env.registry).pinned
    values = {name: _env_values(prepared, name, app_env) for name in prepared.doc["services"]}
    doc = swarm_file(client, prepared, project, pushed, values, target)
    file = fsutil.write_atomic(work / "compose.stack.yaml", compose.dump(doc), mode=0o600)
    try:
        if target.predeploy:
            app = prepared.stack.app_service
            networks = ensure_networks(client, project, doc, app)
            noted_predeploy(
                run,
                lambda: oneoff.run_once(
                    client,
                    prepared.doc["services"][app]["image"],
                    target.predeploy,
                    env=values[app],
                    networks=networks,
                    log_dir=target.log_dir,
                ),
            )
        engine_stack.deploy(
            client, project, file, timeout=env.rollout_timeout, registry=env.registry
        )
    finally:
        for name in doc["services"]:
            full = f"{project}_{name}"
            swarmsecrets.remove_unused(client, full, keep=_secrets_in_use(client, full))


def _local_name(service: dict) -> str:
    """The name a loaded image goes by here (the label of the pinned file)."""
    return service["labels"][compose.IMAGE_LABEL]


def _env_values(prepared: Prepared, name: str, app_env: dict) -> dict[str, str]:
    if name == prepared.stack.app_service:
        return dict(app_env)
    values: dict[str, str] = {}
    for path in prepared.env_files.get(name, []):
        values.update(envfiles.load(path))
    return values


def swarm_file(
    client, prepared: Prepared, project: str, pushed: dict, values: dict, target: Target
) -> dict:
    """The file ``docker stack deploy`` reads: images by digest, env values in the file (secret
    ones as Swarm secrets, exported by a wrapper), every update rolled back on failure, the
    networks attachable (the predeploy joins them)."""
    doc = compose.with_swarm_updates(prepared.doc, target.configured.update)
    doc.pop("name", None)  # the stack's name is the project's
    doc["version"] = "3.8"  # older docker CLIs take a file without one for 1.0 and refuse it
    for name, service in doc["services"].items():
        service["image"] = pushed[name]
        service.pop("env_file", None)
        example = prepared.contracts.get(name, target.env_example)
        keys = envfiles.secret_keys(values[name], example, target.configured.secrets)
        plain = {k: v for k, v in values[name].items() if k not in keys}
        written = compose.environment_of(service)
        service["environment"] = {**{k: compose.escape(v) for k, v in plain.items()}, **written}
        if keys:
            made = swarmsecrets.create(client, f"{project}_{name}", values[name], keys)
            local = _local_name(prepared.doc["services"][name])
            user = service.get("user") or _config(client, local).get("User", "")
            compose.add_secrets(doc, name, made, user, _start_of(client, prepared, name))
    return doc


def _config(client, ref: str) -> dict:
    return images.require_image(client, ref).attrs.get("Config") or {}


def _start_of(client, prepared: Prepared, name: str) -> tuple[list[str], list[str]]:
    """The entrypoint and command a service starts with: its own in the file, else its image's."""
    service = prepared.doc["services"][name]
    config = _config(client, _local_name(service))
    entrypoint = compose.command_of(service.get("entrypoint"))
    command = compose.command_of(service.get("command"))
    if entrypoint is None:
        entrypoint = list(config.get("Entrypoint") or [])
        command = command if command is not None else list(config.get("Cmd") or [])
    return entrypoint, command or []


def ensure_networks(client, project: str, doc: dict, service: str) -> tuple[str, ...]:
    """The Swarm names of the networks ``service`` joins, made now (attachable overlays, labelled
    for the stack, which then takes them as its own) when they do not exist yet."""
    names = []
    for network in compose.networks_of(doc, service):
        spec = (doc.get("networks") or {}).get(network) or {}
        full = spec.get("name") or (network if spec.get("external") else f"{project}_{network}")
        if not [n for n in client.networks.list(names=[full]) if n.name == full]:
            client.networks.create(
                full,
                driver="overlay",
                attachable=True,
                scope="swarm",
                labels={engine_stack.NAMESPACE_LABEL: project},
            )
        names.append(full)
    return tuple(names)


def _secrets_in_use(client, service: str) -> set[str]:
    found = swarm.find(client, service)
    if found is None:
        return set()
    spec, before = found.attrs.get("Spec"), found.attrs.get("PreviousSpec")
    return swarmsecrets.names_in(spec) | swarmsecrets.names_in(before)


def project_of(target: Target, name: str, app_image) -> str:
    """The stack ``status`` reports on: ``--name``, else configured, else ``<app>-<environment>``
    from the app's image name (``app_image()``, which needs the app folder)."""
    if name or target.configured.project:
        return name or target.configured.project
    try:
        image = app_image()
    except AirgapError as exc:
        raise AirgapError(
            f"name the stack with --name or airgapkit.environments.{target.environment}.project: "
            f"{exc}"
        ) from exc
    return project_name(target, {"image_name": default_container_name(image)})
