"""Env files: choosing one per environment, checking it against .env.example, loading it.

Every test writes real files. Values in them carry SECRET, which must never appear in an
exception, a warning, stdout/stderr or a log record, whatever the path taken.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from tokens import TOKENS

from airgapkit.app import envfiles
from airgapkit.config import DEFAULT_ENVIRONMENTS
from airgapkit.errors import AirgapError

SECRET = "s3cr3t-marker"  # noqa: S105 - a marker to search output for, not a credential
ENVIRONMENTS = DEFAULT_ENVIRONMENTS
EXAMPLE = "# the keys the app reads\nPORT=8080\nDB_HOST=db.example\nDB_PASSWORD=change-me\nNOTE=\n"

posix_only = pytest.mark.skipif(os.name == "nt", reason="permission bits are POSIX")


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


@pytest.fixture
def example(tmp_path) -> Path:
    return write(tmp_path / ".env.example", EXAMPLE, 0o644)


@pytest.fixture
def no_leak(capsys, caplog):
    """Yields a checker that fails when SECRET reached an exception, stdout/stderr or the logs."""
    caplog.set_level(logging.DEBUG)

    def assert_clean(*texts: object) -> tuple[str, str]:
        out, err = capsys.readouterr()
        for text in (*map(str, texts), out, err, caplog.text):
            assert SECRET not in text
        return out, err

    return assert_clean


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message
    assert isinstance(exc.value, AirgapError)
    return message


# --- resolve --------------------------------------------------------------------------------------


def test_resolve_gives_the_configured_file_under_base_dir(tmp_path):
    env_file = write(tmp_path / ".env.pre-prod", f"DB_PASSWORD={SECRET}\n")
    assert envfiles.resolve("pre-prod", ENVIRONMENTS, tmp_path) == env_file


def test_resolve_keeps_an_absolute_configured_path(tmp_path):
    env_file = write(tmp_path / "elsewhere.env", "PORT=1\n")
    assert envfiles.resolve("prod", {"prod": str(env_file)}, Path("/nonexistent")) == env_file


def test_resolve_refuses_an_unknown_environment_naming_it_and_the_configured_ones(tmp_path):
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.resolve("staging", ENVIRONMENTS, tmp_path)
    message = one_line(exc)
    assert "'staging'" in message
    assert "dev, test, pre-prod, prod" in message
    assert "invoke.yaml" in message and "airgapkit.environments" in message


def test_resolve_refuses_a_missing_file_saying_to_copy_the_example(tmp_path):
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.resolve("prod", ENVIRONMENTS, tmp_path)
    message = one_line(exc)
    assert str(tmp_path / ".env.prod") in message
    assert "copy .env.example to" in message and "fill" in message


def test_resolve_refuses_a_folder(tmp_path):
    (tmp_path / ".env.prod").mkdir()
    with pytest.raises(envfiles.EnvFileError, match="is not a file"):
        envfiles.resolve("prod", ENVIRONMENTS, tmp_path)


# --- check ----------------------------------------------------------------------------------------


def test_check_passes_a_complete_file_silently(tmp_path, example, no_leak):
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=8080\nDB_HOST=db\nDB_PASSWORD={SECRET}\nNOTE=\n",
    )
    result = envfiles.check(env_file, example)
    assert result.ok
    assert (result.missing, result.unknown, result.empty) == ((), (), ())
    assert no_leak(result, result.warnings) == ("", "")


def test_check_refuses_missing_keys_naming_them_and_the_file(tmp_path, example, no_leak):
    env_file = write(tmp_path / ".env.prod", f"PORT=8080\nDB_PASSWORD={SECRET}\n")
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.check(env_file, example)
    message = one_line(exc)
    assert "DB_HOST" in message and "NOTE" in message
    assert "DB_PASSWORD" not in message  # present: not named as missing
    assert str(env_file) in message
    no_leak(message)


def test_compare_reports_missing_keys_without_refusing(tmp_path, example, no_leak):
    env_file = write(tmp_path / ".env.prod", f"DB_PASSWORD={SECRET}\n")
    result = envfiles.compare(env_file, example)
    assert result.missing == ("PORT", "DB_HOST", "NOTE")
    assert not result.ok
    assert no_leak(result) == ("", "")


def test_check_warns_about_unknown_keys_on_one_stderr_line(tmp_path, example, no_leak):
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=1\nDB_HOST=db\nDB_PASSWORD=x\nNOTE=\nDB_PASWORD={SECRET}\nEXTRA={SECRET}\n",
    )
    result = envfiles.check(env_file, example)
    assert result.unknown == ("DB_PASWORD", "EXTRA")
    out, err = no_leak(result, result.warnings)
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("airgapkit: warning:")
    assert "DB_PASWORD, EXTRA" in lines[0] and str(env_file) in lines[0]


def test_check_warns_about_keys_left_empty_that_the_example_fills(tmp_path, example, no_leak):
    env_file = write(tmp_path / ".env.prod", "PORT=1\nDB_HOST=\nDB_PASSWORD=''\nNOTE=\n")
    result = envfiles.check(env_file, example)
    # NOTE is empty in the example too: leaving it empty is what the example says.
    assert result.empty == ("DB_HOST", "DB_PASSWORD")
    _, err = no_leak(result)
    assert len(err.splitlines()) == 1
    assert "DB_HOST, DB_PASSWORD" in err


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_check_warns_when_group_or_others_can_read_the_file(tmp_path, example, no_leak, mode):
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=1\nDB_HOST=db\nDB_PASSWORD={SECRET}\nNOTE=\n",
        mode,
    )
    result = envfiles.check(env_file, example)
    assert result.loose_mode == mode
    _, err = no_leak(result)
    assert f"chmod 600 {env_file}" in err
    assert f"{mode:03o}" in err
    assert len(err.splitlines()) == 1


@posix_only
def test_loose_mode_is_none_for_0600(tmp_path):
    assert envfiles.loose_mode(write(tmp_path / ".env", "A=1\n", 0o600)) is None


def test_check_refuses_a_missing_example(tmp_path, no_leak):
    env_file = write(tmp_path / ".env.prod", f"DB_PASSWORD={SECRET}\n")
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.check(env_file, tmp_path / ".env.example")
    message = one_line(exc)
    assert ".env.example" in message and "does not exist" in message
    no_leak(message)


def test_check_understands_export_quotes_comments_and_multiline(tmp_path, example, no_leak):
    env_file = write(
        tmp_path / ".env.prod",
        "# production\n"
        "export PORT=8080\n"
        "DB_HOST='db.internal'  # the primary\n"
        f'DB_PASSWORD="{SECRET}\nsecond line"\n'
        "\n"
        "NOTE=\n",
    )
    result = envfiles.check(env_file, example)
    assert result.ok
    no_leak(result)


# --- malformed lines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        (f"PORT=1\nDB_PASSWORD {SECRET}\n", "line 2"),
        (f"PORT=1\n\n\n='{SECRET}'\n", "line 4"),
        (f"PORT=1\nDB_PASSWORD='{SECRET}\nNOTE=x\n", "line 2"),
        (f'=a\nDB_HOST=x\nDB_PASSWORD "{SECRET}"\n', "lines 1, 3"),
    ],
)
@pytest.mark.parametrize("call", ["check", "compare", "load", "read"])
def test_a_malformed_line_is_named_by_number_never_shown(
    tmp_path, example, no_leak, text, lines, call
):
    env_file = write(tmp_path / ".env.prod", text)
    args = (env_file, example) if call in ("check", "compare") else (env_file,)
    with pytest.raises(envfiles.EnvFileError) as exc:
        getattr(envfiles, call)(*args)
    message = one_line(exc)
    assert str(env_file) in message
    assert f"cannot parse {lines} " in message
    no_leak(message, exc.value.args, exc.getrepr())


def test_a_malformed_line_in_the_example_is_refused_too(tmp_path, no_leak):
    example = write(tmp_path / ".env.example", "PORT=1\nBROKEN LINE\n")
    env_file = write(tmp_path / ".env.prod", f"PORT={SECRET}\n")
    with pytest.raises(envfiles.EnvFileError, match="cannot parse line 2") as exc:
        envfiles.check(env_file, example)
    assert str(example) in str(exc.value)
    no_leak(exc.value)


def test_a_file_that_is_not_utf8_is_refused_without_its_bytes(tmp_path, no_leak):
    env_file = tmp_path / ".env.prod"
    env_file.write_bytes(b"DB_PASSWORD=" + SECRET.encode() + b"\xff\xfe\n")
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.load(env_file)
    message = one_line(exc)
    assert "not UTF-8" in message and str(env_file) in message
    assert "\\xff" not in message
    no_leak(message)


# --- load -----------------------------------------------------------------------------------------


def test_load_gives_every_key_with_its_value_as_written(tmp_path):
    env_file = write(
        tmp_path / ".env.prod",
        "\ufeffexport PORT=8080\n"  # an editor's byte-order mark does not stick to the key
        "DB_PASSWORD='pa$$${word}'\n"  # no interpolation: a $ in a password stays
        'GREETING="two\nlines"\n'
        "EMPTY=\n",
    )
    assert envfiles.load(env_file) == {
        "PORT": "8080",
        "DB_PASSWORD": "pa$$${word}",
        "GREETING": "two\nlines",
        "EMPTY": "",
    }


def test_load_refuses_a_key_without_equals_naming_a_known_key(tmp_path, no_leak):
    env_file = write(tmp_path / ".env.prod", f"PORT=1\nDB_PASSWORD={SECRET}\nDB_HOST\n")
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.load(env_file, known_keys=["PORT", "DB_HOST", "DB_PASSWORD"])
    message = one_line(exc)
    assert "DB_HOST (line 3)" in message and "KEY=value" in message
    no_leak(message)


def test_a_line_without_equals_is_shown_by_number_only_unless_a_known_key(
    tmp_path, example, no_leak
):
    # A password pasted on its own line parses as a key with no value: its text must not show.
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=1\nDB_HOST\nDB_PASSWORD=x\n{SECRET}\nNOTE=\n",
    )
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.load(env_file)
    message = one_line(exc)
    assert "lines 2, 4 (content not shown)" in message
    no_leak(message)

    result = envfiles.compare(env_file, example)
    assert result.unknown == ()  # never listed (and printed) as an unknown key
    with pytest.raises(envfiles.EnvFileError) as exc:
        envfiles.check(env_file, example)
    message = one_line(exc)
    assert "DB_HOST (line 2)" in message and "line 4 (content not shown)" in message
    no_leak(message)


def test_a_key_set_again_after_a_bare_line_is_fine(tmp_path):
    env_file = write(tmp_path / ".env.prod", "PORT\nPORT=1\n")
    assert envfiles.load(env_file) == {"PORT": "1"}


def test_load_refuses_a_missing_file(tmp_path):
    with pytest.raises(envfiles.EnvFileError, match="does not exist"):
        envfiles.load(tmp_path / ".env.prod")


def test_python_dotenv_logs_nothing_about_a_malformed_file(tmp_path, caplog):
    env_file = write(tmp_path / ".env.prod", f"DB_PASSWORD {SECRET}\n")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(envfiles.EnvFileError):
        envfiles.load(env_file)
    assert caplog.records == []


def test_env_files_are_recognised():
    for name in (".env", ".env.prod", "prod.env", ".production.env", "sub/.env.local"):
        assert envfiles.is_env_file(name), name
    for name in ("env.js", "environment.json", ".envrc-notes/readme.md", "src/dotenv.js"):
        assert not envfiles.is_env_file(name), name
    assert envfiles.is_env_template(".env.example") and not envfiles.is_env_template(".env.prod")


def test_comments_are_the_lines_directly_above_each_key(tmp_path, no_leak):
    example = write(
        tmp_path / ".env.example",
        "# file header\n\n# first\n#second\nA=1 # inline\n# detached\n\n"
        'B="x\n# inside the value\ny"\nC=3\n',
    )
    notes = envfiles.comments(example)
    assert notes["A"] == envfiles.KeyNotes(("first", "second"), "A=1 # inline\n")
    assert notes["B"].comment == () and "# inside the value" in notes["B"].statement
    assert notes["C"] == envfiles.KeyNotes((), "C=3\n")
    bad = write(tmp_path / ".env.bad", f"GOOD=1\nBAD='{SECRET}\n")
    with pytest.raises(envfiles.EnvFileError, match="cannot parse") as exc:
        envfiles.comments(bad)
    no_leak(str(exc.value))


# --- bytes no container's environment can carry ---------------------------------------------------


@pytest.mark.parametrize("call", ["check", "compare", "load", "read"])
def test_a_nul_byte_is_refused_naming_its_line_never_shown(tmp_path, example, no_leak, call):
    # Docker refuses such a container only at its start, quoting KEY=VALUE whole: refused here first.
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=1\nDB_HOST=x\nDB_PASSWORD={SECRET}\x00tail\nNOTE=\nX\x00{SECRET}=1\n",
    )
    args = (env_file, example) if call in ("check", "compare") else (env_file,)
    with pytest.raises(envfiles.EnvFileError) as exc:
        getattr(envfiles, call)(*args)
    message = one_line(exc)
    assert str(env_file) in message
    assert "line 3 (DB_PASSWORD), line 5 (content not shown)" in message
    assert "NUL" in message and "remove" in message
    no_leak(message, exc.value.args, exc.getrepr())


def test_a_key_set_twice_is_warned_about_naming_both_lines(tmp_path, example, no_leak):
    env_file = write(
        tmp_path / ".env.prod",
        f"PORT=1\nDB_HOST=x\nDB_PASSWORD={SECRET}\nNOTE=\n\nDB_PASSWORD=second-{SECRET}\n",
    )
    envfiles.check(env_file, example)
    _, err = no_leak()
    assert f"{env_file} sets DB_PASSWORD on lines 3 and 6; the last one wins" in err
    assert envfiles.load(env_file)["DB_PASSWORD"] == f"second-{SECRET}"  # as docker does
    _, err = no_leak()
    assert "sets DB_PASSWORD on lines 3 and 6" in err  # run --env-file, the smoke test's file
    envfiles.load(env_file, warn=False)  # deploy: check said it already
    assert "lines 3 and 6" not in no_leak()[1]


# --- which keys go into a Swarm service as secrets -----------------------------------------------


def test_a_comment_marks_a_key_of_the_example(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text(
        "# Where the database is.\nDB_HOST=db\n\n"
        "# secret: the seed of session cookies\n# (rotate yearly)\nSESSION_SEED=change-me\n"
        "# [secret]\nLICENCE=x\n"
        "# Not a secret, and no mark either.\nGREETING=hello\n"
    )
    assert envfiles.marked_secret(example) == {"SESSION_SEED", "LICENCE"}
    values = {
        "DB_HOST": "db",
        "SESSION_SEED": "s",
        "LICENCE": "l",
        "GREETING": "g",
        "DB_PASSWORD": "p",
    }
    assert envfiles.secret_keys(values, example, configured=["GREETING", "ABSENT"]) == {
        "SESSION_SEED", "LICENCE", "GREETING", "DB_PASSWORD",
    }  # fmt: skip


def test_a_value_in_a_token_format_goes_in_as_a_secret_whatever_its_key(tmp_path):
    example = tmp_path / ".env.example"
    example.write_text("STRIPE=\nGREETING=hello\n")
    values = {"STRIPE": TOKENS["STRIPE"], "GREETING": "hello"}
    assert envfiles.secret_keys(values, example) == {"STRIPE"}
