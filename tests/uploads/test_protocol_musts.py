"""tus 1.0.0, one test per MUST of the checklist in shared/reference/tus.md §3
(C core, CR creation, CU creation-with-upload, EX expiration, CK checksum,
T termination, K concatenation). C11 is in test_interrupted.py: it needs a
real connection to cut."""

import base64
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import httpx
import pytest

from tests.conftest import App

TUS = {"Tus-Resumable": "1.0.0"}
BODY = {**TUS, "Content-Type": "application/offset+octet-stream"}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def key(app: App) -> str:
    return app.account()


def create(app: App, key: str, **headers: str) -> httpx.Response:
    sent = {**TUS, "Upload-Metadata": f"api_key {b64(key.encode())}", **headers}
    if "Upload-Length" not in sent and "Upload-Defer-Length" not in sent:
        sent["Upload-Length"] = "10"
    return app.client.post("/files/", headers=sent)


def path(response: httpx.Response) -> str:
    location: str = response.headers["location"]
    return location.removeprefix("http://testserver")


def patch(
    app: App, where: str, offset: int, data: bytes, **headers: str
) -> httpx.Response:
    return app.client.patch(
        where, headers={**BODY, "Upload-Offset": str(offset), **headers}, content=data
    )


def head(app: App, where: str) -> httpx.Response:
    return app.client.head(where, headers=TUS)


@pytest.mark.parametrize("value", ["-1", "abc", "1.5", "+5", ""])
def test_c1_offsets_and_lengths_are_non_negative_integers(
    app: App, key: str, value: str
) -> None:
    assert create(app, key, **{"Upload-Length": value}).status_code == 400
    where = path(create(app, key))
    assert patch(app, where, 0, b"", **{"Upload-Offset": value}).status_code == 400
    assert head(app, where).headers["upload-offset"] == "0"


def test_c2_tus_resumable_on_every_response_but_options(app: App, key: str) -> None:
    where = path(create(app, key))
    responses = [
        create(app, key),
        head(app, where),
        patch(app, where, 0, b"abc"),
        patch(app, where, 0, b"abc"),  # 409
        head(app, "/files/" + "0" * 40),  # 404
        app.client.post("/files/", headers={"Tus-Resumable": "0.2.2"}),  # 412
    ]
    assert {r.status_code for r in responses} == {201, 200, 204, 409, 404, 412}
    for response in responses:
        assert response.headers["tus-resumable"] == "1.0.0", response.status_code
    assert "tus-resumable" not in app.client.options("/files/").headers


@pytest.mark.parametrize("version", ["0.2.2", None, "2.0.0"])
def test_c3_unsupported_version_is_412_and_changes_nothing(
    app: App, key: str, version: str | None
) -> None:
    where = path(create(app, key))
    wrong = {"Tus-Resumable": version} if version else {}
    created = app.client.post(
        "/files/",
        headers={
            **wrong,
            "Upload-Length": "1",
            "Upload-Metadata": f"api_key {b64(key.encode())}",
        },
    )
    assert created.status_code == 412
    assert created.headers["tus-version"] == "1.0.0"
    appended = app.client.patch(
        where,
        headers={
            **wrong,
            "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "0",
        },
        content=b"abc",
    )
    assert appended.status_code == 412
    assert head(app, where).headers["upload-offset"] == "0"
    listed = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()
    assert len(listed) == 1


def test_c4_options_has_tus_version_whatever_the_request_version(app: App) -> None:
    for sent in ({}, {"Tus-Resumable": "0.2.2"}):
        response = app.client.options("/files/", headers=sent)
        assert response.status_code in (200, 204)
        assert response.headers["tus-version"] == "1.0.0"


