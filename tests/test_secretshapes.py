"""secretshapes: values in token formats secret scanners know, through detect-secrets' plugin
registry (the one reach into it: this test breaks loudly on an upgrade that changes it)."""

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
