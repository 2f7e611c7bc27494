"""The delivery history of this machine: one JSON line per export, release and deploy.

Every run of a flow appends one line to ``.airgapkit/history.jsonl`` (the ``history`` setting), ok
or not: when and by whom, the app and version, the bundle's archive and SHA-256, each image's ID
and layers, what a delta was made against, the counts of the app packages' known vulnerabilities,
and the outcome (failed, rolled back, interrupted included), and the seconds of each phase
(``phases``; said in one ``times:`` line when the run goes through). ``--since last`` finds the
previous delivery here; ``inv history`` prints it.

The file is append-only: a line is added whole and synced, earlier lines are never rewritten. A
run killed while writing can leave a damaged last line; reading reports it and skips it, and the
next line written starts on a line of its own. A line holds names, IDs, hashes and the one-line
error of a failed run: never a password, never a value of an env file.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import stat
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from . import display, fsutil, phases
from .errors import AirgapError, RolledBack

if TYPE_CHECKING:
    from .crossing.manifest import Manifest

ACTIONS = ("export", "release", "deploy")
OK, FAILED, ROLLED_BACK, INTERRUPTED = "ok", "failed", "rolled back", "interrupted"


@dataclass
class Entry:
    """One run of a flow, as one line of the history."""

    action: str  # export, release or deploy
    when: str = ""  # UTC, when the run started
    seconds: float = 0.0  # how long it ran
    user: str = ""
    host: str = ""
    app: str = ""
    version: str = ""
    environment: str = ""  # deploy: the environment whose env file the container got
    name: str = ""  # deploy: the container or service it ran as
    archive: str = ""  # the bundle's archive: the one made (export, release) or deployed
    archive_sha256: str = ""
    images: list[dict] = field(default_factory=list)  # {ref, id, layers} of the images it carried
    requires: list[dict] = field(default_factory=list)  # a delta's prerequisites, by image ID
    since: dict | None = None  # what a delta was made against (None: a full bundle)
    outcome: str = ""  # ok, failed, rolled back, interrupted
    message: str = ""  # the one-line error when not ok
    signer: str = ""  # the fingerprint of the key that signed the bundle, checked ("": none)
    unchecked_signer: str = ""  # the key a signature named where none could be checked
    sbom_packages: int | None = None  # how many packages the bundle's SBOM lists (None: no SBOM)
    # The app's packages' known vulnerabilities: {source, date, counts}; None: no report carried.
    app_vulnerabilities: dict | None = None
    predeploy: dict | None = None  # deploy: the one-off command's {command, exit_code, seconds}
    times: dict | None = None  # seconds per phase ({save & archive: 8.2, ...}); None: not timed

    def started(self) -> Entry:
        self.when = datetime.now(timezone.utc).isoformat(timespec="seconds")
        self.user, self.host = _user(), socket.gethostname()
        return self

    def bundle(self, manifest: Manifest, archive: Path | str, sha256: str = "") -> None:
        """What a bundle says of itself: app, version, images, prerequisites, what it is a delta of."""
        self.app, self.version = manifest.app.get("name", ""), manifest.app.get("version", "")
        self.archive, self.archive_sha256 = Path(archive).name, sha256
        self.images = [_image(record) for record in manifest.images]
        self.requires = [dict(req) for req in manifest.requires]
        self.since = manifest.since
        self.sbom_packages = manifest.sbom["packages"] if manifest.sbom else None
        report = manifest.app_report
        self.app_vulnerabilities = (
            {key: report[key] for key in ("source", "date", "counts")} if report else None
        )

    def held(self) -> list[dict]:
        """The images the far side holds once this bundle arrived: those it carried and needed."""
        carried = [{**image, "carried_by": self.archive} for image in self.images]
        return carried + [dict(req) for req in self.requires]

    @classmethod
    def from_dict(cls, doc: dict) -> Entry:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in doc.items() if key in known})


def _image(record: dict) -> dict:
    return {"ref": record["ref"], "id": record["id"], "layers": list(record.get("layers") or [])}


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError, ImportError):  # no login name (Windows: getpass tries pwd)
        return ""


class History:
    """The history file of this machine."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def check(self) -> None:
        """Refuse a history that is not a regular file: a FIFO would hang every reader."""
        try:
            mode = os.stat(self.path).st_mode
        except FileNotFoundError:
            return  # none yet: the first run makes it
        except OSError as exc:
            raise AirgapError(f"cannot read the history {self.path} ({exc.strerror})") from exc
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):  # a folder: append says so
            raise AirgapError(
                f"the history {self.path} is not a regular file; point airgapkit.history at a "
                "file (or set it empty to keep none)"
            )

    def append(self, entry: Entry) -> None:
        """Add one line at the end, synced; a damaged last line is ended, never rewritten."""
        line = json.dumps(asdict(entry), separators=(",", ":")).encode() + b"\n"
        self.check()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a+b") as log:  # every write goes to the end, whatever the position
                if log.tell() and not _ends_a_line(log):
                    log.write(b"\n")
                log.write(line)
                log.flush()
                os.fsync(log.fileno())
        except OSError as exc:
            raise AirgapError(
                f"cannot add to the history {self.path} ({exc.strerror or exc}); make it writable "
                "or point airgapkit.history elsewhere"
            ) from exc

    def read(self) -> tuple[list[Entry], list[str]]:
        """Every entry, oldest first, and a note for each damaged line (skipped): one that is not
        JSON, or whose fields do not have an entry's types (``fits``)."""
        self.check()
        if not self.path.exists():
            return [], []
        with fsutil.PinnedFile(self.path) as log:  # opened once, and only as a regular file
            lines = log.read().splitlines()
        entries, notes = [], []
        for number, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            entry = _parse(raw)
            if entry is None:
                notes.append(
                    f"{self.path} line {number} is damaged (a run killed while writing it?); "
                    "skipped"
                )
            else:
                entries.append(entry)
        return entries, notes

    def last(self, *, app: str, action: str) -> Entry | None:
        """The latest run of ``action`` for ``app`` that went through (a bundle delivered); each
        damaged line is said on stderr, as ``inv history`` says it."""
        entries, notes = self.read()
        for note in notes:
            display.warn(note)
        done = [e for e in entries if e.app == app and e.action == action and e.outcome == OK]
        return done[-1] if done else None

    def last_deploy(self, environment: str) -> Entry | None:
        """The latest deploy to ``environment`` here that went through: what runs there."""
        entries, notes = self.read()
        for note in notes:
            display.warn(note)
        done = [e for e in entries if e.action == "deploy" and e.outcome == OK and e.images]
        done = [e for e in done if e.environment == environment]
        return done[-1] if done else None