def test_c5_extensions_comma_separated_and_max_size_an_integer(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import rebuilt_app

    extensions = app.client.options("/files/").headers["tus-extension"]
    assert extensions == extensions.strip()
    assert all(name and " " not in name for name in extensions.split(","))
    assert "tus-max-size" not in app.client.options("/files/").headers
    with rebuilt_app(monkeypatch, REELHOUSE_MAX_UPLOAD_BYTES="1000") as client:
        assert client.options("/files/").headers["tus-max-size"] == "1000"


def test_c6_head_reports_offset_length_no_store_metadata(app: App, key: str) -> None:
    where = path(
        create(
            app,
            key,
            **{"Upload-Metadata": f"api_key {b64(key.encode())},name {b64(b'n')}"},
        )
    )
    found = head(app, where)
    assert found.status_code == 200
    assert found.headers["upload-offset"] == "0"
    assert found.headers["upload-length"] == "10"
    assert found.headers["cache-control"] == "no-store"
    assert found.headers["upload-metadata"] == f"name {b64(b'n')}"
    patch(app, where, 0, b"0123456789")
    assert head(app, where).headers["upload-offset"] == "10"

    deferred = path(create(app, key, **{"Upload-Defer-Length": "1"}))
    assert head(app, deferred).headers["upload-defer-length"] == "1"

    missing = head(app, "/files/" + "0" * 40)
    assert missing.status_code == 404
    assert "upload-offset" not in missing.headers


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/octet-stream", None]
)
def test_c7_patch_needs_the_offset_content_type(
    app: App, key: str, content_type: str | None
) -> None:
    where = path(create(app, key))
    sent = {**TUS, "Upload-Offset": "0"}
    if content_type:
        sent["Content-Type"] = content_type
    assert app.client.patch(where, headers=sent, content=b"abc").status_code == 415
    assert head(app, where).headers["upload-offset"] == "0"


@pytest.mark.parametrize("offset", [4, 6, 0])
def test_c8_wrong_offset_is_409_and_modifies_nothing(
    app: App, key: str, offset: int
) -> None:
    where = path(create(app, key))
    patch(app, where, 0, b"abcde")
    assert patch(app, where, offset, b"XY").status_code == 409
    assert head(app, where).headers["upload-offset"] == "5"


def test_c9_patch_is_204_with_the_new_offset(app: App, key: str) -> None:
    where = path(create(app, key))
    first = patch(app, where, 0, b"abcd")
    assert (first.status_code, first.headers["upload-offset"]) == (204, "4")
    second = patch(app, where, 4, b"efghij")
    assert (second.status_code, second.headers["upload-offset"]) == (204, "10")


def test_c10_patch_to_an_unknown_upload_is_404(app: App) -> None:
    assert patch(app, "/files/" + "0" * 40, 0, b"a").status_code == 404


def test_c12_method_override_is_honoured_on_post_only(app: App, key: str) -> None:
    where = path(create(app, key))
    overridden = app.client.post(
        where,
        headers={**BODY, "Upload-Offset": "0", "X-HTTP-Method-Override": "PATCH"},
        content=b"abc",
    )
    assert (overridden.status_code, overridden.headers["upload-offset"]) == (204, "3")
    ignored = app.client.get(where, headers={**TUS, "X-HTTP-Method-Override": "DELETE"})
    assert ignored.status_code == 405
    assert head(app, where).status_code == 200
    deleted = app.client.post(
        where, headers={**TUS, "X-HTTP-Method-Override": "DELETE"}
    )
    assert deleted.status_code == 204
    assert head(app, where).status_code == 404


def test_cr1_creation_is_advertised(app: App) -> None:
    assert "creation" in app.client.options("/files/").headers["tus-extension"].split(
        ","
    )


@pytest.mark.parametrize(
    "lengths",
    [
        {},
        {"Upload-Length": "5", "Upload-Defer-Length": "1"},
        {"Upload-Defer-Length": "0"},
    ],
)
def test_cr2_exactly_one_of_length_or_deferred_length(
    app: App, key: str, lengths: dict[str, str]
) -> None:
    response = app.client.post(
        "/files/",
        headers={**TUS, "Upload-Metadata": f"api_key {b64(key.encode())}", **lengths},
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("name dGl0bGU=,name dGl0bGU=", 400),  # duplicate keys
        ("name ***", 400),  # invalid base64
        ("name dGl0bGU=, empty , bare", 201),  # spaces after commas, empty values
    ],
)
def test_cr3_metadata_pairs_with_unique_keys(
    app: App, key: str, header: str, status: int
) -> None:
    sent = {"Upload-Metadata": f"api_key {b64(key.encode())},{header}"}
    assert create(app, key, **sent).status_code == status


