"""What the flows are told: one settings object per concern, each built ONE way.

Every object has one constructor from the merged configuration (``c.config.airgapkit``, or any
mapping with the same keys) plus the task's flags, where a flag left empty means "as configured".
The tasks (``tasks/``), ``demo.py`` and the tests all build them through these constructors, so a setting
is read from the configuration in exactly one place::

    target = Target.from_config(cfg, env="prod", name=name, ports=ports)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .crossing.volumes import parse_size  # the one parser of volume sizes
from .environments import Environment, env_files
from .environments import get as environment_of
from .errors import AirgapError
from .history import History
from .oci.registry import Access
from .ports import Ports


def config_ports(cfg: Mapping, ports: str = "") -> Ports:
    """The port mappings: the flag when given, else the configured ones, parsed here once."""
    return Ports.parse(ports or cfg["ports"])


def _split_or_none(value) -> int | None:
    return parse_size(value) if value else None


def _path_or_none(value) -> Path | None:
    return Path(value) if value else None


def history_of(cfg: Mapping) -> History | None:
    """This machine's delivery history (the ``history`` setting); None when it is empty (not kept)."""
    return History(Path(cfg["history"])) if cfg["history"] else None


@dataclass(frozen=True)
class Engine:
    """How the engine is asked: seconds the SDK waits on one call (multi-GB saves and loads)."""

    timeout: int = 3600

    @classmethod
    def from_config(cls, cfg: Mapping) -> Engine:
        return cls(cfg["engine_timeout"])


@dataclass(frozen=True)
class Project:
    """The app and where the connected and dev sides work: its folder, its image's name and tag
    ("": from package.json), the base image, the build folder and the Dockerfile."""

    app: Path
    image: str
    tag: str
    base_image: str
    build_dir: Path
    dockerfile: str

    @classmethod
    def from_config(cls, cfg: Mapping, *, app="", base_image="") -> Project:
        return cls(
            Path(app or cfg["app"]),
            cfg["image"],
            cfg["tag"],
            base_image or cfg["base_image"],
            Path(cfg["build_dir"]),
            cfg["dockerfile"],
        )

    def image_ref(self, package, *, image: str = "", tag: str = "") -> str:
        """The app's image reference: the flags, then the configuration, then the package's own
        name and version (``app.npm.Package``)."""
        return f"{image or self.image or package.image_name}:{tag or self.tag or package.version}"


@dataclass(frozen=True)
class Places:
    """The three places a bundle's parts go: the media, the second channel, the third channel."""

    out_dir: Path
    hashes_dir: Path
    password_dir: Path

    @classmethod
    def from_config(cls, cfg: Mapping, *, out_dir="", hashes_dir="", password_dir="") -> Places:
        return cls(
            Path(out_dir or cfg["out_dir"]),
            Path(hashes_dir or cfg["hashes_dir"]),
            Path(password_dir or cfg["password_dir"]),
        )


@dataclass(frozen=True)
class Crossing:
    """How an outgoing archive is protected, and where its three parts go."""

    places: Places
    level: int = 5
    password_file: Path | None = None  # a given password; else one is generated
    allow_weak_password: bool = False
    split: int | None = None  # media volumes of at most this many bytes (crossing/volumes.py)
    force: bool = False  # replace an earlier delivery of the same bundle in these places

    @classmethod
    def from_config(
        cls,
        cfg: Mapping,
        *,
        out_dir="",
        hashes_dir="",
        password_dir="",
        new_password_file="",
        allow_weak_password=False,
        level=-1,
        split="",
        force=False,
    ) -> Crossing:
        """``level`` below 0 means the configured compression."""
        return cls(
            Places.from_config(
                cfg, out_dir=out_dir, hashes_dir=hashes_dir, password_dir=password_dir
            ),
            level if level >= 0 else cfg["compression"],
            _path_or_none(new_password_file),
            allow_weak_password,
            _split_or_none(split),
            force,
        )


@dataclass(frozen=True)
class Gate:
    """The image rules to apply (see gate/limits.py), a scanner report and any accepted risk; for
    the app's packages, a report made beforehand, else the registry npm audit asks ("": npm's)."""

    limits: dict = field(default_factory=dict)
    report: Path | None = None
    accept_risk: str = ""
    app_report: Path | None = None
    audit_registry: str = ""

    @classmethod
    def from_config(
        cls,
        cfg: Mapping,
        *,
        report="",
        accept_risk="",
        app_report="",
        max_size_mb=None,
        min_support_months=None,
    ) -> Gate:
        """The configured policy with the limits given as flags (None or "": not given)."""
        limits = {key: cfg["policy"][key] for key in cfg["policy"].keys()}  # noqa: SIM118 - proxies
        flags = {"max_size_mb": max_size_mb, "min_support_months": min_support_months}
        limits.update({key: value for key, value in flags.items() if value not in (None, "")})
        return cls(
            limits,
            _path_or_none(report),
            accept_risk,
            _path_or_none(app_report),
            cfg["audit_registry"],
        )


