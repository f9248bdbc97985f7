import pickle

from reelhouse.media import MediaError


def test_media_error_str_is_reason() -> None:
    error = MediaError("The file is empty.")

    assert error.reason == "The file is empty."
    assert str(error) == "The file is empty."


def test_media_error_pickled_keeps_reason() -> None:
    # Worker pools and queue results move exceptions between processes by pickling.
    error = pickle.loads(pickle.dumps(MediaError("The file is empty.")))

    assert isinstance(error, MediaError)
    assert error.reason == "The file is empty."
