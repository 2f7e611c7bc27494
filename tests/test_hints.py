"""Every hint names a flag of the task that gives it.

A message such as "or use --if-missing with a local copy" is only help where the task in hand has
``--if-missing``. For each task of the collection, this reads airgapkit's source: the functions the
task can reach (a call graph over the package's modules, by the names functions and classes are
imported under; a class reached brings all its methods), and in them every string that says
``--flag``. Each such flag must be one of the task's own, unless the string names another command
right before it (``inv load --input``, ``docker rm -f``, ``node --version``): then it must be one
of that task's flags, or belong to a program that is not airgapkit. Command lines built as lists
(argv for npm or docker, the next command printed for the other side) are not hints and are left
out, and so are docstrings.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from invoking import assert_refusal, inv

from airgapkit.tasks import ns
from conftest import REPO_ROOT

SRC = REPO_ROOT / "src" / "airgapkit"
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
# Another program's command right before a flag: its flag, not the task's.
OTHER = re.compile(
    r"\b(?:inv|airgapkit) ([a-z][a-z-]*)\b|\b(docker|npm|node|7z|sha256sum|trivy|grype|pip|uv)\b"
    r"|\b(install\.(?:sh|ps1|py)|airgapkit(?= $))"  # the kit's installer; the program's own flags
)
BREAK = re.compile(r"[;)`]|, | or ")  # where a command named in a message ends


@dataclass
class Module:
    name: str
    tree: ast.Module
    defs: dict[str, ast.AST] = field(default_factory=dict)  # function, class, Class.method
    imported: dict[str, str] = field(default_factory=dict)  # local name -> "module[:name]"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def load_modules() -> dict[str, Module]:
    modules = {}
    for path in sorted(SRC.rglob("*.py")):
        mod = Module(module_name(path), ast.parse(path.read_text(), str(path)))
        package = mod.name if path.name == "__init__.py" else mod.name.rpartition(".")[0]
        for node in mod.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                mod.defs[node.name] = node
            elif isinstance(node, ast.ClassDef):
                mod.defs[node.name] = node
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        mod.defs[f"{node.name}.{item.name}"] = item
            elif isinstance(node, ast.ImportFrom) and node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                source = f"{base}.{node.module}" if node.module else base
                for alias in node.names:
                    mod.imported[alias.asname or alias.name] = f"{source}:{alias.name}"
        modules[mod.name] = mod
    for mod in modules.values():  # "pkg:name" naming a submodule is that module
        for local, target in mod.imported.items():
            source, _, name = target.partition(":")
            if f"{source}.{name}" in modules:
                mod.imported[local] = f"{source}.{name}"
    return modules


def local_names(node: ast.AST) -> set[str]:
    """Names a function binds itself (arguments, assignments): they hide the module's."""
    names = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)}
    names |= {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }
    return names


def resolve(modules: dict[str, Module], mod: Module, node: ast.AST, local=()) -> list[str]:
    """The definitions ``node`` (a name or an attribute) refers to, as "module:def"."""
    if isinstance(node, ast.Name):
        if node.id in local:
            return []
        if node.id in mod.defs:
            return [f"{mod.name}:{node.id}"]
        target = mod.imported.get(node.id, "")
        return [target] if ":" in target else []
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        owner = node.value.id
        if owner in mod.defs:  # Class.method in this module
            return [f"{mod.name}:{owner}.{node.attr}"]
        target = mod.imported.get(owner, "")
        if target in modules:  # module.function
            return [f"{target}:{node.attr}"]
        if ":" in target:  # an imported class: Class.method
            return [f"{target}.{node.attr}"]
    return []


def body_nodes(node: ast.AST):
    """Everything in a definition but its decorators (a task's help texts) and docstring."""
    parts = node.body if hasattr(node, "body") else [node]
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        parts = [*node.args.defaults, *node.args.kw_defaults, *node.body]
    for part in parts:
        if part is not None:
            yield from ast.walk(part)


def reachable(modules: dict[str, Module], start: str) -> set[str]:
    """Every definition ``start`` can reach. A method of a class reached is reached when reached
    code names an attribute of its name (``opened.extract(...)``): instances are not typed here."""
    seen, todo, classes, called = set(), [start], set(), set()
    while todo:
        key = todo.pop()
        module, _, name = key.partition(":")
        mod = modules.get(module)
        if key in seen or mod is None or name not in mod.defs:
            continue
        seen.add(key)
        node = mod.defs[name]
        if isinstance(node, ast.ClassDef):
            classes.add(key)
            methods = [d for d in mod.defs if d.startswith(f"{name}.")]
            todo += [f"{module}:{d}" for d in methods if d.split(".")[1] in called | DUNDER]
            continue
        local = local_names(node)
        for child in body_nodes(node):
            todo += resolve(modules, mod, child, local)
            if isinstance(child, ast.Attribute) and child.attr not in called:
                called.add(child.attr)
                todo += [f"{c}.{child.attr}" for c in classes]
    return seen


DUNDER = {"__init__", "__post_init__", "__enter__", "__exit__", "__iter__", "__next__", "__call__"}


def messages(node: ast.AST) -> list[str]:
    """The strings of a definition that may be shown to a person (f-strings with {} for values)."""
    skipped = set()
    for child in body_nodes(node):
        if isinstance(child, ast.List | ast.Tuple):  # argv of another program, or a printed line
            skipped.update(id(e) for e in child.elts)
        if isinstance(child, ast.Expr) and isinstance(child.value, ast.Constant):
            skipped.add(id(child.value))  # a docstring (or a bare string)
    found = []
    for child in body_nodes(node):
        if id(child) in skipped:
            continue
        if isinstance(child, ast.JoinedStr):
            skipped.update(id(v) for v in child.values)
            found.append(
                "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in child.values)
            )
        elif isinstance(child, ast.Constant) and isinstance(child.value, str):
            found.append(child.value)
    return found


