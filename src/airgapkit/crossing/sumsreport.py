"""What a check against a hash file found (``SumsReport``), and the tables that show it: hashes
shaped like PowerShell's ``Get-FileHash`` output, and every checked file with its status."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from .. import display
from ..errors import IntegrityError


@dataclass
class SumsReport:
    """What ``check_sums`` found: files that match, and every one missing, different or extra."""

    sums: Path
    ok: list[str] = field(default_factory=list)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (name, expected)
    different: list[tuple[str, str, str]] = field(default_factory=list)  # (name, expected, actual)
    extra: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not (self.missing or self.different or self.extra)

    def __bool__(self) -> bool:
        return self.passed

    def problems(self) -> list[str]:
        return (
            [f"{n} differs (expected {e}, got {a})" for n, e, a in self.different]
            + [f"{n} is missing (expected {e})" for n, e in self.missing]
            + [f"{n} is not listed" for n in self.extra]
        )

    def raise_for_problems(self) -> None:
        if not self.passed:
            problems = self.problems()
            raise IntegrityError(
                f"{len(problems)} problem(s) against {self.sums}: {'; '.join(problems)}; do not "
                "use these files, fetch them again"
            )


def print_hashes(hashes: dict[Path, str]) -> None:
    """A table shaped like PowerShell's Get-FileHash output: Algorithm, Hash, Path."""
    table = Table(box=None, header_style="bold")
    table.add_column("Algorithm", no_wrap=True, min_width=9)
    table.add_column("Hash", no_wrap=True, min_width=64)
    table.add_column("Path", overflow="fold")
    for path, hexdigest in hashes.items():
        table.add_row("SHA256", hexdigest.upper(), display.text(Path(path).resolve()))
    display.wide().print(table)


def print_report(report: SumsReport) -> None:
    """Every checked file with its status; mismatches with both hashes."""
    table = Table(box=None, header_style="bold")
    table.add_column("Status", no_wrap=True, min_width=9)
    table.add_column("Path", overflow="fold")
    table.add_column("Expected", no_wrap=True)
    table.add_column("Actual", no_wrap=True)
    for name in report.ok:
        table.add_row("[green]OK[/]", display.text(name), "", "")
    for name, expected, actual in report.different:
        table.add_row("[red]DIFFERENT[/]", display.text(name), expected, actual)
    for name, expected in report.missing:
        table.add_row("[red]MISSING[/]", display.text(name), expected, "")
    for name in report.extra:
        table.add_row("[yellow]NOT LISTED[/]", display.text(name), "", "")
    display.wide().print(table)
