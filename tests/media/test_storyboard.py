import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import av
import pytest

from reelhouse.media import MediaError, probe
from reelhouse.media.storyboard import Storyboard, make_storyboard

pytestmark = pytest.mark.slow

_TIMESTAMP = re.compile(r"(\d{2,}):(\d{2}):(\d{2})\.(\d{3})")


@dataclass(frozen=True)
class Cue:
    start: int
    """Milliseconds."""
    end: int
    image: str
    x: int
    y: int
    width: int
    height: int

    @property
    def rectangle(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.width, self.height


@dataclass(frozen=True)
class Sprite:
    width: int
    height: int
    luma: bytes
    line_size: int

    def spread(self, x: int, y: int, width: int, height: int) -> int:
        """Brightest minus darkest pixel of a rectangle: about 0 where it is blank."""
        pixels = [
            value
            for row in range(y, y + height)
            for value in self.luma[row * self.line_size + x :][:width]
        ]
        return max(pixels) - min(pixels)


def milliseconds(timestamp: str) -> int:
    match = _TIMESTAMP.fullmatch(timestamp)
    assert match is not None, timestamp
    hours, minutes, seconds, fraction = map(int, match.groups())
    return ((hours * 60 + minutes) * 60 + seconds) * 1000 + fraction


def read_index(path: Path) -> list[Cue]:
    header, *blocks = path.read_text(encoding="utf-8").rstrip("\n").split("\n\n")
    assert header == "WEBVTT"
    cues = []
    for block in blocks:
        timing, payload = block.split("\n")
        start, arrow, end = timing.split(" ")
        assert arrow == "-->"
        image, fragment = payload.split("#xywh=")
        x, y, width, height = map(int, fragment.split(","))
        cues.append(
            Cue(milliseconds(start), milliseconds(end), image, x, y, width, height)
        )
    return cues


def read_sprite(path: Path) -> Sprite:
    assert path.read_bytes()[:3] == b"\xff\xd8\xff"
    with av.open(path) as container:
        assert container.streams.video[0].codec_context.name == "mjpeg"
        frame = next(container.decode(video=0)).reformat(format="gray")
    plane = frame.planes[0]
    return Sprite(frame.width, frame.height, bytes(plane), plane.line_size)


def assert_cues_cover(cues: list[Cue], duration: float) -> None:
    assert cues[0].start == 0
    for cue, following in pairwise(cues):
        assert cue.start < cue.end == following.start
    assert abs(cues[-1].end - duration * 1000) <= 0.5


@pytest.fixture(scope="module")
def city(clips: Path, tmp_path_factory: pytest.TempPathFactory) -> Storyboard:
    source = clips / "city-405p-camera-mpeg2.mpg"
    return make_storyboard(source, tmp_path_factory.mktemp("city"), probe(source))


def test_make_storyboard_sprite_is_a_grid_of_tiles(city: Storyboard) -> None:
    # 7.6 s: a thumbnail every second, 8 of them on one row.
    assert (city.tiles, city.interval) == (8, 1.0)
    assert (city.tile_width, city.tile_height) == (160, 90)
    sprite = read_sprite(city.image)
    assert (sprite.width, sprite.height) == (8 * 160, 90)
    assert sorted(os.listdir(city.image.parent)) == [
        "storyboard.jpg",
        "storyboard.vtt",
    ]


def test_make_storyboard_index_covers_duration_with_tiles_in_sprite(
    clips: Path, city: Storyboard
) -> None:
    cues = read_index(city.index)
    sprite = read_sprite(city.image)

    assert len(cues) == city.tiles
    assert_cues_cover(cues, probe(clips / "city-405p-camera-mpeg2.mpg").duration)
    assert [cue.start for cue in cues] == [second * 1000 for second in range(8)]
    assert {cue.image for cue in cues} == {"storyboard.jpg"}
    assert len({(cue.x, cue.y) for cue in cues}) == len(cues)
    for cue in cues:
        assert (cue.width, cue.height) == (city.tile_width, city.tile_height)
        assert 0 <= cue.x <= sprite.width - cue.width
        assert 0 <= cue.y <= sprite.height - cue.height
        assert sprite.spread(*cue.rectangle) > 40, cue


@pytest.mark.parametrize(
    ("max_tiles", "columns", "interval", "tiles", "sprite_size"),
    [
        (100, 10, 1.0, 8, (8 * 160, 90)),
        (5, 3, 2.0, 4, (3 * 160, 2 * 90)),
        (1, 10, 8.0, 1, (160, 90)),
    ],
)
def test_make_storyboard_tile_count_follows_interval(
    clips: Path,
    tmp_path: Path,
    max_tiles: int,
    columns: int,
    interval: float,
    tiles: int,
    sprite_size: tuple[int, int],
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"  # 7.6 s
    info = probe(source)

    board = make_storyboard(
        source, tmp_path, info, max_tiles=max_tiles, columns=columns
    )

    assert (board.interval, board.tiles) == (interval, tiles)
    sprite = read_sprite(board.image)
    assert (sprite.width, sprite.height) == sprite_size
    cues = read_index(board.index)
    assert_cues_cover(cues, info.duration)
    assert [cue.start for cue in cues] == [
        round(tile * interval * 1000) for tile in range(tiles)
    ]
    assert [(cue.x // 160, cue.y // 90) for cue in cues] == [
        (tile % columns, tile // columns) for tile in range(tiles)
    ]


def test_make_storyboard_clip_under_a_second_gets_one_tile(
    clips: Path, tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    source = tmp_path / "short.mp4"
    bunny = str(clips / "bunny-animation.mp4")
    ffmpeg("-i", bunny, "-t", "0.5", "-c", "copy", str(source))
    info = probe(source)
    assert info.duration < 1.0

    board = make_storyboard(source, tmp_path, info)

    assert board.tiles == 1
    assert read_index(board.index) == [
        Cue(0, round(info.duration * 1000), "storyboard.jpg", 0, 0, 160, 90)
    ]
    sprite = read_sprite(board.image)
    assert (sprite.width, sprite.height) == (160, 90)


def test_make_storyboard_frames_ending_early_leave_blank_cells_unnamed(
    clips: Path, tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    # 1 s of video under 4 s of audio: the container says a little over 4 s, so
    # the grid has room for 5 thumbnails, but frames run out after the second.
    whole = str(clips / "cockatoo-720p-camera.mp4")
    source = tmp_path / "gap.mp4"
    ffmpeg(
        *("-t", "1", "-i", whole, "-t", "4", "-i", whole),
        *("-map", "0:v", "-map", "1:a", "-c", "copy", str(source)),
    )
    info = probe(source)

    board = make_storyboard(source, tmp_path, info)

    sprite = read_sprite(board.image)
    assert (sprite.width, sprite.height) == (5 * 160, 90)
    assert board.tiles == 2
    cues = read_index(board.index)
    assert [cue.rectangle for cue in cues] == [(0, 0, 160, 90), (160, 0, 160, 90)]
    assert_cues_cover(cues, info.duration)
    assert all(sprite.spread(*cue.rectangle) > 40 for cue in cues)
    assert all(sprite.spread(x, 0, 160, 90) < 10 for x in (320, 480, 640))


@pytest.mark.parametrize(
    ("tile_width", "tile_size"),
    [
        (160, (160, 90)),
        # 120 * 405 / 720 = 67.5, rounded to the nearest even height.
        (120, (120, 68)),
    ],
)
def test_make_storyboard_odd_height_gives_even_tiles(
    clips: Path, tmp_path: Path, tile_width: int, tile_size: tuple[int, int]
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"  # 720x405

    board = make_storyboard(source, tmp_path, probe(source), tile_width=tile_width)

    assert (board.tile_width, board.tile_height) == tile_size
    sprite = read_sprite(board.image)
    assert (sprite.width, sprite.height) == (8 * tile_size[0], tile_size[1])
    assert {(cue.width, cue.height) for cue in read_index(board.index)} == {tile_size}


def test_make_storyboard_anamorphic_source_gives_display_aspect(
    tmp_path: Path, ffmpeg: Callable[..., None]
) -> None:
    # Odd width and height and wide pixels, as on a DVD rip: shown 214.7x91, so a
    # 160 wide tile is 67.8 high, 68 as an even number. Square pixels would give 90.
    source = tmp_path / "anamorphic.mkv"
    lavfi = "-f lavfi -i testsrc2=size=161x91:rate=25:duration=2 -vf setsar=4/3"
    ffmpeg(*lavfi.split(), "-c:v", "ffv1", str(source))

    board = make_storyboard(source, tmp_path, probe(source))

    assert (board.tiles, board.tile_width, board.tile_height) == (2, 160, 68)
    sprite = read_sprite(board.image)
    assert (sprite.width, sprite.height) == (2 * 160, 68)


def test_make_storyboard_names_image_relatively_and_escaped(
    clips: Path, tmp_path: Path
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"

    board = make_storyboard(
        source, tmp_path, probe(source), image_name="towers #night.jpg"
    )

    assert (board.image.name, board.index.name) == (
        "towers #night.jpg",
        "towers #night.vtt",
    )
    assert {cue.image for cue in read_index(board.index)} == {"towers%20%23night.jpg"}


def test_make_storyboard_ffmpeg_failure_keeps_previous_storyboard(
    clips: Path, tmp_path: Path
) -> None:
    # Probed as a video, but what FFmpeg then finds is text.
    info = probe(clips / "city-405p-camera-mpeg2.mpg")
    source = tmp_path / "swapped.mpg"
    source.write_text("not a video any more\n")
    (tmp_path / "storyboard.jpg").write_bytes(b"previous sprite")
    (tmp_path / "storyboard.vtt").write_text("WEBVTT\n")

    with pytest.raises(MediaError) as caught:
        make_storyboard(source, tmp_path, info)

    assert caught.value.reason.startswith("Could not make a storyboard: ")
    assert sorted(os.listdir(tmp_path)) == [
        "storyboard.jpg",
        "storyboard.vtt",
        "swapped.mpg",
    ]
    assert (tmp_path / "storyboard.jpg").read_bytes() == b"previous sprite"
    assert (tmp_path / "storyboard.vtt").read_text() == "WEBVTT\n"


@pytest.mark.parametrize(
    "options",
    [
        {"image_name": "boards/storyboard.jpg"},
        {"image_name": "storyboard.vtt"},
        {"tile_width": 161},
        {"tile_width": 0},
        {"max_tiles": 0},
        {"columns": 0},
    ],
)
def test_make_storyboard_rejects_bad_layout(
    clips: Path, tmp_path: Path, options: dict[str, Any]
) -> None:
    source = clips / "city-405p-camera-mpeg2.mpg"

    with pytest.raises(ValueError):
        make_storyboard(source, tmp_path, probe(source), **options)

    assert os.listdir(tmp_path) == []