def test_cr4_length_above_the_maximum_is_413(
    app: App, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import rebuilt_app

    with rebuilt_app(monkeypatch, REELHOUSE_MAX_UPLOAD_BYTES="100") as client:
        response = client.post(
            "/files/",
            headers={
                **TUS,
                "Upload-Length": "101",
                "Upload-Metadata": f"api_key {b64(key.encode())}",
            },
        )
    assert response.status_code == 413


def test_cr5_creation_is_201_with_an_absolute_location(app: App, key: str) -> None:
    response = create(app, key)
    assert response.status_code == 201
    assert response.headers["location"].startswith("http://testserver/files/")


def test_cr6_an_empty_upload_is_complete_at_creation(app: App, key: str) -> None:
    where = path(create(app, key, **{"Upload-Length": "0"}))
    found = head(app, where)
    assert (found.headers["upload-offset"], found.headers["upload-length"]) == (
        "0",
        "0",
    )
    video = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()[0]
    assert video["status"] == "processing"


def test_cr7_a_deferred_length_is_set_once_never_below_the_offset(
    app: App, key: str
) -> None:
    assert (
        "creation-defer-length"
        in app.client.options("/files/").headers["tus-extension"]
    )
    where = path(create(app, key, **{"Upload-Defer-Length": "1"}))
    patch(app, where, 0, b"abcd")
    assert patch(app, where, 4, b"", **{"Upload-Length": "3"}).status_code == 400
    assert patch(app, where, 4, b"ef", **{"Upload-Length": "6"}).status_code == 204
    assert patch(app, where, 6, b"", **{"Upload-Length": "7"}).status_code == 400
    assert patch(app, where, 6, b"", **{"Upload-Length": "6"}).status_code == 204
    found = head(app, where)
    assert (found.headers["upload-length"], found.headers["upload-offset"]) == (
        "6",
        "6",
    )


def test_cu1_cu2_creation_with_upload_reports_the_bytes_taken(
    app: App, key: str
) -> None:
    assert (
        "creation-with-upload" in app.client.options("/files/").headers["tus-extension"]
    )
    response = app.client.post(
        "/files/",
        headers={
            **BODY,
            "Upload-Length": "10",
            "Upload-Metadata": f"api_key {b64(key.encode())}",
            "Expect": "100-continue",
        },
        content=b"0123",
    )
    assert response.status_code == 201
    assert response.headers["upload-offset"] == "4"
    assert head(app, path(response)).headers["upload-offset"] == "4"


def test_ex1_ex2_every_response_about_an_unfinished_upload_says_when_it_expires(
    app: App, key: str
) -> None:
    assert "expiration" in app.client.options("/files/").headers["tus-extension"]
    created = create(app, key)
    expires = parsedate_to_datetime(created.headers["upload-expires"])
    assert created.headers["upload-expires"].endswith(" GMT")
    assert timedelta(hours=23) < expires - datetime.now(UTC) <= timedelta(hours=24)
    where = path(created)
    assert patch(app, where, 0, b"abc").headers["upload-expires"]
    assert head(app, where).headers["upload-expires"]
    patch(app, where, 3, b"defghij")
    assert "upload-expires" not in head(app, where).headers  # finished: kept


def test_ex3_an_expired_upload_is_gone(app: App, key: str) -> None:
    from reelhouse.videos.upload_server import upload_server

    unfinished = path(create(app, key))
    finished = path(create(app, key, **{"Upload-Length": "0"}))
    handler = upload_server().handler
    later = datetime.now(UTC) + timedelta(hours=25)
    assert handler.remove_expired(now=later) == 1
    assert head(app, unfinished).status_code == 404
    assert head(app, finished).status_code == 200
    videos = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()
    assert [v["status"] for v in videos] == ["processing"]


def digest(algorithm: str, data: bytes) -> str:
    if algorithm == "crc32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    return b64(hashlib.new(algorithm, data).digest())


def test_ck1_checksum_advertised_with_its_algorithms(app: App) -> None:
    options = app.client.options("/files/").headers
    assert "checksum" in options["tus-extension"].split(",")
    assert "sha1" in options["tus-checksum-algorithm"].split(",")


@pytest.mark.parametrize("algorithm", ["sha1", "md5", "sha256", "crc32"])
def test_ck2_a_matching_checksum_is_stored(app: App, key: str, algorithm: str) -> None:
    where = path(create(app, key))
    checksum = f"{algorithm} {digest(algorithm, b'abcde')}"
    response = patch(app, where, 0, b"abcde", **{"Upload-Checksum": checksum})
    assert (response.status_code, response.headers["upload-offset"]) == (204, "5")


def test_ck2_a_mismatch_is_460_and_the_chunk_discarded(app: App, key: str) -> None:
    where = path(create(app, key))
    patch(app, where, 0, b"ab")
    response = patch(
        app, where, 2, b"cde", **{"Upload-Checksum": f"sha1 {digest('sha1', b'xyz')}"}
    )
    assert response.status_code == 460
    assert response.json()["error"]["code"] == "checksum_mismatch"
    assert head(app, where).headers["upload-offset"] == "2"
    assert patch(app, where, 2, b"cde").status_code == 204


def test_ck2_an_unknown_algorithm_is_400_and_nothing_stored(app: App, key: str) -> None:
    where = path(create(app, key))
    response = patch(app, where, 0, b"abc", **{"Upload-Checksum": "sha3 AAAA"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "checksum_algorithm_unsupported"
    assert head(app, where).headers["upload-offset"] == "0"


def test_ck3_checksum_trailers_are_not_claimed(app: App) -> None:
    assert (
        "checksum-trailer" not in app.client.options("/files/").headers["tus-extension"]
    )


def test_t1_delete_is_204_and_the_upload_gone(app: App, key: str) -> None:
    assert "termination" in app.client.options("/files/").headers["tus-extension"]
    where = path(create(app, key))
    patch(app, where, 0, b"abc")
    assert app.client.delete(where, headers=TUS).status_code == 204
    assert head(app, where).status_code == 404
    assert patch(app, where, 3, b"d").status_code == 404


def partial(app: App, key: str, data: bytes) -> str:
    where = path(
        create(
            app, key, **{"Upload-Length": str(len(data)), "Upload-Concat": "partial"}
        )
    )
    assert patch(app, where, 0, data).status_code == 204
    return where


def test_k1_k2_final_upload_joins_partials_in_order(app: App, key: str) -> None:
    assert "concatenation" in app.client.options("/files/").headers["tus-extension"]
    first, second = partial(app, key, b"hello "), partial(app, key, b"world")
    # Parts may be named by absolute URL or by path.
    final = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Concat": f"final;http://testserver{first} {second}",
            "Upload-Metadata": f"api_key {b64(key.encode())},name {b64(b'joined')}",
        },
    )
    assert final.status_code == 201
    found = head(app, path(final))
    assert (found.headers["upload-length"], found.headers["upload-offset"]) == (
        "11",
        "11",
    )
    video = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()
    assert [(v["name"], v["status"], v["original_size"]) for v in video] == [
        ("joined", "processing", 11)
    ]


def test_k2_a_final_upload_takes_no_length(app: App, key: str) -> None:
    part = partial(app, key, b"abc")
    response = create(
        app, key, **{"Upload-Concat": f"final;{part}", "Upload-Length": "3"}
    )
    assert response.status_code == 400


def test_k3_patch_on_a_final_upload_is_403(app: App, key: str) -> None:
    part = partial(app, key, b"abc")
    final = path(
        app.client.post(
            "/files/",
            headers={**TUS, "Upload-Concat": f"final;{part}", "X-Api-Key": key},
        )
    )
    assert patch(app, final, 3, b"more").status_code == 403
    assert head(app, final).headers["upload-offset"] == "3"


def test_k4_head_echoes_upload_concat(app: App, key: str) -> None:
    part = partial(app, key, b"abc")
    assert head(app, part).headers["upload-concat"] == "partial"
    final = app.client.post(
        "/files/",
        headers={**TUS, "Upload-Concat": f"final;{part}", "X-Api-Key": key},
    )
    assert head(app, path(final)).headers["upload-concat"] == f"final;{part}"


def test_k5_partials_metadata_is_not_carried_over(app: App, key: str) -> None:
    where = path(
        create(
            app,
            key,
            **{
                "Upload-Length": "3",
                "Upload-Concat": "partial",
                "Upload-Metadata": f"api_key {b64(key.encode())},name {b64(b'part')}",
            },
        )
    )
    patch(app, where, 0, b"abc")
    final = app.client.post(
        "/files/", headers={**TUS, "Upload-Concat": f"final;{where}", "X-Api-Key": key}
    )
    assert "upload-metadata" not in head(app, path(final)).headers


def test_k_partials_of_another_account_cannot_be_joined(app: App, key: str) -> None:
    theirs = partial(app, app.account("other"), b"secret")
    response = app.client.post(
        "/files/", headers={**TUS, "Upload-Concat": f"final;{theirs}", "X-Api-Key": key}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "upload_concat_invalid"


def test_k_unfinished_partials_cannot_be_joined(app: App, key: str) -> None:
    where = path(create(app, key, **{"Upload-Length": "5", "Upload-Concat": "partial"}))
    patch(app, where, 0, b"ab")
    response = app.client.post(
        "/files/", headers={**TUS, "Upload-Concat": f"final;{where}", "X-Api-Key": key}
    )
    assert response.status_code == 400
