"""A stack across the gap: the app and the services beside it, carried and deployed as one.

- **export** (``export_images``): every image ``compose.yaml`` names is pulled when missing, gated
  (size, vulnerabilities from its report in ``stack.reports``, Node LTS only where the image holds
  Node, non-root where ``stack.require_non_root`` says) and carried, recorded by ID and repository
  digest; an image the far side holds already (by ID, ``--since``) is left out and required.
  The file and each service's env contract travel with it.
- **release** (``release_stack``): the app built, the whole stack smoke-tested on an internal
  network of its own (``engine.compose.smoke_test``), the file rewritten with every image pinned by
  ID (``app.compose.pinned``) and carried with the contracts.
- **deploy** (``deploy``): every env file checked against its contract, every host path checked,
  the images loaded, then ``target: compose`` (``engine.compose.deploy``) or ``target: stack``
  (pushed, pinned by digest, ``engine.stack.deploy``); ``predeploy`` runs before the switch.

The manifest's ``stack`` field records it: ``member`` (the file), ``pinned``, ``app_service``,
``services`` (name, image, id, repo_digest, gate) and ``contracts`` (service, env_file, member, keys).
See docs/stacks.md.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .. import display, fsutil, history, locks
from ..app import compose, envfiles
from ..crossing.manifest import Manifest
from ..delta import apply, plan
from ..engine import compose as engine_compose
from ..engine import identity, images, oneoff, swarm, swarmsecrets
from ..engine import push as registry_push
from ..engine import stack as engine_stack
from ..engine.client import console, default_container_name, engine_address
from ..errors import AirgapError
from ..gate import checkpoint, rules, scanreports
from ..gate import facts as image_facts
from ..gate.limits import resolve
from ..gate.schedule import load_schedule
from ..settings import Gate, Smoke, StackSettings, Target
from ..trust import contract

MEMBER = "stack/compose.yaml"
CONTRACTS = "stack/contracts/"
STATE_DIR = Path(".airgapkit") / "stacks"  # a compose project's deployed file, for a rollback
out = Console(soft_wrap=True, highlight=False, markup=False)


# --- the connected side ----------------------------------------------------------------------------


def read(app_dir: Path, settings: StackSettings) -> compose.Stack | None:
    """The app folder's Compose file, checked (None when there is none: a single app)."""
    path = compose.find(app_dir, settings.compose_file)
    if path is None:
        return None
    stack = compose.load(path, settings.app_service)
    missing = compose.missing_templates(stack, app_dir)
    if missing:
        raise compose.ComposeError(missing)
    return stack


def export_images(
    client,
    stack: compose.Stack,
    manifest: Manifest,
    *,
    app_dir: Path,
    work: Path,
    gate: Gate,
    settings: StackSettings,
    previous,
) -> tuple[list, list]:
    """Gate every image of the stack (pulled by ``pull_images``); record it in the manifest. The
    refs to carry (those the far side lacks) and the files (the file and each service's contract)."""
    services = []
    for name, ref in stack.others().items():
        verdict = gate_service(client, name, ref, gate, settings)
        services.append(_service_record(client, name, ref, verdict.record()))
    carry = _carried_refs(manifest, services, previous)
    contracts, files = service_contracts(stack, app_dir, work)
    manifest.stack = {
        "member": MEMBER,
        "pinned": False,
        "app_service": stack.app_service,
        "services": services,
        "contracts": contracts,
    }
    return carry, [(Path(stack.source), MEMBER), *files]


def pull_images(client, stack: compose.Stack) -> None:
    """Every image of the stack's other services, pulled where the engine lacks it."""
    for ref in dict.fromkeys(stack.others().values()):
        images.pull(client, ref, if_missing=True)


def _service_record(client, name: str, ref: str, gate: dict | None = None) -> dict:
    image = images.require_image(client, ref)
    image_id = identity.of(client, image)  # the config digest: the same on both image stores
    record = {"name": name, "image": ref, "id": image_id, "repo_digest": repo_digest(image, ref)}
    return {**record, "gate": gate} if gate is not None else record


