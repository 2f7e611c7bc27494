"""What every task shares: Invoke's ``@task`` with airgapkit's wrapper, the engine, the settings
a task builds, and the help of the flags several tasks take (each text written once)."""

from __future__ import annotations

import functools
import inspect
import sys

from invoke import Exit, Task
from invoke import task as invoke_task

from .. import history
from ..app import npm
from ..engine import client as engine_client
from ..errors import AirgapError, Interrupted, chain, debug_enabled
from ..settings import BaseSource, Engine, Outgoing, Project, Trust, history_of

NOTHING_LEFT = "nothing was left under a final name"


class _Task(Task):
    """Invoke's task, whose automatic short flag is never the dash of a dashed name: ``--`` (what
    ``--app-report`` got after ``-a``, ``-p`` and ``-r`` were taken) would be no usable flag."""

    def arg_opts(self, name, default, taken_names):
        return super().arg_opts(name, default, {*taken_names, "-"})


def task(*args, outgoing: tuple[str, ...] = (), **kwargs):
    """Invoke's ``@task``, with every AirgapError turned into one clear line and a non-zero exit.

    ``outgoing``: the ``settings.Outgoing`` flags the task takes (``Outgoing.flags(...)``). They
    follow the task's own flags, their help is theirs, and the body gets ``outgoing=``, the
    ``Outgoing`` built once from the configuration and their values.
    """

    def decorate(body):
        @functools.wraps(body)
        def guarded(c, *a, **kw):
            try:
                if outgoing:
                    given = {name: kw.pop(name, Outgoing.FLAGS[name].default) for name in outgoing}
                    kw["outgoing"] = Outgoing.from_config(config(c), **given)
                return body(c, *a, **kw)
            except AirgapError as exc:
                if debug_enabled():
                    sys.stderr.write(chain(exc))
                raise Exit(f"airgapkit: {exc}", code=1) from exc
            except KeyboardInterrupt as exc:
                left = str(exc) if isinstance(exc, Interrupted) else NOTHING_LEFT
                raise Exit(f"airgapkit: interrupted; {left}", code=130) from exc

        options = dict(kwargs)
        if outgoing:
            guarded.__signature__ = _taking(inspect.signature(body), outgoing)
            flags_help = {name: Outgoing.FLAGS[name].help for name in outgoing}
            options["help"] = {**options.get("help", {}), **flags_help}
        return invoke_task(klass=_Task, **options)(guarded)

    if len(args) == 1 and callable(args[0]) and not kwargs:  # bare @task
        return decorate(args[0])
    return decorate


def _taking(signature: inspect.Signature, names: tuple[str, ...]) -> inspect.Signature:
    """The body's signature as Invoke reads it: ``outgoing`` replaced by those flags, at the end."""
    own = [p for p in signature.parameters.values() if p.name != "outgoing"]
    flags = [
        inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=flag.default)
        for name, flag in ((name, Outgoing.FLAGS[name]) for name in names)
    ]
    return signature.replace(parameters=[*own, *flags])


def config(c):
    """The merged ``airgapkit`` configuration section: read through ``settings`` alone."""
    return c.config.airgapkit


def client(c):
    return engine_client.connect(timeout=Engine.from_config(config(c)).timeout)


def project(c, *, app: str = "", base_image: str = "") -> Project:
    return Project.from_config(config(c), app=app, base_image=base_image)


def app_image(c, image: str = "", tag: str = "") -> str:
    """The app's image reference: flags, then configuration, then package.json."""
    settings = project(c)
    return settings.image_ref(npm.read_package(settings.app), image=image, tag=tag)


def base_source(c, source: str = "", platform: str = "") -> BaseSource:
    return BaseSource.from_config(config(c), source=source, platform=platform)


def trust_of(c, sign_key="", key_passphrase_file="") -> Trust:
    """Who signs (flag, else trust.sign_key) and whose signatures arriving bundles need (trust.keys)."""
    return Trust.from_config(config(c), sign_key=sign_key, passphrase_file=key_passphrase_file)


def recorded(c, action: str, flow, *args, **kwargs):
    """Run a flow and add its line to this machine's history (``airgapkit.history``)."""
    return history.record(history_of(config(c)), action, flow, *args, **kwargs)


# The help of flags that several tasks take, each written once.
HELP = {
    "source": "engine (docker), registry (straight from its registry, no engine) or auto "
    "(default: base_source, engine).",
    "platform": "With the registry: the platform of a multi-platform image (default: linux/amd64).",
    "today": "Judge Node support as of this date, YYYY-MM-DD (default: today).",
    "variant": "inside: npm installs the .tgz in the image (Dockerfile); "
    "host: the .tgz is extracted here and the image needs no npm (airgap.Dockerfile).",
    "dockerfile": "Dockerfile (default: dockerfiles/Dockerfile, or airgap.Dockerfile for host).",
    "no_cache": "Build every layer again (docker build --no-cache).",
    "ports": "[IP:]HOST:CONTAINER[/PROTO] port mappings, comma-separated (default: 8080:8080).",
    "since": "Make a delta: last (the previous bundle in the history) or a manifest from "
    "inspect --json.",
    "bundle": "The archive that came on the media.",
    "sums": "Its SHA-256 file that came by the second channel (default: <bundle>.sha256 beside it).",
    "verify_sums": "Verify the archive against this SHA-256 file first.",
    "password_file": "File holding the archive's password (else AIRGAPKIT_PASSWORD, else a prompt).",
}
INCOMING_HELP = {name: HELP[name] for name in ("bundle", "sums", "password_file")}
