"""Defaults for every task, in one place.

Invoke merges them under the ``airgapkit`` key, then ``invoke.yaml``, then ``INVOKE_AIRGAPKIT_*``
variables, then the task's flags, each overriding the one before.
"""

from __future__ import annotations

import copy

# The image rules' limits (gate/limits.py checks them): the ``policy`` section below.
POLICY = {
    # MB of 10^6 bytes, as docker prints sizes.
    "max_size_mb": 200,
    # Whole months of Node support left (to its end of life) that an image must still have.
    "min_support_months": 6,
    # Vulnerabilities allowed per CVSS v3.1 severity; severities not named: no limit. invoke.yaml
    # is merged over these, so lift one by giving it a number (high: 5), not by leaving it out.
    "allowed": {"critical": 0, "high": 0},
    # Days a vulnerability report (the base image's, the app's packages') may be old when it is
    # taken on the connected side: advisories age, and the table is "as of" the report's date.
    "max_report_age_days": 7,
    # A newer Node release schedule (the upstream schedule.json or airgapkit's format);
    # empty: the one packaged in airgapkit/data/node-releases.json.
    "schedule": "",
}

DEFAULTS = {
    "airgapkit": {
        # The Node.js app folder (holds package.json); the bundled example when none is named.
        "app": "examples/tms-api",
        # Image name and tag of the app; empty means: from package.json (name without scope, version).
        "image": "",
        "tag": "",
        "base_image": "node:20-alpine",
        # Where export, pull and check-image take the base image from: engine (docker save), registry
        # (straight from its registry, no engine needed), or auto (the engine when it has the image).
        "base_source": "engine",
        # The platform taken from a multi-platform image when reading a registry: the far side's.
        "platform": "linux/amd64",
        # Registry access for the registry source: a private CA's PEM file, a USER:PASSWORD file
        # (else AIRGAPKIT_REGISTRY_USER/PASSWORD, else docker login), registries allowed plain HTTP.
        "registry_ca": "",
        "registry_auth_file": "",
        "insecure_registries": [],
        "dockerfile": "dockerfiles/Dockerfile",
        # [IP:][HOST:]CONTAINER[/PROTO], comma-separated (ports.py); the first TCP one is the app's.
        "ports": "8080:8080",
        "health_path": "/health",
        # Where the connected side and the dev side write what they make.
        "build_dir": "build",
        "out_dir": "dist",
        # The second and third channels: hashes and password never lie beside the archive.
        "hashes_dir": "dist-hashes",
        "password_dir": "dist-password",
        # This machine's delivery history: one JSON line per export, release and deploy; empty: none.
        "history": ".airgapkit/history.jsonl",
        # Compression for archives: 0 stores, 1-9 deflate.
        "compression": 5,
        # Seconds the SDK waits on one engine call: multi-GB saves and loads outlast the default 60.
        "engine_timeout": 3600,
        # Seconds a started container has to answer its health path.
        "health_timeout": 60,
        # Where the whole log of a container that failed its health check is kept (private files).
        "log_dir": "logs",
        # Environment name -> env file or mapping (environments.py), for deploy, debug-shell,
        # push and status; DEFAULT_ENVIRONMENTS below are added for the names not configured here.
        "environments": {},
        "env_example": ".env.example",
        # A command run once from the new app image before a deploy replaces anything (a database
        # migration, say: "node migrate.js"); empty: none. A stack's is stack.predeploy.
        "predeploy": "",
        # A stack: the app folder's Compose file and the services beside the app (docs/stacks.md).
        # app_service: the service that is the app (default: the one with build:); predeploy: as
        # above, for a stack; require_non_root: services whose image must not run as root (true:
        # all); reports: service -> its image's scanner report for the vulnerability rule.
        "stack": {
            "compose_file": "compose.yaml",
            "app_service": "",
            "predeploy": "",
            "require_non_root": [],
            "reports": {},
        },
        # Base-image rules: the limits above (POLICY), a copy a configuration may change.
        "policy": copy.deepcopy(POLICY),
        # The registry npm audit asks for the app packages' advisories (export, audit); empty: the
        # one npm installs the app from (its .npmrc). One that serves no advisory endpoint (many
        # mirrors) gives no report: pass --app-report, or name a registry here that serves it.
        "audit_registry": "",
        # Signed bundles (trust/signing.py). sign_key: the NAME.key (from inv keygen) that export
        # and release sign with; empty: bundles go unsigned. keys: the public keys whose signature
        # an arriving bundle needs, each a path or {file: PATH, revoked: REASON}; empty: unsigned
        # bundles are accepted with a warning.
        "trust": {"sign_key": "", "keys": []},
        # inv kit: the platforms (linux/amd64, linux/arm64, windows/amd64, darwin/amd64,
        # darwin/arm64) and Python versions (3.10-3.13) a kit carries, each a list or a
        # comma-separated string; empty: this machine's platform and Python.
        "kit": {"platforms": "", "python": ""},
    }
}

# The environments there are when the configuration names none of the same name. Kept out of
# DEFAULTS: Invoke cannot merge a mapping in invoke.yaml (``prod: {target: swarm, ...}``) over a
# default string, so environments.configured() adds these in code instead.
DEFAULT_ENVIRONMENTS = {
    "dev": ".env.dev",
    "test": ".env.test",
    "pre-prod": ".env.pre-prod",
    "prod": ".env.prod",
}
