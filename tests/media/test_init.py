import reelhouse.media


def test_media_all_lists_public_surface() -> None:
    assert sorted(reelhouse.media.__all__) == [
        "Codec",
        "EncodeResult",
        "Ladder",
        "MediaError",
        "MediaInfo",
        "Profile",
        "Rung",
        "Storyboard",
        "Target",
        "TargetedEncode",
        "can_remux",
        "encode_mp4",
        "encode_targeted",
        "ladder_heights",
        "make_poster",
        "make_storyboard",
        "package_hls",
        "probe",
        "remux_mp4",
    ]
    for name in reelhouse.media.__all__:
        assert getattr(reelhouse.media, name).__module__.startswith("reelhouse.media.")
