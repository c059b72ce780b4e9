"""The demo's sample media and its City database.

``make_samples(dest)`` makes the podcast's episodes and a video lesson (mp4 and HLS
with captions) with ffmpeg when it is on PATH, or valid synthetic stand-ins when it is
not (``Samples.skipped`` then says what is missing). A set is kept in ``dest`` under
a name derived from its recipe and the tools' versions, so a second run with the same
``--data`` directory reuses it at once. ``geo_database(dest)`` writes a MaxMind-format
City database placing one sample address in each default region's city.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from castedge.samples import encode, synthetic
from castedge.samples.layout import (
    EPISODES,
    LESSON_DIR,
    LESSON_MP4,
    LESSON_PLAYLIST,
    LESSON_SECONDS,
    Episode,
)
from castedge.samples.places import CITIES, City, geo_database

__all__ = [
    "CITIES",
    "EPISODES",
    "LESSON_DIR",
    "LESSON_MP4",
    "LESSON_PLAYLIST",
    "LESSON_SECONDS",
    "City",
    "Episode",
    "Sample",
    "Samples",
    "geo_database",
    "make_samples",
]

#: Bumped whenever what the generators write changes, so old cached sets are not reused.
RECIPE = 1
_MANIFEST = "samples.json"


class Sample(NamedTuple):
    """One file to upload: its bucket key, where it is on disk, its Content-Type."""

    key: str
    path: Path
    content_type: str


@dataclass(frozen=True)
class Samples:
    """A set of sample files, ready to upload (iterate it for ``Sample``s)."""

    files: tuple[Sample, ...]
    #: The episodes' keys, in order.
    episodes: tuple[str, ...]
    #: The lesson's master playlist key (what a player is sent to).
    lesson: str
    #: The lesson's mp4 key, None when it could not be made.
    video: str | None
    #: One line saying what was left out and why, None when everything is real.
    skipped: str | None

    def __iter__(self) -> Iterator[Sample]:
        return iter(self.files)

    def path(self, key: str) -> Path:
        """The file holding ``key``; KeyError if the set has none."""
        for sample in self.files:
            if sample.key == key:
                return sample.path
        raise KeyError(key)


def _tools() -> tuple[str, str] | None:
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    return (ffmpeg, ffprobe) if ffmpeg and ffprobe else None


def make_samples(dest: Path) -> Samples:
    """The sample set in ``dest``, made now unless an identical one is already there.

    Without ffmpeg and ffprobe on PATH, or when they fail, the set is the synthetic
    one and ``skipped`` says why.
    """
    dest.mkdir(parents=True, exist_ok=True)
    tools = _tools()
    if tools is None:
        return _made(dest, None, f"no ffmpeg on PATH: {_SYNTHETIC}")
    try:
        return _made(dest, tools, None)
    except encode.FFmpegFailed as exc:
        return _made(dest, None, f"ffmpeg failed ({exc}): {_SYNTHETIC}")


#: What the synthetic set lacks, for ``Samples.skipped``.
_SYNTHETIC = (
    "the episodes are silent synthetic MP3s, the lesson's HLS segments hold no picture"
    " (MPEG-TS null packets) and there is no lesson mp4; install ffmpeg (Debian package"
    " 'ffmpeg') for real media"
)


def _made(dest: Path, tools: tuple[str, str] | None, skipped: str | None) -> Samples:
    recipe: dict[str, object] = {"recipe": RECIPE, "episodes": [list(e) for e in EPISODES]}
    if tools is not None:
        recipe["tools"] = encode.tool_versions(*tools)
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
    root = dest / f"samples-{'media' if tools else 'synthetic'}-{digest}"
    if not (root / _MANIFEST).is_file():
        # A folder without its manifest was damaged by hand: make it again.
        shutil.rmtree(root, ignore_errors=True)
        _build(root, tools)
    listed = json.loads((root / _MANIFEST).read_text())
    files = tuple(Sample(key, root / key, content_type) for key, content_type in listed)
    keys = {sample.key for sample in files}
    return Samples(
        files=files,
        episodes=tuple(e.key for e in EPISODES),
        lesson=LESSON_PLAYLIST,
        video=LESSON_MP4 if LESSON_MP4 in keys else None,
        skipped=skipped,
    )


def _build(root: Path, tools: tuple[str, str] | None) -> None:
    """Make a set in a scratch folder beside ``root`` and rename it into place.

    A run stopped halfway leaves only a scratch folder, never a ``root`` that looks
    complete; a set finished meanwhile by another run is kept, and ours dropped.
    """
    scratch = Path(tempfile.mkdtemp(dir=root.parent, prefix=f".{root.name}."))
    try:
        if tools is not None:
            files = encode.encode_samples(*tools, scratch)
        else:
            files = synthetic.write_samples(scratch)
        (scratch / _MANIFEST).write_text(json.dumps(files, indent=1) + "\n")
        try:
            os.rename(scratch, root)
        except OSError:
            if not (root / _MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
