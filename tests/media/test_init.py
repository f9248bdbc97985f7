import reelhouse.media


def test_media_all_lists_public_surface() -> None:
    assert sorted(reelhouse.media.__all__) == [
        "EncodeResult",
        "MediaError",
        "MediaInfo",
        "can_remux",
        "encode_mp4",
        "make_poster",
        "probe",
        "remux_mp4",
    ]
    for name in reelhouse.media.__all__:
        assert getattr(reelhouse.media, name).__module__.startswith("reelhouse.media.")
