"""The policy limits: what the image rules allow.

Their defaults are ``config.POLICY`` (the ``policy`` section of ``config.DEFAULTS``); ``invoke.yaml``,
variables and the tasks' flags override them, and :func:`resolve` checks the result once, before
any rule runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..config import POLICY as DEFAULTS
from ..errors import AirgapError
from . import scanreports


@dataclass(frozen=True)
class Limits:
    max_size_mb: float = DEFAULTS["max_size_mb"]
    min_support_months: int = DEFAULTS["min_support_months"]
    allowed: dict[str, int] = field(default_factory=lambda: dict(DEFAULTS["allowed"]))
    max_report_age_days: int = DEFAULTS["max_report_age_days"]
    schedule: str | Path = ""  # empty: the packaged schedule


def resolve(limits: Mapping | Limits | None) -> Limits:
    """The ``policy`` configuration section (or any mapping) over the defaults, checked.

    A given ``allowed`` is taken as it is: severities it does not name have no limit.
    """
    if isinstance(limits, Limits):
        return limits
    given = {key: limits[key] for key in limits.keys()} if limits is not None else {}
    merged = {**DEFAULTS, **given}
    try:
        max_size_mb = float(merged["max_size_mb"])
        min_support_months = int(merged["min_support_months"])
    except (TypeError, ValueError) as exc:
        raise AirgapError(
            f"policy limits must be numbers (max_size_mb={merged['max_size_mb']!r}, "
            f"min_support_months={merged['min_support_months']!r}); fix the flag or invoke.yaml"
        ) from exc
    return Limits(
        max_size_mb=max_size_mb,
        min_support_months=min_support_months,
        allowed=_allowed(merged["allowed"]),
        max_report_age_days=_days(merged["max_report_age_days"]),
        schedule=merged["schedule"] or "",
    )


def _allowed(counts) -> dict[str, int]:
    try:
        allowed = {str(severity).lower(): int(counts[severity]) for severity in counts.keys()}
    except (AttributeError, TypeError, ValueError) as exc:
        raise AirgapError(
            f"policy.allowed must map severities to whole numbers, not {counts!r}; "
            "fix invoke.yaml, e.g. allowed: {critical: 0, high: 0}"
        ) from exc
    unknown = set(allowed) - set(scanreports.SEVERITIES)
    if unknown:
        raise AirgapError(
            f"policy.allowed names unknown severities {sorted(unknown)}; use "
            f"{', '.join(scanreports.SEVERITIES)}"
        )
    return allowed


def _days(value) -> int:
    try:
        days = int(value)
    except (TypeError, ValueError):
        days = -1
    if isinstance(value, bool) or days < 0:
        raise AirgapError(
            f"policy.max_report_age_days must be a whole number of days, 0 or more, not {value!r}; "
            "fix invoke.yaml"
        )
    return days
