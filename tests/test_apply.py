"""The far side of a delta on a real engine: an image made from its partial archive and the image it
was made against has the same ID; prerequisites are checked by ID before anything else.

The ID is the config digest (``engine.identity``): what a bundle's manifest records, on both image
stores; the engine's own ID (``Image.id``) is the config digest on the classic store only.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from gate_support import build, remove
from saved_images import layers_of

from airgapkit.crossing.manifest import Manifest
from airgapkit.delta import apply, plan, tars
from airgapkit.engine import identity, images, store
from airgapkit.errors import ImageMissing, IntegrityError
from airgapkit.tarstream import reader

pytestmark = pytest.mark.docker

BUNDLE = Path("app-1.0.1-release.zip")


@pytest.fixture(scope="module")
def versions(docker_client, base_image):
    """Two versions of an app image on the same base, sharing the base and one app layer."""
    made = {}
    shared = f"RUN echo shared-{uuid.uuid4().hex} > /shared"  # the same step: the cache shares it
    try:
        made["v1"] = build(docker_client, base_image, f"{shared}\nRUN echo v1 > /version")
        made["v2"] = build(docker_client, base_image, f"{shared}\nRUN echo v2 > /version")
        yield {k: docker_client.images.get(ref) for k, ref in made.items()}
    finally:
        remove(docker_client, made.values())


def layers(image) -> list[str]:
    return image.attrs["RootFS"]["Layers"]


def partial_save(client, ref: str, leave_out: set[str]):
    """``docker save`` of ``ref`` without the layers whose diff IDs are in ``leave_out``."""
    return plan.partial(client, ref, leave_out)(images.save_stream(client, [ref]))


def test_the_versions_share_all_but_their_last_layer(versions):
    v1, v2 = layers(versions["v1"]), layers(versions["v2"])
    assert v1[:-1] == v2[:-1] and v1[-1] != v2[-1]


def test_a_partial_save_carries_only_the_new_layer(docker_client, versions):
    v2 = versions["v2"]
    whole = b"".join(images.save_stream(docker_client, [v2.tags[0]]))
    sent = b"".join(partial_save(docker_client, v2.tags[0], set(layers(versions["v1"]))))
    assert len(sent) < 64 * 1024 < len(whole)  # the base (about 120 MB) stays behind
    assert tars.layer_paths(iter([sent])) == tars.layer_paths(iter([whole]))  # all still listed


def test_put_together_with_the_prerequisite_loads_the_very_image(docker_client, versions):
    v1, v2 = versions["v1"], versions["v2"]
    ref, image_id = v2.tags[0], identity.of(docker_client, v2)
    sent = b"".join(partial_save(docker_client, ref, set(layers(v1))))
    prerequisite = images.save_stream(docker_client, [v1.id])
    whole = b"".join(tars.put_together(prerequisite, layers(v1), iter([sent]), layers(v2)))
    assert layers_of(whole) == layers(v2)  # complete: no layer left for docker load to skip
    docker_client.images.remove(ref)  # the far side does not have it yet
    loaded = images.load(docker_client, reader(iter([whole])))
    assert loaded == [ref]
    assert identity.of_ref(docker_client, ref) == image_id


def test_a_partial_archive_is_loaded_the_way_the_store_allows_and_says_which(
    docker_client, versions, capsys
):
    """The classic store takes the member as it travelled (its layers left out are taken from the
    store by chain ID); the containerd store is given the whole archive put together."""
    v1, v2 = versions["v1"], versions["v2"]
    ref, image_id = v2.tags[0], identity.of(docker_client, v2)
    sent = b"".join(partial_save(docker_client, ref, set(layers(v1))))
    image = {"ref": ref, "id": image_id, "layers": layers(v2)}
    req = delta(docker_client, versions).requires[0]
    docker_client.images.remove(ref)  # the far side does not have it yet
    loaded = apply.load_partial(docker_client, image, req, reader(iter([sent])), len(sent), BUNDLE)
    assert loaded == [ref]
    assert identity.of_ref(docker_client, ref) == image_id
    said = capsys.readouterr().err
    if store.store(docker_client) == store.CLASSIC:
        assert f"delta: {ref} loaded from its own layers; the engine's classic store holds" in said
    else:
        assert f"delta: {ref} put back together with {len(req['layers'])} layers of" in said
        assert "(the containerd image store loads no layer absent from the archive)" in said


def test_a_prerequisite_gone_during_the_load_is_refused_in_one_line(
    docker_client, base_image, monkeypatch
):
    """A fault provoked for real, timed by the test: the prerequisite image (and its own layer,
    which the delta leaves out) is removed from the engine just as ``docker load`` starts."""
    step = f"RUN echo shared-{uuid.uuid4().hex} > /shared"
    made = [build(docker_client, base_image, f"{step}\nRUN echo v{n} > /v") for n in (1, 2)]
    try:
        v1, v2 = (docker_client.images.get(ref) for ref in made)
        image = {"ref": made[1], "id": identity.of(docker_client, v2), "layers": layers(v2)}
        req = {"ref": made[0], "id": identity.of(docker_client, v1), "for": image["id"],
               "layers": layers(v1)[:-1], "carried_by": "app-1.0.0-release.zip"}  # fmt: skip
        sent = b"".join(partial_save(docker_client, made[1], set(req["layers"])))
        docker_client.images.remove(made[1])
        real_load = images.load

        def load_as_the_prerequisite_goes(client, fileobj, size=None):
            docker_client.images.remove(made[0], force=True)
            return real_load(client, fileobj, size)

        monkeypatch.setattr(images, "load", load_as_the_prerequisite_goes)
        with pytest.raises(ImageMissing) as err:
            apply.load_partial(docker_client, image, req, reader(iter([sent])), len(sent), BUNDLE)
        assert str(err.value) == (
            f"{made[0]} ({req['id'][:19]}), whose layers the delta {BUNDLE} leaves out of "
            f"{made[1]}, is no longer in this engine (removed during the deploy?); take "
            "app-1.0.0-release.zip again, then the delta, or a full bundle"
        )
    finally:
        remove(docker_client, made)


@pytest.mark.parametrize(
    ("held", "layers_", "left_out", "expected"),
    [
        (["a", "b", "c"], ["a", "b", "x"], {"a", "b"}, True),  # a new top layer
        (["a", "b", "c"], ["a", "x", "c"], {"a", "c"}, False),  # c sits on x here
        (["a", "b"], ["a", "b", "x", "y"], {"a", "b"}, True),
        (["a"], ["b", "a"], {"a"}, False),
    ],
)
def test_a_layer_left_out_is_held_by_chain_only_on_the_same_layers_below(
    held, layers_, left_out, expected
):
    assert apply.held_by_chain(held, layers_, left_out) is expected


# --- prerequisites ---------------------------------------------------------------------------------


def ids(client, versions) -> dict[str, str]:
    return {name: identity.of(client, image) for name, image in versions.items()}


def delta(client, versions, **req) -> Manifest:
    v1, v2 = versions["v1"], versions["v2"]
    v1_id, v2_id = ids(client, versions).values()
    requirement = {
        "ref": v1.tags[0],
        "id": v1_id,
        "carried_by": "app-1.0.0-release.zip",
        "for": v2_id,
        "layers": layers(v1)[:-1],
        **req,
    }
    image = {"ref": v2.tags[0], "id": v2_id, "layers": layers(v2), "member": "images/x.tar"}
    return Manifest(kind="release", app={"name": "app"}, images=[image], requires=[requirement])


def test_a_missing_prerequisite_names_the_image_and_the_bundle_that_carried_it(
    docker_client, versions
):
    absent = "sha256:" + "ab" * 32
    manifest = delta(docker_client, versions, id=absent, ref="agk-test-gone:1")
    with pytest.raises(ImageMissing) as err:
        apply.check_prerequisites(docker_client, manifest, BUNDLE)
    assert str(err.value) == (
        f"the delta app-1.0.1-release.zip needs image agk-test-gone:1 ({absent[:19]}), which is "
        "not in this engine: it came in app-1.0.0-release.zip; take that bundle first, or a full one"
    )


def test_a_base_under_its_tag_but_another_id_is_refused(docker_client, versions, base_image):
    other = ids(docker_client, versions)["v1"]
    manifest = Manifest(
        kind="base",
        app={"name": "app"},
        requires=[{"ref": base_image, "id": other, "carried_by": "app-1.0.0-base.zip"}],
    )
    base_id = identity.of_ref(docker_client, base_image)
    with pytest.raises(ImageMissing) as err:
        apply.check_prerequisites(docker_client, manifest, BUNDLE)
    assert str(err.value).startswith(
        f"{base_image} here is image {base_id[:19]}, not {other[:19]} that "
        "app-1.0.0-base.zip carried"
    )


def test_a_prerequisite_without_the_layers_needed_is_refused(docker_client, versions):
    manifest = delta(docker_client, versions, layers=["sha256:" + "cd" * 32])
    with pytest.raises(ImageMissing, match="needs 1 layers of .* that the image here lacks"):
        apply.check_prerequisites(docker_client, manifest, BUNDLE)


def test_an_image_a_delta_carries_is_known_to_be_held_already_by_its_id(docker_client, versions):
    """v2 is in the engine (an earlier deploy of the delta loaded it): the prerequisites still
    pass, and the deploy knows not to load it again; a v2 of another ID is not held."""
    manifest = delta(docker_client, versions)
    apply.check_prerequisites(docker_client, manifest, BUNDLE)
    assert apply.held_already(docker_client, manifest) == manifest.images
    manifest.images[0]["id"] = "sha256:" + "ef" * 32
    assert apply.held_already(docker_client, manifest) == []


def test_an_image_needed_whole_gets_its_name_back(docker_client, versions, unique_name):
    image, image_id = versions["v1"], ids(docker_client, versions)["v1"]
    ref = f"{unique_name}:base"
    requirement = {"ref": ref, "id": image_id, "carried_by": "app-1.0.0-base.zip"}
    manifest = Manifest(
        kind="base", app={"name": "app"}, requires=[{**requirement, "layers": layers(image)}]
    )
    try:
        apply.check_prerequisites(docker_client, manifest, BUNDLE)  # here by ID: enough
        apply.tag_prerequisites(docker_client, manifest)
        assert docker_client.images.get(ref).id == image.id
        assert apply.base_image_ref(manifest) == ref
    finally:
        docker_client.images.remove(ref)


def test_a_loaded_image_with_another_id_than_the_manifest_says_is_refused(docker_client, versions):
    record = {"ref": versions["v1"].tags[0], "id": ids(docker_client, versions)["v2"]}
    with pytest.raises(IntegrityError, match="loaded as image .* but the bundle's manifest says"):
        apply._check_id(docker_client, record)


def test_the_secrets_scan_of_a_delta_release_sees_the_layers_left_out(
    docker_client, base_image, tmp_path
):
    """The watched stream is the whole image: a secret in a shared layer is still found."""
    from airgapkit.crossing import bundle
    from airgapkit.engine.source import saved
    from airgapkit.gate import layerscan

    shared = f"RUN mkdir -p /app && echo DB_PASSWORD=x-{uuid.uuid4().hex} > /app/.env"
    made = [build(docker_client, base_image, f"{shared}\nRUN echo v{n} > /v") for n in (1, 2)]
    try:
        v1, v2 = (docker_client.images.get(ref) for ref in made)
        seen = {}
        manifest = Manifest(kind="release", app={"name": "app", "version": "2", "image_name": "a"})
        writer = bundle.create(
            tmp_path / "delta.zip",
            manifest,
            images=saved(docker_client, [made[1]]),
            files=[],
            password="a long enough test password 1",  # noqa: S106 - a throwaway archive
            level=1,
            watch=layerscan.scan_layers,
            before_manifest=lambda m, found: seen.update(found),
            image_filters={made[1]: plan.partial(docker_client, made[1], set(layers(v1)))},
        )
        assert writer.sha256
        (findings,) = seen.values()
        assert [f.path for f in findings] == ["/app/.env"]  # in a layer the delta leaves out
        assert manifest.files[0]["size"] < 64 * 1024  # while the member holds the new layer only
        assert layers(v2)[-2] in layers(v1)  # the .env layer is shared indeed
    finally:
        remove(docker_client, made)