def task_flags(task) -> set[str]:
    return {"--" + arg.name.replace("_", "-") for arg in task.get_arguments()}


TASKS = {name: ns[name] for name in ns.task_names}

# Hints the source can reach from a task but the task never gives: the value they name is the
# task's own doing, so the refusal cannot arise there. Each says why; a new entry needs as much.
CANNOT_ARISE = {
    # demo runs export, release and deploy with values it makes itself, in folders it empties
    ("demo", "--sums"): "the demo hands each bundle's hash file on itself",
    ("demo", "--since"): "the demo makes full bundles, never a delta",
    ("demo", "--accept-risk"): "the demo accepts the risk itself (demo.RISK)",
    ("demo", "--out-dir"): "the demo's media folders are made under --workdir, emptied first",
    ("demo", "--hashes-dir"): "likewise its second-channel folders",
    ("demo", "--password-dir"): "likewise its third-channel folders",
    ("demo", "--dest"): "a bundle's member is extracted into a folder made for it",
    ("demo", "--force"): "the demo writes each delivery into folders it has just emptied",
    (
        "demo",
        "--app-report",
    ): "an advisory service that does not answer is a failed rule the demo accepts",
    ("release", "--dest"): "a bundle's member is extracted into a folder made for it",
    ("deploy", "--dest"): "a bundle's member is extracted into a folder made for it",
    # a password that is read, not made, is never judged for strength (allow_weak=True)
    **{
        (task, "--allow-weak-password"): "it reads a password, never judges one"
        for task in ("demo", "deploy", "extract", "inspect", "keygen", "sbom", "self-update")
    },
    ("self-update", "--dest"): "the kit's members are extracted into a folder made for them",
    # the kit writes uv's argv and pip's lock lines, and prints the far side's self-update command
    ("kit", "--constraint"): "uv's argv, added flag by flag (kit/resolve.py)",
    ("kit", "--build-constraint"): "uv's argv, added flag by flag (kit/resolve.py)",
    **{
        (task, "--hash"): "a lock file's lines (name==version --hash=sha256:...), not a message"
        for task in ("kit", "self-update")
    },
    ("kit", "--password-file"): "the far side's `airgapkit self-update` line, printed in pieces",
    # check-image judges without going on: the gate's message leaves --accept-risk out for it
    # (can_accept=False; test_check_image_does_not_offer_accept_risk below)
    ("check-image", "--accept-risk"): "checkpoint.gate(..., can_accept=False)",
}


def wrong_hints(modules: dict[str, Module], task_name: str, excused=None) -> list[str]:
    """Each hint ``task_name`` can reach that names a flag it lacks (``excused``: CANNOT_ARISE)."""
    excused = CANNOT_ARISE if excused is None else excused
    task = TASKS[task_name]
    own = task_flags(task)
    body = task.body.__wrapped__  # under tasks.common.task's wrapper
    start = f"{body.__module__}:{body.__name__}"
    wrong = []
    for key in sorted(reachable(modules, start)):
        module, _, name = key.partition(":")
        if isinstance(modules[module].defs[name], ast.ClassDef):
            continue  # its methods are looked at one by one
        for text in messages(modules[module].defs[name]):
            for flag in FLAG.finditer(text):
                allowed = own
                before = text[: flag.start()]
                named = list(OTHER.finditer(before))
                if named and not BREAK.search(before[named[-1].end() :]):
                    command = named[-1].group(1)
                    if command is None:
                        continue  # another program's flag
                    allowed = task_flags(TASKS[command]) if command in TASKS else set()
                if flag.group() not in allowed and (task_name, flag.group()) not in excused:
                    wrong.append(f"{key}: {flag.group()} in {text!r}")
    return wrong


@pytest.fixture(scope="module")
def modules():
    return load_modules()


def test_the_source_is_read_whole(modules):
    reached = reachable(modules, "airgapkit.tasks.anyside:demo")
    assert "airgapkit.engine.images:pull" in reached  # demo -> round_trip -> export -> pull
    assert "airgapkit.crossing.bundle:OpenBundle.extract" in reached  # a class's methods


@pytest.mark.parametrize("task_name", sorted(TASKS))
def test_every_hint_names_a_flag_of_the_task(modules, task_name):
    assert wrong_hints(modules, task_name) == []


def test_every_excuse_is_still_needed(modules):
    found = {
        (task_name, line.split(": ", 1)[1].split(" in ", 1)[0])
        for task_name in TASKS
        for line in wrong_hints(modules, task_name, excused={})
    }
    assert set(CANNOT_ARISE) <= found, set(CANNOT_ARISE) - found


def test_check_image_does_not_offer_accept_risk():
    from airgapkit.gate import rules

    failed = rules.RuleResult("size", False, "300 MB", "200 MB", "over the limit", "pick another")
    assert failed.line(can_accept=False) == "size: over the limit; pick another"
    assert failed.line().endswith('or pass --accept-risk "reason"')


def test_a_demo_that_cannot_pull_names_its_own_flag(docker_client, tmp_path):
    """As the new user met it: the demo on a machine that cannot pull its base image."""
    proc = inv(
        "demo",
        "--base-image",
        "127.0.0.1:1/agk-absent:1",  # nothing answers there: the pull fails at once
        "--workdir",
        str(tmp_path / "demo"),
        cwd=REPO_ROOT,  # the configured app is relative to the project
    )
    line = assert_refusal(proc, "could not pull 127.0.0.1:1/agk-absent:1", "--base-image")
    assert "--if-missing" not in line