def repo_digest(image, ref: str) -> str:
    """The image's repository digest for ``ref``'s repository (``name@sha256:...``), else any."""
    digests = image.attrs.get("RepoDigests") or []
    repository = ref.partition("@")[0].rpartition(":")[0] if ":" in ref.split("/")[-1] else ref
    return next(
        (d for d in digests if d.partition("@")[0] == repository), digests[0] if digests else ""
    )


def _carried_refs(manifest: Manifest, services: list[dict], previous) -> list[str]:
    """The service images to carry: each once, and none the far side holds by ID (``--since``)."""
    carry: list[str] = []
    seen: set[str] = set()  # two services may run one image
    for record in services:
        if record["image"] in seen:
            continue
        seen.add(record["image"])
        if previous is not None:
            manifest.since = previous.record()
            held = plan.held_whole(previous, record["image"], record["id"])
            if held is not None:
                manifest.requires.append(held)
                continue
        carry.append(record["image"])
    return carry


def gate_service(client, name: str, ref: str, gate: Gate, settings: StackSettings):
    """The image rules on a service's image: size and vulnerabilities always, Node LTS when the
    image holds Node, non-root when ``stack.require_non_root`` names the service."""
    limits = resolve(gate.limits)
    facts = image_facts.from_engine(client, ref)
    today = date.today()
    report = settings.reports.get(name)
    results = [rules.rule_size(facts, limits.max_size_mb)]
    node = checkpoint.node_version(client, facts)
    if node[0]:
        schedule = load_schedule(limits.schedule or None)
        results.append(rules.rule_node_lts(*node, schedule, limits.min_support_months, today))
    loaded = scanreports.load(report) if report else None
    results.append(rules.rule_vulnerabilities(loaded, facts, limits.allowed))
    if settings.non_root(name):
        results.append(rules.rule_non_root(facts))
    console.print(f"service {name}: the image rules on {ref}")
    result = rules.GateResult(ref, facts.image_id, "service", results, checked_on=today.isoformat())
    return checkpoint.verdict(result, gate.accept_risk, None)


def service_contracts(stack: compose.Stack, app_dir: Path, work: Path) -> tuple[list, list]:
    """Each service's env contract (from its env file's template) and the files that carry them."""
    records, files = [], []
    for name in stack.others():
        for env_file in stack.env_files(name):
            member = f"{CONTRACTS}{compose.example_of(env_file)}"
            made = contract.from_example(
                Path(app_dir) / compose.example_of(env_file), f"service {name} {env_file}"
            )
            path = contract.write(made, work / f"contract-{name}-{Path(env_file).name}.example")
            records.append(
                {"service": name, "env_file": env_file, "member": member, "keys": list(made.keys)}
            )
            files.append((path, member))
    return records, files


# --- the dev side ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Carried:
    """What a bundle brings of a stack: its record, the file read back, the contracts extracted."""

    record: dict
    stack: compose.Stack
    contracts: dict[str, Path]  # env_file as written -> its contract file here


def carried(opened, work: Path) -> Carried | None:
    """The stack an opened bundle carries (None: a single app), taken out into ``work``."""
    record = opened.manifest.stack
    if not record:
        return None
    folder = Path(work) / "stack"
    path = opened.extract(record["member"], folder)
    stack = compose.parse(
        path.read_bytes(), f"{opened.path.name}:{record['member']}", record["app_service"]
    )
    contracts = {
        c["env_file"]: opened.extract(c["member"], folder) for c in record.get("contracts", [])
    }
    return Carried(record, stack, contracts)


