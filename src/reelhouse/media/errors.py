"""The errors the media package raises for a file it cannot turn into a video."""


class MediaError(Exception):
    """A file cannot be probed, converted or turned into a poster.

    ``reason`` is a short sentence meant for the person who uploaded the file.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class MediaStalled(MediaError):
    """FFmpeg stopped making progress and was killed.

    Unlike other failures this may say nothing about the file (an overloaded
    or failing machine), so the work is worth trying again later.
    """
