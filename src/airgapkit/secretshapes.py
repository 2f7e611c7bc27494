"""Values in the token formats secret scanners know, whatever the key that holds them.

``STRIPE=sk_live_...`` or ``GITHUB=ghp_...`` is a secret though its key says nothing of one. The
formats are detect-secrets' own (Stripe, GitHub, GitLab, Slack, AWS, JWT, private keys, npm, PyPI,
SendGrid, Twilio, ...): its regex-based plugins, each asked of the value alone. Its entropy
detectors (which take ``hello`` and ``db.example.internal`` for secrets when asked of a bare value)
and its keyword detector (key names: ``trust.contract`` and ``engine.swarmsecrets`` judge those)
are left out, and so is the public IP detector (an address is no secret).

This is the one module that reaches into detect-secrets (its plugin registry,
``get_mapping_from_secret_type_to_class``); ``tests/test_secretshapes.py`` breaks on an upgrade
that changes it.
"""

from __future__ import annotations

from functools import lru_cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

NOT_SECRETS = frozenset({"Public IP (ipv4)"})  # detect-secrets' names of what is no secret


@lru_cache(maxsize=1)
def detectors() -> tuple[RegexBasedDetector, ...]:
    """detect-secrets' format plugins, made once."""
    return tuple(
        plugin()
        for kind, plugin in sorted(get_mapping_from_secret_type_to_class().items())
        if issubclass(plugin, RegexBasedDetector) and kind not in NOT_SECRETS
    )


def secret_shaped(value: str | None) -> bool:
    """Whether ``value`` is, or holds, a token in a format secret scanners know."""
    if not value:
        return False
    return any(next(iter(plugin.analyze_string(value)), None) for plugin in detectors())