@dataclass(frozen=True)
class BaseSource:
    """Where the base image comes from: the engine (``docker save``), its registry, or ``auto``
    (the engine when it answers and has the image, the registry otherwise); the platform to take
    from a multi-platform image, and how the registry is reached (``oci.Access``)."""

    source: str = "engine"
    platform: str = "linux/amd64"
    access: Access = field(default_factory=Access)

    SOURCES = ("engine", "registry", "auto")

    @classmethod
    def from_config(cls, cfg: Mapping, *, source="", platform="") -> BaseSource:
        chosen = (source or cfg["base_source"]).strip().lower()
        if chosen not in cls.SOURCES:
            raise AirgapError(
                f"base image source {chosen!r} is not one of {', '.join(cls.SOURCES)}; "
                "set base_source or --source to one of them"
            )
        access = Access(
            ca_file=_path_or_none(cfg["registry_ca"]),
            credentials_file=_path_or_none(cfg["registry_auth_file"]),
            insecure_registries=tuple(cfg["insecure_registries"]),
        )
        return cls(chosen, platform or cfg["platform"], access)


@dataclass(frozen=True)
class Incoming:
    """A bundle that arrived: the archive, its separately delivered hash, its password file."""

    archive: Path
    sums: Path | None = None
    password_file: Path | None = None

    @classmethod
    def from_flags(cls, bundle, *, sums="", password_file="") -> Incoming:
        """Nothing of an incoming bundle is configured: it is all on the command line."""
        return cls(Path(bundle), _path_or_none(sums), _path_or_none(password_file))


@dataclass(frozen=True)
class Smoke:
    """How a built image is tried before it is bundled: its port, health path and settings."""

    ports: Ports
    health_path: str = "/health"
    timeout: int = 60
    env_file: Path | None = None  # settings the app needs to start (placeholders are fine)
    log_dir: Path = Path("logs")  # where a failed try's log is kept

    @classmethod
    def from_config(cls, cfg: Mapping, *, env_file="") -> Smoke:
        return cls(
            config_ports(cfg),
            cfg["health_path"],
            cfg["health_timeout"],
            _path_or_none(env_file),
            Path(cfg["log_dir"]),
        )


@dataclass(frozen=True)
class Target:
    """Where and how a release runs: environment, its env file, container name and ports.

    ``base_dir`` is where the environments' env files and the example lie (relative paths are
    taken from it): the current folder for the tasks.
    """

    environment: str
    environments: dict
    env_example: Path
    base_dir: Path
    ports: Ports
    health_path: str
    health_timeout: int
    name: str = ""
    # The environment as configured: engine or swarm, its registry and swarm settings.
    configured: Environment | None = None
    log_dir: Path = Path("logs")  # where a failed container's log is kept
    predeploy: str | list = ""  # a one-off command before the switch (a stack's: stack.predeploy)

    @classmethod
    def from_config(
        cls, cfg: Mapping, *, env: str, name="", ports="", base_dir: Path | None = None
    ) -> Target:
        base = Path(base_dir) if base_dir is not None else Path.cwd()
        configured = environment_of(env, cfg["environments"], base)
        return cls(
            environment=env,
            environments=env_files(cfg["environments"]),
            env_example=base / cfg["env_example"],
            base_dir=base,
            ports=config_ports(cfg, ports),
            health_path=cfg["health_path"],
            health_timeout=cfg["health_timeout"],
            name=name,
            configured=configured,
            log_dir=base / cfg["log_dir"],
            predeploy=cfg["stack"]["predeploy"] if configured.is_stack else cfg["predeploy"],
        )

    @property
    def is_swarm(self) -> bool:
        return self.configured is not None and self.configured.is_swarm

    @property
    def is_stack(self) -> bool:
        """A Compose file of several services: target compose or stack (flows/stack.py)."""
        return self.configured is not None and self.configured.is_stack


@dataclass(frozen=True)
class Trust:
    """Who signs outgoing bundles, and whose signatures arriving ones need (trust/signing.py).

    ``keys`` are the ``trust.keys`` entries as configured (paths, or ``{file, revoked}``), relative
    paths taken from ``base_dir`` (the current folder for the tasks).
    """

    keys: tuple = ()
    sign_key: Path | None = None
    passphrase_file: Path | None = None  # else AIRGAPKIT_KEY_PASSPHRASE, else a prompt
    base_dir: Path = Path(".")

    @classmethod
    def from_config(
        cls, cfg: Mapping, *, sign_key="", passphrase_file="", base_dir: Path | None = None
    ) -> Trust:
        trust = cfg["trust"]
        keys = trust["keys"] or ()
        return cls(
            tuple([keys] if isinstance(keys, str) else keys),
            _path_or_none(sign_key or trust["sign_key"]),
            _path_or_none(passphrase_file),
            Path(base_dir) if base_dir is not None else Path.cwd(),
        )


