"""secretshapes: values in token formats secret scanners know, through detect-secrets' plugin
registry (the one reach into it: this test breaks loudly on an upgrade that changes it), and the
key names that say a secret, for the env contract and for Swarm secrets."""

from __future__ import annotations

import pytest
from tokens import TOKENS

from airgapkit import secretshapes


def test_the_format_plugins_relied_on_are_there_and_the_others_left_out():
    names = {type(plugin).__name__ for plugin in secretshapes.detectors()}
    assert {
        "StripeDetector", "GitHubTokenDetector", "GitLabTokenDetector", "SlackDetector",
        "AWSKeyDetector", "JwtTokenDetector", "PrivateKeyDetector", "BasicAuthDetector",
    } <= names  # fmt: skip
    assert not names & {"Base64HighEntropyString", "HexHighEntropyString", "KeywordDetector"}
    assert "IPPublicDetector" not in names


@pytest.mark.parametrize("key", sorted(TOKENS))
def test_tokens_are_secret_shaped(key):
    assert secretshapes.secret_shaped(TOKENS[key])
    assert secretshapes.secret_shaped(f"the old one was {TOKENS[key]}, rotated")


@pytest.mark.parametrize(
    "value",
    ["", None, "change-me", "db.example.internal", "tms", "8080", "hello", "203.0.113.7",
     "https://api.example/v1", "postgres://db:5432/app", "info"],
)  # fmt: skip
def test_placeholders_are_not(value):
    assert not secretshapes.secret_shaped(value)


# --- key names: a placeholder that must not travel, a setting that is a Swarm secret ----------------


@pytest.mark.parametrize(
    ("key", "comment", "value", "secret"),
    [
        ("DB_PASSWORD", "", "x", True),
        ("DBPASSWORD", "", "x", True),
        ("JWTSECRET", "", "x", True),
        ("STRIPE_API_KEY", "", "x", True),
        ("ACCESS_TOKEN", "", "x", True),
        ("SMTP_PASS", "", "x", True),
        ("SESSION_SALT", "", "x", True),
        ("SENTRY_DSN", "", "x", True),
        ("LOG_LEVEL", "", "info", False),
        ("PUBLIC_URL", "Where users reach the API.", "https://api.example", False),
        ("MONKEY_MODE", "", "on", False),  # KEY only as a whole word
        ("SIGNING_MATERIAL", "The private key, PEM.", "x", True),
        ("UPSTREAM", "Sensitive: ask ops.", "x", True),
        ("DATABASE_URL", "", "postgres://app:change-me@db:5432/app", True),
        ("DATABASE_URL", "", "postgres://db:5432/app", False),
    ],
)
def test_secret_looking_rule(key, comment, value, secret):
    assert secretshapes.secret_placeholder(key, comment, value) is secret


@pytest.mark.parametrize(
    "key",
    [
        "DB_PASSWORD",
        "PASSWORD",
        "API_TOKEN",
        "JWT_SECRET",
        "SIGNING_KEY",
        "API_KEY",
        "AWS_SECRET_ACCESS_KEY",
    ],
)
def test_names_that_say_secret(key):
    assert secretshapes.secret_setting(key)


@pytest.mark.parametrize(
    "key", ["DB_HOST", "PORT", "CACHE_KEY", "KEYBOARD_LAYOUT", "TOKENIZER_MODEL_PATH"]
)
def test_names_that_do_not(key):
    assert not secretshapes.secret_setting(key)
