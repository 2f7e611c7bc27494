"""contract: keys and comments from .env.example, secret-looking placeholders dropped, env files
checked against it by key, values never shown."""

from __future__ import annotations

import pytest
from tokens import TOKENS

from airgapkit.app import envfiles
from airgapkit.trust import contract
from airgapkit.trust.contract import ContractError
from conftest import EXAMPLE_APP

LABEL = "the contract carried by tms-api-1.1.0-release.zip"


def _file(path, text: str, mode: int = 0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def test_the_example_apps_contract_keeps_keys_and_comments_and_drops_secrets():
    made = contract.from_example(EXAMPLE_APP / ".env.example", "tms-api 1.0.0")
    assert made.keys == ("PORT", "APP_ENV", "GREETING", "DB_HOST", "DB_USER", "DB_PASSWORD")
    entries = {entry.key: entry for entry in made.entries}
    assert entries["PORT"].placeholder == "8080"
    assert entries["PORT"].comment == ("Port the app listens on inside the container.",)
    assert entries["DB_USER"].placeholder == "tms" and entries["DB_USER"].comment == ()
    assert entries["DB_PASSWORD"].secret and entries["DB_PASSWORD"].placeholder is None
    # Its comment speaks of "the password": the rule errs toward dropping.
    assert entries["DB_HOST"].secret and entries["DB_HOST"].placeholder is None
    text = contract.render(made).decode()
    assert "change-me" not in text and "db.example.internal" not in text
    assert "# Port the app listens on inside the container.\nPORT=8080\n" in text
    # The file header is no key's comment and does not travel.
    assert "Copy to .env.<environment>" not in text


def test_values_in_well_known_token_formats_never_travel_whatever_their_key(tmp_path):
    plain = {"DB_HOST": "db.example.internal", "PORT": "8080", "GREETING": "hello",
             "PUBLIC_URL": "https://api.example", "UPSTREAM_IP": "203.0.113.7", "LEVEL": "info"}  # fmt: skip
    example = tmp_path / ".env.example"
    example.write_text("".join(f"{k}={v}\n" for k, v in {**TOKENS, **plain}.items()))
    made = contract.from_example(example)
    entries = {entry.key: entry for entry in made.entries}
    for key in TOKENS:
        assert entries[key].secret and entries[key].placeholder is None, key
    assert {k: entries[k].placeholder for k in plain} == plain
    text = contract.render(made).decode()
    assert not any(token in text for token in TOKENS.values())
    commented = tmp_path / "commented.env.example"
    commented.write_text(f"# The old one: STRIPE={TOKENS['STRIPE']}\nSTRIPE=\n")
    assert TOKENS["STRIPE"] not in contract.render(contract.from_example(commented)).decode()


def test_comments_are_the_lines_directly_above_and_quoted_hashes_are_no_comment(tmp_path):
    example = _file(
        tmp_path / ".env.example",
        "# header\n"
        "\n"
        "# first line\n"
        "#second line\n"
        'MOTD="hello\n# not a comment\nworld"\n'
        "# detached\n"
        "\n"
        "PLAIN=1 # inline note\n"
        "# REDIS_PASSWORD=s3cr3t-left-here\n"
        "# CACHE_TTL=60\n"
        "CACHE=redis\n"
        "export QUOTED='a \"b\" $c \\\\ d'\n"
        "UPSTREAM=abc123 # the api key; ask ops\n",
    )
    made = contract.from_example(example)
    entries = {entry.key: entry for entry in made.entries}
    assert entries["MOTD"].comment == ("first line", "second line")
    assert entries["MOTD"].placeholder == "hello\n# not a comment\nworld"
    assert entries["PLAIN"].comment == () and entries["PLAIN"].placeholder == "1"
    assert entries["CACHE"].comment == ("REDIS_PASSWORD=", "CACHE_TTL=60")
    assert entries["CACHE"].placeholder is None  # its comment speaks of a password
    assert entries["UPSTREAM"].secret and entries["UPSTREAM"].placeholder is None  # inline comment
    rendered = contract.render(made)
    assert b"s3cr3t-left-here" not in rendered and b"abc123" not in rendered
    again = contract.from_example(contract.write(made, tmp_path / "contract" / contract.MEMBER))
    assert [(e.key, e.comment, e.placeholder) for e in again.entries] == [
        (e.key, e.comment, e.placeholder) for e in made.entries
    ]
    assert again.keys == ("MOTD", "PLAIN", "CACHE", "QUOTED", "UPSTREAM")
    assert entries["QUOTED"].placeholder == envfiles.read(example)["QUOTED"]


def test_the_contract_member_is_a_template_that_may_travel():
    assert envfiles.is_env_template(contract.MEMBER)
    assert not envfiles.holds_settings(contract.MEMBER)


def test_a_malformed_example_is_refused_by_the_env_file_reader(tmp_path):
    example = _file(tmp_path / ".env.example", "GOOD=1\nBAD='unterminated\n")
    with pytest.raises(envfiles.EnvFileError, match="cannot parse"):
        contract.from_example(example)


@pytest.fixture
def contract_file(tmp_path):
    """The contract of a new version: it gained FEATURE_FLAGS_URL."""
    (tmp_path / "app").mkdir()
    example = _file(
        tmp_path / "app" / ".env.example",
        "PORT=8080\nDB_PASSWORD=change-me\n# Where the flags live.\nFEATURE_FLAGS_URL=http://flags\n",
    )
    made = contract.from_example(example, "tms-api 1.1.0")
    return contract.write(made, tmp_path / "from-bundle" / contract.MEMBER)


def test_an_env_file_lacking_a_key_the_contract_requires_is_refused_by_name(
    tmp_path, contract_file
):
    env = _file(tmp_path / ".env.prod", "PORT=8080\nDB_PASSWORD=Pr0d-S3cret\n")
    with pytest.raises(ContractError) as exc:
        contract.check(env, contract_file, described_as=LABEL)
    message = str(exc.value)
    assert message == (
        f"{env} lacks keys that {LABEL} requires: FEATURE_FLAGS_URL; add them to {env}"
    )
    assert "Pr0d-S3cret" not in message


def test_an_env_file_that_meets_the_contract_passes_with_warnings_that_name_keys_only(
    tmp_path, contract_file, capsys
):
    env = _file(
        tmp_path / ".env.prod",
        "PORT=8080\nDB_PASSWORD=Pr0d-S3cret\nFEATURE_FLAGS_URL=\nOLD_KEY=Old-S3cret\n",
        mode=0o644,
    )
    result = contract.check(env, contract_file, described_as=LABEL)
    assert result.unknown == ("OLD_KEY",) and result.empty == ("FEATURE_FLAGS_URL",)
    err = capsys.readouterr().err
    assert f"{env} has keys that {LABEL} does not list: OLD_KEY" in err
    assert f"{env} leaves empty keys that {LABEL} gives a value: FEATURE_FLAGS_URL" in err
    assert f"chmod 600 {env}" in err
    assert "S3cret" not in err


def test_a_bare_line_is_refused_and_an_unlisted_one_is_not_shown(tmp_path, contract_file):
    env = _file(
        tmp_path / ".env.prod",
        "PORT=8080\nDB_PASSWORD\nFEATURE_FLAGS_URL=http://flags\nhunter2-pasted\n",
    )
    with pytest.raises(envfiles.EnvFileError) as exc:
        contract.check(env, contract_file, described_as=LABEL)
    message = str(exc.value)
    assert "DB_PASSWORD (line 2)" in message and "line 4 (content not shown)" in message
    assert "hunter2" not in message
