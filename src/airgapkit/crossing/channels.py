"""The crossing: three things in three places, each carried by its own channel.

The archive goes on the transfer media, its SHA-256 (SHA256SUMS) by a second channel, the password
by a third (in person, by phone). So the folders they are written to must be apart (``check_separate``),
a password file must not travel with the archive or the hashes, and the password comes from exactly
one source (``choose_password``). ``create`` makes the archive and its SHA256SUMS; ``extract`` checks
the archive against the separately delivered SHA256SUMS before decrypting anything, then extracts it
safely; ``print_channels`` says which channel each thing takes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .. import fsutil
from ..errors import AirgapError, PasswordError
from . import digest, extraction, passwords, sumsfile
from .archive import ArchiveReader, ArchiveWriter


def check_separate(**folders: Path | None) -> None:
    """Refuse when two of the named folders are the same or one lies inside the other."""
    named = [(label, Path(p).resolve()) for label, p in folders.items() if p is not None]
    for i, (a_label, a) in enumerate(named):
        for b_label, b in named[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                raise AirgapError(
                    f"the {a_label.replace('_', ' ')} ({a}) and the {b_label.replace('_', ' ')} "
                    f"({b}) are the same or nested, but they travel by separate channels; choose "
                    "folders apart from each other"
                )


@dataclass
class Crossing:
    """What ``create`` made: the archive (media), its SHA256SUMS (second channel), the password
    file when generated (third channel), and each member's hash."""

    archive: Path
    archive_sha256: str
    sums: Path
    password_file: Path | None
    members: dict[str, tuple[str, int]]


# --- what goes where ------------------------------------------------------------------------------


def check_places(
    files: list[Path],
    dest: Path,
    sums: Path,
    password_file: Path | None,
    generate_password: Path | None,
) -> None:
    """The archive, its hashes and its password each in a place of their own; nothing that travels
    separately put inside the archive."""
    if not files:
        raise AirgapError("no files to archive; name one or more")
    if dest.suffix.lower() != ".zip":
        raise AirgapError(
            f"{dest}: the archive name must end in .zip (7-Zip and Windows expect it)"
        )
    check_separate(
        archive_folder=dest.parent,
        hashes_folder=sums.parent,
        password_folder=generate_password.parent if generate_password else None,
    )
    passwords.refuse_inside(password_file, dest.parent)
    if password_file and fsutil.is_inside(password_file, sums.parent):
        raise AirgapError(
            f"password file {password_file} lies inside {sums.parent}, the hashes' folder; keep "
            "the password apart from the hashes"
        )
    for f in files:
        if f.name == sums.name and fsutil.is_inside(f, sums.parent):
            raise AirgapError(
                f"{f} is the hashes file itself; it travels separately, not in the archive"
            )


def choose_password(
    *,
    password: str | None,
    password_file: Path | None,
    generate_password: Path | None,
    allow_weak: bool,
) -> str:
    """The archive's password, from exactly one source: ``password`` (already resolved), else a new
    one when ``generate_password`` names its file, else ``passwords.resolve`` (the variable, the file,
    or the prompt asked twice). A weak one is refused unless ``allow_weak``."""
    if generate_password is not None:
        if password_file or os.environ.get(passwords.ENV_VAR):
            raise PasswordError(
                "--generate-password makes a new password: do not also give --password-file or "
                f"{passwords.ENV_VAR}"
            )
        if generate_password.exists():
            raise PasswordError(
                f"password file {generate_password} already exists; move it away (it may open an "
                "earlier archive) or choose another folder"
            )
        return passwords.new_password()
    if password is None:
        return passwords.resolve(password_file=password_file, confirm=True, allow_weak=allow_weak)
    if not allow_weak:
        passwords.check_strength(password)
    return password


# --- the two directions ---------------------------------------------------------------------------


def create(
    files: Iterable[Path],
    dest: Path,
    *,
    sums: Path,
    password: str | None = None,
    password_file: Path | None = None,
    generate_password: Path | None = None,
    allow_weak: bool = False,
    level: int = 6,
    progress: bool = True,
) -> Crossing:
    """Archive ``files`` into ``dest`` and write its SHA256SUMS to ``sums`` (archive and members).

    The password comes from ``choose_password``; a generated one is written (mode 0600) to
    ``generate_password`` before the archive gets its name. The archive's folder, the sums' folder
    and the password file's folder must be apart.
    """
    files = [Path(f) for f in files]
    dest, sums = Path(dest), Path(sums)
    password_file = Path(password_file) if password_file else None
    generate_password = Path(generate_password) if generate_password else None
    check_places(files, dest, sums, password_file, generate_password)
    password = choose_password(
        password=password,
        password_file=password_file,
        generate_password=generate_password,
        allow_weak=allow_weak,
    )
    with ArchiveWriter(dest, password, level=level, progress=progress) as writer:
        for f in files:
            writer.add_file(f, f.name)
        if generate_password is not None:  # written before the archive gets its name
            passwords.write_password(password, generate_password, forbidden_dir=dest.parent)
    # the archive was hashed as it was written: no second read of it
    listed = {name: sha for name, (sha, _size) in writer.members.items()}
    sumsfile.add_entries(sums, {dest.name: writer.sha256, **listed})
    return Crossing(dest, writer.sha256, sums, generate_password, dict(writer.members))


def extract(
    archive: Path,
    dest: Path,
    password: bytes | str,
    sums: Path,
    force: bool = False,
    max_total: int = extraction.MAX_TOTAL,
    vouch: Callable[[ArchiveReader], dict[str, str] | None] | None = None,
) -> list[Path]:
    """Verify ``archive`` against ``sums`` (delivered separately) BEFORE decrypting, then extract it
    safely into ``dest``. Members listed in ``sums`` must match; if it lists any member, it must list
    every one. ``vouch`` sees the opened archive before anything is extracted: it refuses by raising,
    or returns the members' hashes it vouches for (a signed bundle's manifest), checked likewise."""
    archive, sums = Path(archive), Path(sums)
    if not archive.is_file():
        raise AirgapError(f"{archive}: no such archive; check the path")
    sumsfile.verify_file(archive, sums)
    entries = sumsfile.read_sums(sums)
    with ArchiveReader(archive, password) as reader:
        names = [extraction.safe_member_name(n) for n in reader.names() if not n.endswith("/")]
        listed = {n: h for n in names if (h := sumsfile.lookup(entries, Path(n))) is not None}
        listed |= (vouch(reader) if vouch else None) or {}
        return extraction.extract_all(
            reader, dest, expected=listed or None, force=force, max_total=max_total
        )


# --- saying so ------------------------------------------------------------------------------------


def print_channels(archive: Path, sums: Path, password_file: Path | None) -> None:
    """Say which channel each of the three things takes: media, second channel, third channel."""
    from rich.table import Table

    table = Table(title="Carry these separately", header_style="bold")
    for col in ("What", "Where", "Carry it"):
        table.add_column(col, overflow="fold")
    table.add_row("archive (AES-256)", str(archive), "on the transfer media")
    table.add_row("SHA-256", str(sums), "by a second channel, never with the archive")
    table.add_row(
        "password (mode 0600)" if password_file else "password",
        str(password_file) if password_file else "(the one you gave)",
        "by a third channel (in person, by phone); delete it here once delivered",
    )
    digest.console().print(table)


def print_crossing(crossing: Crossing) -> None:
    """Say what was made and which channel each thing takes."""
    print_channels(crossing.archive, crossing.sums, crossing.password_file)
    digest.console().print(f"SHA256 {crossing.archive_sha256.upper()}  {crossing.archive.name}")
