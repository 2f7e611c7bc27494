"""The policy limits: one definition of the defaults, checked once, flags over configuration."""

from __future__ import annotations

import pytest
from invoke import Config

from airgapkit.config import DEFAULTS
from airgapkit.errors import AirgapError
from airgapkit.gate import limits


def test_the_configuration_defaults_are_the_limits_defaults_and_a_copy():
    policy = DEFAULTS["airgapkit"]["policy"]
    assert policy == limits.DEFAULTS
    # a configuration that changes its own copy leaves the one definition alone
    assert policy is not limits.DEFAULTS and policy["allowed"] is not limits.DEFAULTS["allowed"]


def test_nothing_configured_means_the_defaults():
    assert limits.resolve(None) == limits.Limits(
        max_size_mb=200.0, min_support_months=6, allowed={"critical": 0, "high": 0}, schedule=""
    )
    assert limits.resolve(None) == limits.Limits()


def test_an_invoke_configuration_section_is_read_as_it_is():
    config = Config(defaults=DEFAULTS)
    config.airgapkit.policy.max_size_mb = "150"
    config.airgapkit.policy.allowed = {"CRITICAL": 1}
    resolved = limits.resolve(config.airgapkit.policy)
    assert resolved.max_size_mb == 150.0 and resolved.min_support_months == 6
    # invoke merges a configured "allowed" over the default counts; names are lower-cased
    assert resolved.allowed == {"critical": 1, "high": 0}


def test_a_plain_mapping_is_taken_as_it_is():
    resolved = limits.resolve({"allowed": {"Critical": 2}, "schedule": "s.json"})
    assert resolved.allowed == {"critical": 2} and resolved.schedule == "s.json"
    assert resolved.max_size_mb == 200.0


def test_resolved_limits_pass_through():
    given = limits.Limits(max_size_mb=1.0)
    assert limits.resolve(given) is given


@pytest.mark.parametrize(
    ("section", "words"),
    [
        ({"max_size_mb": "big"}, "policy limits must be numbers (max_size_mb='big', "),
        ({"min_support_months": None}, "min_support_months=None); fix the flag or invoke.yaml"),
        ({"allowed": {"critical": "none"}}, "policy.allowed must map severities to whole numbers"),
        ({"allowed": ["critical"]}, "policy.allowed must map severities to whole numbers"),
        ({"allowed": {"severe": 0}}, "policy.allowed names unknown severities ['severe']; use "),
    ],
)
def test_bad_limits_are_one_line(section, words):
    with pytest.raises(AirgapError) as err:
        limits.resolve(section)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_a_bad_number_keeps_its_cause():
    with pytest.raises(AirgapError) as err:
        limits.resolve({"max_size_mb": "big"})
    assert isinstance(err.value.__cause__, ValueError)
