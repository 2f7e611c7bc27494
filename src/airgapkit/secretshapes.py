"""What looks secret, decided here alone: values in the token formats secret scanners know, and
keys whose names (or comments) say they hold a secret.

Two uses judge names with two word lists. An example's placeholder that must not travel in the env
contract (``secret_placeholder``) is judged broadly: a false alarm only drops an example value. A
setting that goes into a Swarm service as a secret (``secret_setting``) is judged narrowly: a false
alarm changes how the app gets it. Both also take a value in a known token format for a secret,
whatever its key.

Token formats: ``STRIPE=sk_live_...`` or ``GITHUB=ghp_...`` is a secret though its key says nothing
of one. The formats are detect-secrets' own (Stripe, GitHub, GitLab, Slack, AWS, JWT, private keys,
npm, PyPI, SendGrid, Twilio, ...): its regex-based plugins, each asked of the value alone. Its
entropy detectors (which take ``hello`` and ``db.example.internal`` for secrets when asked of a bare
value) and its keyword detector (key names: the two word lists below judge those) are left out, and
so is the public IP detector (an address is no secret).

This is the one module that reaches into detect-secrets (its plugin registry,
``get_mapping_from_secret_type_to_class``); ``tests/test_secretshapes.py`` breaks on an upgrade
that changes it.
"""

from __future__ import annotations

import re
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


# --- an example's placeholder that must not travel (the env contract, trust/contract.py) ----------
#
# Dropped when the key's name has a word that names a secret (PASSWORD, PASS, PWD, SECRET, TOKEN,
# KEY, AUTH, CREDENTIALS, PRIVATE, SALT, DSN, ...; words split on ``_``, ``-`` and ``.``), or has
# PASSWORD, SECRET, TOKEN, CREDENTIAL, PASSPHRASE or APIKEY anywhere in it; or the comment speaks of
# a password, passphrase, secret, token, credential, private or API key, or calls it sensitive or
# confidential; or the value is a URL that carries a password, or a token.

_PLACEHOLDER_WORDS = frozenset(
    "PASSWORD PASSWORDS PASSWD PASS PWD PASSPHRASE SECRET SECRETS TOKEN TOKENS KEY KEYS APIKEY "
    "AUTH CREDENTIAL CREDENTIALS CRED CREDS PRIVATE SALT PEPPER SIGNATURE HMAC JWT BEARER COOKIE "
    "SESSION PIN OTP DSN PEM CERT".split()
)
_PLACEHOLDER_PARTS = ("PASSWORD", "PASSWD", "PASSPHRASE", "SECRET", "TOKEN", "CREDENTIAL", "APIKEY")
_SECRET_TEXT = re.compile(
    r"pass(word|wd|phrase)|secret|token|credential|private[ _-]?key|api[ _-]?key|"
    r"sensitive|confidential",
    re.IGNORECASE,
)
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")


def secret_placeholder(key: str, comment: str = "", value: str | None = None) -> bool:
    """Whether an example's placeholder for ``key`` (with the comment about it) must not travel."""
    name = key.upper()
    words = set(re.split(r"[_.\-]+", name))
    if words & _PLACEHOLDER_WORDS or any(part in name for part in _PLACEHOLDER_PARTS):
        return True
    if _SECRET_TEXT.search(comment):
        return True
    return bool(value and (_URL_WITH_PASSWORD.match(value) or secret_shaped(value)))


# --- a setting that goes into a Swarm service as a secret (app/envfiles.secret_keys) ---------------

_SETTING_WORDS = {"PASSWORD", "PASSWD", "PASSPHRASE", "PWD", "SECRET", "TOKEN", "CREDENTIAL"}
_SETTING_WORDS |= {"CREDENTIALS", "APIKEY", "PRIVATE"}
_KEY_KINDS = {"API", "ACCESS", "SECRET", "SIGNING", "ENCRYPTION", "PRIVATE", "MASTER", "LICENSE"}


def secret_setting(key: str, value: str | None = None) -> bool:
    """Whether a setting is a secret: its key's name says so (DB_PASSWORD, API_KEY, AUTH_TOKEN),
    or its value is a token in a known format."""
    parts = [p for p in key.upper().split("_") if p]
    if any(p in _SETTING_WORDS for p in parts):
        return True
    if len(parts) > 1 and parts[-1] == "KEY" and parts[-2] in _KEY_KINDS:
        return True
    return secret_shaped(value)
