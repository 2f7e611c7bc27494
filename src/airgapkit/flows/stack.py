"""A stack across the gap: the app and the services beside it, carried and deployed as one.

- **export** (``export_images``): every image ``compose.yaml`` names is pulled when missing, gated
  (size, vulnerabilities from its report in ``stack.reports``, Node LTS only where the image holds
  Node, non-root where ``stack.require_non_root`` says) and carried, recorded by ID and repository
  digest; an image the far side holds already (by ID, ``--since``) is left out and required.
  The file and each service's env contract travel with it.
- **release** (``release_stack``): the app built, the whole stack smoke-tested on an internal
  network of its own (``engine.compose.smoke_test``), the file rewritten with every image pinned by
  ID (``app.compose.pinned``) and carried with the contracts.
- **deploy** (``stackdeploy.deploy``): every env file checked against its contract, every host
  path checked, the images loaded, then ``target: compose`` or ``target: stack``.

The manifest's ``stack`` field records it: ``member`` (the file), ``pinned``, ``app_service``,
``services`` (name, image, id, repo_digest, gate) and ``contracts`` (service, env_file, member, keys).
See docs/stacks.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from .. import fsutil
from ..app import compose
from ..crossing.manifest import Manifest
from ..delta import plan
from ..engine import compose as engine_compose
from ..engine import identity, images, swarm
from ..engine.client import console
from ..errors import AirgapError
from ..gate import checkpoint, rules, scanreports
from ..gate import facts as image_facts
from ..gate.limits import resolve
from ..gate.schedule import load_schedule
from ..settings import Gate, Smoke, StackSettings
from ..trust import contract

MEMBER = "stack/compose.yaml"
CONTRACTS = "stack/contracts/"


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
    Compose hands the engine the name it reads. Each image is looked for under its own name (the
    label the pinned file gives it).
    """
    services = {}
    for name, service in doc["services"].items():
        pinned, ref = service["image"], service["labels"][compose.IMAGE_LABEL]
        found = identity.find(client, pinned, ref)
        if found is None:
            raise AirgapError(
                f"service {name}: no image {pinned[:19]} is loaded here under {ref}; deploy "
                "the stack's release bundle again, which loads it"
            )
        services[name] = {**service, "image": found.id}
    return {**doc, "services": services}