@dataclass(frozen=True)
class StackSettings:
    """A stack on the connected and dev sides: the Compose file's name in the app folder, which
    service is the app, and the rules its other images answer to (see app/compose.py)."""

    compose_file: str = "compose.yaml"
    app_service: str = ""
    require_non_root: bool | tuple[str, ...] = ()  # True: every service
    reports: dict = field(default_factory=dict)  # service -> its image's scanner report

    @classmethod
    def from_config(cls, cfg: Mapping) -> StackSettings:
        stack = cfg["stack"]
        non_root = stack["require_non_root"]
        return cls(
            stack["compose_file"] or "compose.yaml",
            stack["app_service"] or "",
            non_root if isinstance(non_root, bool) else tuple(non_root or ()),
            {str(k): Path(v) for k, v in dict(stack["reports"] or {}).items()},
        )

    def non_root(self, service: str) -> bool:
        return self.require_non_root is True or (
            not isinstance(self.require_non_root, bool) and service in self.require_non_root
        )


@dataclass(frozen=True)
class Kit:
    """What ``inv kit`` carries: platforms and Python versions, as written (``kit.targets`` parses
    them); "": this machine's."""

    platforms: str | list = ""
    python: str | list = ""

    @classmethod
    def from_config(cls, cfg: Mapping, *, platform="", python="") -> Kit:
        return cls(platform or cfg["kit"]["platforms"], python or cfg["kit"]["python"])


@dataclass(frozen=True)
class Flag:
    """A task flag, declared once: its default (which gives Invoke its type) and its help."""

    default: object
    help: str


@dataclass(frozen=True)
class Outgoing:
    """A bundle on its way out (``export``, ``release``, ``kit``): how it crosses, the gate its
    images pass, who signs it.

    As twine's ``Settings`` declares its options once for every command that takes them, ``FLAGS``
    declares these flags once, in the order the tasks list them (their short flags follow from
    it); a task names those it takes, and gets this object built once from the configuration and
    their values (``tasks.common.task``).
    """

    crossing: Crossing
    gate: Gate
    trust: Trust

    FLAGS: ClassVar[dict[str, Flag]] = {
        "report": Flag("", "Scanner JSON report (Trivy or Grype) for the vulnerability rule."),
        "accept_risk": Flag(
            "", "Go on despite failed image rules; the reason is recorded in the manifest."
        ),
        "new_password_file": Flag(
            "", "Protect the new archive with this file's password, not a generated one."
        ),
        "allow_weak_password": Flag(False, "Accept a weak password from --new-password-file."),
        "level": Flag(
            -1, "Compression: 0 stores, 1-9 deflate (default: the configured compression, 5)."
        ),
        "out_dir": Flag("", "Folder for the archive: what goes on the media (default: dist)."),
        "hashes_dir": Flag(
            "", "Folder for the archive's SHA-256: the second channel (default: dist-hashes)."
        ),
        "password_dir": Flag(
            "", "Folder for the generated password: the third channel (default: dist-password)."
        ),
        "split": Flag(
            "", "Write media volumes NAME.zip.001, .002, ... of at most this size (4g, 4.7G, 700m)."
        ),
        "force": Flag(
            False,
            "Replace an earlier delivery of this bundle in these folders (archive, hash, password).",
        ),
        "sign_key": Flag(
            "", "Sign the bundle with this NAME.key (from inv keygen; default: trust.sign_key)."
        ),
        "key_passphrase_file": Flag(
            "", "File with the key's passphrase (else AIRGAPKIT_KEY_PASSPHRASE, else a prompt)."
        ),
        "app_report": Flag(
            "",
            "Report on the app's npm packages made beforehand: npm audit --json (npm 7+), or "
            "Trivy, Grype or OSV-Scanner JSON of the app's SBOM (default: npm audit runs now).",
        ),
    }
    GATE_FLAGS: ClassVar[tuple[str, ...]] = ("report", "accept_risk", "app_report")

    @classmethod
    def flags(cls, *, omit: tuple[str, ...] = ()) -> tuple[str, ...]:
        """The names of the flags a task takes: every one but ``omit``, in their order."""
        return tuple(name for name in cls.FLAGS if name not in omit)

    @classmethod
    def from_config(
        cls,
        cfg: Mapping,
        *,
        report="",
        accept_risk="",
        app_report="",
        sign_key="",
        key_passphrase_file="",
        **crossing,
    ) -> Outgoing:
        """``crossing``: the flags of ``Crossing.from_config`` (a level below 0: as configured)."""
        return cls(
            Crossing.from_config(cfg, **crossing),
            Gate.from_config(cfg, report=report, accept_risk=accept_risk, app_report=app_report),
            Trust.from_config(cfg, sign_key=sign_key, passphrase_file=key_passphrase_file),
        )