def _ends_a_line(log) -> bool:
    log.seek(-1, os.SEEK_END)
    return log.read(1) == b"\n"


def _parse(raw: bytes) -> Entry | None:
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return Entry.from_dict(doc) if fits(doc) else None


# An entry's schema, for the lines read back: each field of Entry with the type it holds. A field
# left out takes its default (older lines); a field of another type makes the line damaged.
_TEXT_FIELDS = (
    "when user host app version environment name archive archive_sha256 outcome message signer "
    "unchecked_signer"
).split()


def _text(value: object) -> bool:
    return isinstance(value, str)


def _texts(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# the images a bundle carried, and a delta's prerequisites (``for`` and ``layers``: taken in part)
_IMAGE = {"ref": _text, "id": _text}
_REQUIREMENT = {"ref": _text, "id": _text, "carried_by": _text}
_OPTIONAL = {"layers": _texts, "for": _text, "carried_by": _text}


def fits(doc: object) -> bool:
    """Whether a line read back has the shape of an entry (see ``Entry``)."""
    if not isinstance(doc, dict) or doc.get("action") not in ACTIONS:
        return False
    return (
        all(isinstance(doc.get(name, ""), str) for name in _TEXT_FIELDS)
        and _is_number(doc.get("seconds", 0.0))
        and _records(doc.get("images", []), _IMAGE)
        and _records(doc.get("requires", []), _REQUIREMENT)
        and (doc.get("since") is None or _record(doc["since"], {"archive": _text}))
        and (doc.get("sbom_packages") is None or _is_count(doc["sbom_packages"]))
        and (doc.get("times") is None or _phase_times(doc["times"]))
    )


def _phase_times(value: object) -> bool:
    return isinstance(value, dict) and all(_is_number(seconds) for seconds in value.values())


def _records(value: object, required: dict) -> bool:
    return isinstance(value, list) and all(_record(item, required) for item in value)


def _record(value: object, required: dict) -> bool:
    """A mapping with each ``required`` key, and the optional ones it has, of their types."""
    if not isinstance(value, dict) or not all(
        k in value and ok(value[k]) for k, ok in required.items()
    ):
        return False
    return all(ok(value[key]) for key, ok in _OPTIONAL.items() if key in value)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


# --- recording a run ------------------------------------------------------------------------------


@dataclass
class Run:
    """What a flow is given to record itself: the history (None: not kept) and its entry."""

    history: History | None
    entry: Entry

    def note_app(self, app: dict) -> None:
        """The app the run is about, known before any bundle is (a failed run is found by it)."""
        self.entry.app, self.entry.version = app.get("name", ""), app.get("version", "")

    def note_bundle(self, manifest: Manifest, archive: Path, sha256: str = "") -> None:
        self.entry.bundle(manifest, archive, sha256)

    def note_signer(self, fingerprint: str | None) -> None:
        """The fingerprint of the key this run signed the bundle with (None: unsigned)."""
        self.entry.signer = fingerprint or ""

    def note_signature(self, verdict) -> None:
        """Who signed a bundle that arrived (``trust.signing.Verdict``; None: not checked): the
        signer only once checked against trust.keys, else as ``unchecked_signer``."""
        signer = verdict.signer if verdict is not None else None
        trusted = verdict is not None and verdict.trusted
        self.entry.signer = (signer or "") if trusted else ""
        self.entry.unchecked_signer = "" if trusted else (signer or "")


def unrecorded(action: str) -> Run:
    """A run that keeps no history (the library called without the tasks)."""
    return Run(None, Entry(action))


def record(history: History | None, action: str, flow: Callable, /, *args, **kwargs) -> Any:
    """Run ``flow(*args, run=..., **kwargs)`` and append its entry, whatever the outcome; a
    history that could not take the entry is refused before the flow starts."""
    if history is not None:
        history.check()
    run = Run(history, Entry(action).started())
    started = time.monotonic()
    with phases.stopwatch() as times:
        try:
            result = flow(*args, run=run, **kwargs)
        except BaseException as exc:
            _finish(run, started, times, _outcome(exc), exc)
            raise
    _finish(run, started, times, OK)
    display.plain(stderr=True).print(phases.line(times, time.monotonic() - started))
    return result


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, RolledBack):
        return ROLLED_BACK
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    return FAILED


