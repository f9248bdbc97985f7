import base64

import pytest

from reelhouse.uploads.metadata import MetadataError, encode_metadata, parse_metadata


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_parse_metadata_decodes_pairs_in_order() -> None:
    header = f"api_key {b64('KEY')},name {b64('vidéo ü 日本')},filename {b64('a.mp4')}"
    assert parse_metadata(header) == {
        "api_key": "KEY",
        "name": "vidéo ü 日本",
        "filename": "a.mp4",
    }


@pytest.mark.parametrize("header", [None, "", "   "])
def test_parse_metadata_empty_header_means_none(header: str | None) -> None:
    assert parse_metadata(header) == {}


def test_parse_metadata_accepts_empty_values_and_spaces_after_commas() -> None:
    header = f"api_key ,filename {b64('x.mp4')}, name , is_confidential"
    assert parse_metadata(header) == {
        "api_key": "",
        "filename": "x.mp4",
        "name": "",
        "is_confidential": "",
    }


def test_parse_metadata_duplicate_key_is_an_error() -> None:
    with pytest.raises(MetadataError, match="twice"):
        parse_metadata(f"name {b64('a')},name {b64('b')}")


@pytest.mark.parametrize("value", ["not*base64", "YQ", "/w=="])
def test_parse_metadata_bad_value_is_an_error(value: str) -> None:
    with pytest.raises(MetadataError, match="base64"):
        parse_metadata(f"name {value}")


def test_encode_metadata_round_trips() -> None:
    pairs = {"name": "Launch day", "empty": "", "filename": "日本.mp4"}
    assert parse_metadata(encode_metadata(pairs)) == pairs
