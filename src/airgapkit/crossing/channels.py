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

from .. import display, fsutil, platform
from ..errors import AirgapError, PasswordError
from ..platform import shells
from . import extraction, passwords, sumsfile, sumsverify, volumes
from .archive import ArchiveReader, ArchiveWriter, safe_member_name


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
    level: int = 5,
    progress: bool = True,
    split: int | None = None,
    force: bool = False,
) -> Crossing:
    """Archive ``files`` into ``dest`` and write its SHA256SUMS to ``sums`` (archive and members).

    The password comes from ``choose_password``; a generated one is written (mode 0600) to
    ``generate_password``. The archive's folder, the sums' folder and the password file's folder
    must be apart; an existing archive is replaced only with ``force``. ``split`` writes volumes
    of at most that many bytes. The three parts become final together, the archive last.
    """
    files = [Path(f) for f in files]
    dest, sums = Path(dest), Path(sums)
    password_file = Path(password_file) if password_file else None
    generate_password = Path(generate_password) if generate_password else None
    check_places(files, dest, sums, password_file, generate_password)
    volumes.check_overwrite(dest, force)
    if level == 0:  # stored: the archive's size is known before a byte is written
        need = sum(f.stat().st_size + 1024 for f in files)
        fsutil.check_free_space(dest.parent, need, f"the archive {dest.name}")
    password = choose_password(
        password=password,
        password_file=password_file,
        generate_password=generate_password,
        allow_weak=allow_weak,
    )
    clear_leftovers(
        dest.parent, sums.parent, generate_password.parent if generate_password else None
    )
    writer = ArchiveWriter(dest, password, level, progress, split=split, commit=False)
    with writer:
        for f in files:
            writer.add_file(f, f.name)
    # the archive was hashed as it was written: no second read of it
    listed = {name: sha for name, (sha, _size) in writer.members.items()}
    entries = {dest.name: writer.sha256, **part_entries(writer), **listed}
    secret = (password, generate_password) if generate_password else None
    finalise(writer, sums, entries, secret, forbidden_dir=dest.parent)
    return Crossing(dest, writer.sha256, sums, generate_password, dict(writer.members))


def part_entries(writer: ArchiveWriter) -> dict[str, str]:
    """The hash file's lines for an archive's volumes (none for a single file)."""
    return {path.name: sha for path, sha, _size in writer.parts} if writer.split else {}


def clear_leftovers(*folders: Path | None) -> None:
    """Remove airgapkit's own leftovers of a killed run from the folders about to be written."""
    for folder in dict.fromkeys(f for f in folders if f is not None):
        fsutil.remove_leftovers(folder)


def check_earlier(archive: Path, others: Iterable[Path | None], force: bool) -> None:
    """Refuse, unless ``force``, to write over an earlier delivery: the archive (or a volume of
    it), or its hash or password file (``others``). Its password may be the only way into an
    archive already carried off, and its hash the only proof of it."""
    found = [p for p in [archive, *volumes.existing_volumes(archive)] if p.exists()]
    found += [p for p in others if p is not None and (p.exists() or p.is_symlink())]
    if found and not force:
        raise AirgapError(
            f"{found[0]} is part of an earlier delivery of {archive.name}; move its archive, hash "
            "and password files away (the password may be the only way into a copy already "
            "carried off), or pass --force to replace them all"
        )


def finalise(
    writer: ArchiveWriter,
    sums: Path,
    entries: dict[str, str],
    secret: tuple[str, Path] | None,
    *,
    forbidden_dir: Path,
    replace_password: bool = False,
) -> None:
    """Make a crossing's parts final together: its hash file (``entries`` in place of what
    ``sums`` held for this archive) and its password file (``secret``: password, path) are written
    aside first, then given their names, and the archive (already written aside by ``writer``)
    last. A failure anywhere leaves none of the new files, and the archive not at all.

    An earlier archive of the same name (replaced with ``--force``) is removed before any new part
    gets its name, so a run killed between the renames leaves no archive beside a hash or password
    that is not its own: the earlier delivery whole, or no archive, or the new delivery whole."""
    aside: list[fsutil.AtomicFile] = []
    try:
        if secret is not None:
            aside.append(passwords.write_aside(*secret, forbidden_dir, overwrite=replace_password))
        aside.append(sumsfile.write_aside(sums, entries, archive=writer.dest.name))
        volumes.remove_archive(writer.dest)
        for out in aside:
            out.commit()
        writer.commit()
    except BaseException:
        for out in aside:
            if not out.committed:
                out.discard()
        writer.discard()
        raise


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
    safely into ``dest``. The archive (a file, or its volumes) is opened once: it is hashed and
    then read through the same open files, and must not change meanwhile. Members listed in
    ``sums`` must match; if it lists any member, it must list every one. ``vouch`` sees the opened
    archive before anything is extracted: it refuses by raising, or returns the members' hashes it
    vouches for (a signed bundle's manifest), checked likewise."""
    sums = Path(sums)
    entries = sumsfile.read_sums(sums)
    with volumes.open_archive(Path(archive)) as source:
        sumsverify.verify_archive(source, sums)
        with ArchiveReader(source, password) as reader:
            names = [safe_member_name(n) for n in reader.names() if not n.endswith("/")]
            listed = {n: h for n in names if (h := sumsverify.lookup(entries, Path(n))) is not None}
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
    table.add_row("archive (AES-256)", display.text(archive), "on the transfer media")
    table.add_row("SHA-256", display.text(sums), "by a second channel, never with the archive")
    table.add_row(
        f"password ({platform.PRIVATE})" if password_file else "password",
        display.text(password_file) if password_file else "(the one you gave)",
        "by a third channel (in person, by phone); delete it here once delivered",
    )
    out = display.wide()
    out.print(table)
    several = len(sumsfile.read_sums(sums)) > 1  # volumes and their whole, or other files
    out.print(
        "Check the archive by hand on the other side, in the folder holding it and its hash "
        "file (airgapkit checks it too):",
        markup=False,
        highlight=False,
    )
    for system, line in shells.sha256_checks(sums.name, several):
        out.print(f"  {system}: {line}", markup=False, highlight=False, soft_wrap=True)


def print_crossing(crossing: Crossing) -> None:
    """Say what was made and which channel each thing takes."""
    print_channels(crossing.archive, crossing.sums, crossing.password_file)
    display.wide().print(
        f"SHA256 {crossing.archive_sha256.upper()}  {display.markup(crossing.archive.name)}"
    )