def _finish(
    run: Run, started: float, times: dict, outcome: str, exc: BaseException | None = None
) -> None:
    entry = run.entry
    entry.seconds = round(time.monotonic() - started, 1)
    entry.times = phases.rounded(times) or None
    entry.outcome = outcome
    if exc is not None:
        entry.message = (str(exc).splitlines() or [type(exc).__name__])[0]
    if run.history is not None:
        run.history.append(entry)


# --- showing it -----------------------------------------------------------------------------------


def table(entries: Iterable[Entry]) -> Table:
    """The history as a person reads it, oldest first."""
    out = Table(title="Delivery history", title_justify="left")
    for column in ("When", "Action", "App", "Version", "Archive", "Delta of", "Outcome"):
        out.add_column(column, overflow="fold")
    for e in entries:  # names and messages may come from bundles made on the other side
        outcome = display.text(e.outcome, "green" if e.outcome == OK else "red")
        if e.message:
            outcome.append(f": {display.safe(e.message)}")
        delta_of = (e.since or {}).get("archive", "")
        row = (e.when, e.action, e.app, e.version, e.archive, delta_of)
        out.add_row(*(display.text(cell) for cell in row), outcome)
    return out


def show(entries: list[Entry], *, as_json: bool = False) -> None:
    """Print entries: a table, or one JSON object per line."""
    if as_json:
        for entry in entries:
            sys.stdout.write(json.dumps(asdict(entry)) + "\n")
    else:
        display.console().print(table(entries))