def release_stack(
    client,
    stack: Carried,
    *,
    app_ref: str,
    smoke: Smoke,
    app_contract: Path | None,
    manifest: Manifest,
    previous,
    work: Path,
) -> tuple[list[str], list]:
    """Smoke-test the whole stack, pin its file; the service refs to carry and the files."""
    # as loaded here (checked against the export's IDs), the export's gate records kept
    services = [
        {**s, **_service_record(client, s["name"], s["image"])} for s in stack.record["services"]
    ]
    app_image = images.require_image(client, app_ref)
    pins = {
        stack.stack.app_service: identity.of(client, app_image),
        **{s["name"]: s["id"] for s in services},
    }
    names = {stack.stack.app_service: app_ref, **{s["name"]: s["image"] for s in services}}
    check = swarm.health_probe(smoke.ports.container_port, smoke.health_path)
    probe = compose.health_probe(check, smoke.timeout)
    doc = compose.pinned(stack.stack, pins, names, probe)
    smoke_test(client, stack, doc, smoke, app_contract, work)
    pinned_file = fsutil.write_atomic(Path(work) / "compose.pinned.yaml", compose.dump(doc))
    manifest.stack = {**stack.record, "member": MEMBER, "pinned": True, "services": services}
    files = [(pinned_file, MEMBER)]
    files += [
        (stack.contracts[c["env_file"]], c["member"]) for c in stack.record.get("contracts", [])
    ]
    return _carried_refs(manifest, services, previous), files


def smoke_test(client, stack: Carried, doc: dict, smoke: Smoke, app_contract, work: Path) -> None:
    """The pinned stack on an internal network of its own: see ``engine.compose``."""
    app = stack.stack.app_service
    env_files = {app: [smoke.env_file or app_contract]} if smoke.env_file or app_contract else {}
    for name in stack.stack.others():
        env_files[name] = [stack.contracts[f] for f in stack.stack.env_files(name)]
    smoke_doc = compose.for_smoke(
        engine_pinned(client, doc), env_files, engine_compose.SMOKE_NETWORK
    )
    file = fsutil.write_atomic(Path(work) / "compose.smoke.yaml", compose.dump(smoke_doc))
    probe = swarm.health_probe(smoke.ports.container_port, smoke.health_path)[1:]
    engine_compose.smoke_test(
        client, file, app_service=app, probe=probe, timeout=smoke.timeout, log_dir=smoke.log_dir
    )


def engine_pinned(client, doc: dict) -> dict:
    """The pinned file as this engine runs it: each image named by the ID this engine gives it.

    The carried file pins each image by its identity (its config digest, ``engine.identity``),
    which both image stores agree on; the containerd store knows an image by another digest, and
    Compose hands the engine the name it reads. Each image is looked for under its own name.
    """
    services = {}
    for name, service in doc["services"].items():
        pinned, ref = service["image"], _local_name(service)
        found = identity.find(client, pinned, ref)
        if found is None:
            raise AirgapError(
                f"service {name}: no image {pinned[:19]} is loaded here under {ref}; deploy "
                "the stack's release bundle again, which loads it"
            )
        services[name] = {**service, "image": found.id}
    return {**doc, "services": services}


# --- test/prod -------------------------------------------------------------------------------------


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
    from .release import check_loaded  # the one check of loaded IDs

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
    print_status(status(client, target, project))


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
        keys = swarmsecrets.secret_keys(values[name], example, target.configured.secrets)
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


# --- status ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StackStatus:
    target: str
    project: str
    rows: tuple[tuple[str, ...], ...]
    columns: tuple[str, ...]


def status(client, target: Target, project: str) -> StackStatus:
    """What runs of the stack: one row per service (stack) or container (compose)."""
    if target.configured.target == "compose":
        found = engine_compose.states(client, project)
        rows = tuple(
            (s.service, s.container, s.named or s.image, s.state, s.health or "-") for s in found
        )
        columns = ("service", "container", "image", "state", "health")
    else:
        views = engine_stack.status(client, project)
        rows = tuple(
            (
                v.name.removeprefix(f"{project}_"),
                v.image.partition("@")[0],
                v.image.partition("@")[2][:19],
                f"{v.running}/{v.wanted}",
                v.update or "-",
            )
            for v in views
        )
        columns = ("service", "image", "digest", "running", "last update")
    if not rows:
        raise AirgapError(
            f"no stack {project} runs for environment {target.environment}; deploy it first, or "
            f"set airgapkit.environments.{target.environment}.project"
        )
    return StackStatus(target.configured.target, project, rows, columns)


def print_status(found: StackStatus) -> None:
    what = "Compose project" if found.target == "compose" else "Swarm stack"
    table = Table(
        *found.columns, title=f"{what} {display.markup(found.project)}", title_justify="left"
    )
    for row in found.rows:
        table.add_row(*(display.text(cell) for cell in row))
    out.print(table)


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
