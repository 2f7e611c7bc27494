"""app/compose.py: a Compose file read and checked, and written again pinned, for the smoke test
and for docker stack deploy. No engine: data in, data out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airgapkit.app import compose
from airgapkit.environments import Update

GOOD = b"""
services:
  api:
    build: .
    depends_on: [kv]
    environment: {PRICE: "$$5"}
  kv:
    image: kv:1
    env_file: kv.env
    volumes: [kvdata:/data, ./seed:/seed:ro]
  proxy:
    image: proxy:1
    ports: ["8443:80"]
    networks: [front]
volumes: {kvdata: {}}
networks: {front: {}}
x-team: shop
"""


def refusals(text: bytes, app_service: str = "") -> list[str]:
    with pytest.raises(compose.ComposeError) as caught:
        compose.parse(text, "compose.yaml", app_service)
    return caught.value.problems


def test_a_good_file_names_the_app_and_the_other_images():
    stack = compose.parse(GOOD, "compose.yaml")
    assert stack.app_service == "api"
    assert stack.others() == {"kv": "kv:1", "proxy": "proxy:1"}
    assert stack.env_files("kv") == ["kv.env"]


@pytest.mark.parametrize(
    ("service", "expected"),
    [
        ({"image": "x:1", "container_name": "x"}, "container_name: Swarm names"),
        ({"image": "x:1", "network_mode": "host"}, "network_mode: Swarm ignores it"),
        ({"image": "x:1", "links": ["api"]}, "links: Swarm ignores links"),
        ({"image": "x:1", "extends": {"file": "b.yaml"}}, "extends: it reads another file"),
        (
            {"image": "x:1", "depends_on": {"api": {"condition": "service_healthy"}}},
            "depends_on.api.condition: service_healthy: Swarm ignores conditions",
        ),
        ({"image": "x:1", "command": "echo ${HOME}"}, "command: ${HOME} is a variable"),
        ({"image": "x:1", "environment": ["A=$B"]}, "environment[0]: $B is a variable"),
        ({"build": "./other"}, "services.x.build: only the app is built"),
        ({"environment": {}}, "services.x: names no image:"),
        ({"image": "x:1", "env_file": "../outside.env"}, "name a file inside the app folder"),
    ],
)
def test_what_swarm_ignores_or_cannot_travel_is_refused_in_one_line(service, expected):
    doc = {"services": {"api": {"build": "."}, "x": service}}
    problems = refusals(yaml.safe_dump(doc).encode(), "api")
    assert len(problems) == 1 and expected in problems[0], problems
    assert problems[0].startswith("compose.yaml: services.")


def test_every_problem_gets_its_own_line():
    doc = {"services": {"api": {"build": "."}, "a": {"container_name": "a"}, "b": {"image": "$X"}}}
    problems = refusals(yaml.safe_dump(doc).encode())
    assert len(problems) == 3, problems


def test_dollars_written_twice_are_no_variable():
    compose.parse(b"services: {api: {build: ., command: ['sh', '-c', 'echo $$HOME']}}", "f")


@pytest.mark.parametrize(
    ("text", "app_service", "expected"),
    [
        (b"services: [", "", "does not parse at line 1"),
        (b"image: x", "", "write a mapping with services:"),
        (b"services: {a: {build: .}, b: {build: .}}", "", "a, b all have build:; name the app"),
        (b"services: {a: {image: x}}", "", "no service has build:"),
        (b"services: {a: {build: .}}", "web", "stack.app_service: web is not a service"),
        (b"services: {a: {build: .}}\ninclude: [b.yaml]", "", "include: it reads other files"),
        (b"services: {a: {build: .}}\nservics: {}", "", "servics: not a top-level key"),
    ],
)
def test_a_file_that_says_no_stack_is_refused(text, app_service, expected):
    problems = refusals(text, app_service)
    assert any(expected in p for p in problems), problems


def test_a_named_app_service_may_be_one_of_several_builds_no_more():
    doc = {"services": {"api": {"build": "."}, "worker": {"build": "."}}}
    problems = refusals(yaml.safe_dump(doc).encode(), "api")
    assert problems == [
        "compose.yaml: services.worker.build: only the app is built; a swarm ignores build: and "
        "pulls image:, so give this service an image: and drop build:"
    ]


def test_an_env_file_without_its_template_is_named(tmp_path):
    (tmp_path / "compose.yaml").write_bytes(GOOD)
    stack = compose.load(tmp_path / "compose.yaml")
    (line,) = compose.missing_templates(stack, tmp_path)
    assert "services.kv.env_file: kv.env has no template kv.env.example" in line
    (tmp_path / "kv.env.example").write_text("KV_NAME=kv\n")
    assert compose.missing_templates(stack, tmp_path) == []


def test_the_pinned_file_names_every_image_by_id_and_checks_the_app():
    stack = compose.parse(GOOD, "compose.yaml")
    ids = {"api": "sha256:" + "a" * 64, "kv": "sha256:" + "b" * 64, "proxy": "sha256:" + "c" * 64}
    names = {"api": "shop:1.0.0", "kv": "kv:1", "proxy": "proxy:1"}
    probe = compose.health_probe(["CMD", "true"], within=20)
    doc = compose.pinned(stack, ids, names, probe)
    assert "build" not in doc["services"]["api"]
    assert doc["services"]["api"]["healthcheck"] == {
        "test": ["CMD", "true"], "interval": "1s", "timeout": "4s", "retries": 20,
    }  # fmt: skip
    for name, service in doc["services"].items():
        assert service["image"] == ids[name]
        assert service["labels"][compose.IMAGE_LABEL] == names[name]
    assert stack.doc["services"]["api"]["build"] == "."  # the original is left as it was
    assert compose.parse(compose.dump(doc), "pinned", "api").others()["kv"] == ids["kv"]


def test_the_smoke_form_isolates_every_service():
    stack = compose.parse(GOOD, "compose.yaml")
    env = {"kv": [Path("/work/kv.env.example")]}
    doc = compose.for_smoke(stack.doc, env, "smoke")
    assert doc["networks"] == {"smoke": {"internal": True}}
    for service in doc["services"].values():
        assert service["networks"] == ["smoke"] and "ports" not in service
        assert service["pull_policy"] == "never"
    assert doc["services"]["kv"]["volumes"] == ["kvdata:/data"]  # the host path dropped
    assert doc["services"]["kv"]["env_file"] == ["/work/kv.env.example"]


def test_host_paths_are_taken_from_the_deploy_folder_and_must_exist(tmp_path):
    stack = compose.parse(GOOD, "compose.yaml")
    doc, missing = compose.with_host_paths(stack.doc, tmp_path)
    assert missing == [
        f"services.kv.volumes[1]: ./seed does not exist here ({tmp_path / 'seed'}); create it first"
    ]
    (tmp_path / "seed").mkdir()
    doc, missing = compose.with_host_paths(stack.doc, tmp_path)
    assert missing == [] and doc["services"]["kv"]["volumes"][1] == f"{tmp_path / 'seed'}:/seed:ro"


def test_the_swarm_form_rolls_back_every_update_and_makes_networks_attachable():
    stack = compose.parse(GOOD, "compose.yaml")
    mine = dict(stack.doc)
    mine["services"] = dict(mine["services"])
    mine["services"]["kv"] = {**mine["services"]["kv"], "deploy": {"update_config": {
        "parallelism": 2, "failure_action": "continue"}}}  # fmt: skip
    doc = compose.with_swarm_updates(mine, Update(parallelism=1, delay=0, monitor=5))
    kv = doc["services"]["kv"]["deploy"]["update_config"]
    assert kv["failure_action"] == "rollback" and kv["parallelism"] == 2 and kv["monitor"] == "5s"
    assert doc["networks"]["front"] == {"attachable": True}
    assert doc["networks"]["default"] == {"attachable": True}  # api and kv use it


def test_secrets_are_mounted_for_the_image_user_and_exported_by_a_wrapper():
    doc = {"services": {"api": {"image": "x"}}}
    ref = {"SecretName": "shop_api-db-password-1a2b", "File": {"Name": "DB_PASSWORD"}}
    compose.add_secrets(doc, "api", [ref], "1001", (["node"], ["app.js"]))
    api = doc["services"]["api"]
    assert api["secrets"] == [{"source": ref["SecretName"], "target": "DB_PASSWORD",
                               "uid": "1001", "gid": "1001", "mode": 0o400}]  # fmt: skip
    assert doc["secrets"] == {ref["SecretName"]: {"external": True}}
    assert api["entrypoint"][:2] == ["/bin/sh", "-c"]
    assert "$$(cat /run/secrets/DB_PASSWORD)" in api["entrypoint"][2]  # not interpolated by Docker
    assert api["command"] == ["node", "app.js"]
