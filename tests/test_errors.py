from reelhouse import errors
from reelhouse.errors import CATALOGUE, ReelhouseError, error_body


def test_catalogue_codes_are_unique_snake_case_with_error_statuses() -> None:
    kinds = [
        value for value in vars(errors).values() if isinstance(value, errors.ErrorKind)
    ]
    assert len({kind.code for kind in kinds}) == len(kinds) == len(CATALOGUE)
    for kind in kinds:
        assert kind.code.replace("_", "").isalpha() and kind.code.islower()
        assert 400 <= kind.status < 600
        assert kind.message.endswith(".")


def test_error_body_shape_is_pinned() -> None:
    assert error_body(errors.VIDEO_NOT_FOUND) == {
        "error": {"code": "video_not_found", "message": "No such video.", "status": 404}
    }
    assert error_body(errors.VIDEO_NOT_FOUND, "Sharper.")["error"]["message"] == (
        "Sharper."
    )


def test_reelhouse_error_keeps_its_kind_and_message() -> None:
    error = ReelhouseError(errors.UPLOAD_LOCKED)
    assert error.kind is errors.UPLOAD_LOCKED
    assert str(error) == errors.UPLOAD_LOCKED.message
