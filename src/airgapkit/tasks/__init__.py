"""The airgapkit Invoke collection ``ns``: each task a few lines over the library.

The tasks live in one module per side: ``connected`` (the base image, the app, export, kit),
``dev`` (load, build, run, release), ``prod`` (deploy, rollback, push, status) and ``anyside``
(hashes, archives, bundles read, keys, history, self-update, the demo); ``common`` holds the task
wrapper and what several tasks share. The root ``tasks.py`` of a project imports ``ns`` from here
and adds or overrides tasks. Defaults live in ``config.DEFAULTS``; ``invoke.yaml``,
``INVOKE_AIRGAPKIT_*`` variables and flags override them.
"""

from __future__ import annotations

from invoke import Collection

from ..config import DEFAULTS
from .anyside import archive, demo, extract, hash_, history_, inspect, keygen, sbom, self_update
from .connected import audit, check_image, choose_base, export, kit, pack, pull, save
from .dev import build, load, prune, release, run, shell_debug
from .prod import debug_shell, deploy, push, rollback, status

ns = Collection(
    pull,
    save,
    pack,
    load,
    build,
    prune,
    run,
    shell_debug,
    export,
    release,
    deploy,
    rollback,
    debug_shell,
    push,
    status,
    inspect,
    history_,
    sbom,
    keygen,
    demo,
    check_image,
    audit,
    choose_base,
    hash_,
    archive,
    extract,
    kit,
    self_update,
)
ns.configure(DEFAULTS)
