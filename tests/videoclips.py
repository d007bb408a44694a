"""Short test clips made on the fly: a 1 s cut of the shared walking video, and a clip with
nobody in it (the walking video may not be copied into the repo, so it is trimmed at test time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.conftest import shared_path


def write_clip(path: Path, frames: list[np.ndarray], fps: int = 30, rotation: int = 0) -> Path:
    """Encode RGB frames as H.264 MP4 (what phones and platforms send); ``rotation`` stores
    the display matrix a phone writes (degrees counter-clockwise to show the frames upright)."""
    import av

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "18"}
        if rotation:
            stream.set_display_rotation(rotation)
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def walking_path() -> Path:
    return shared_path("data", "video", "walking.mp4")


def walking_cut(path: Path, start: int = 60, count: int = 30) -> Path:
    """Frames [start, start + count) of walking.mp4 (1280x720, 30 fps) as a new MP4."""
    from bodylens.io.video import iter_frames

    frames = [f for i, f in enumerate(iter_frames(walking_path())) if start <= i < start + count]
    return write_clip(path, frames)


def empty_clip(path: Path, count: int = 12) -> Path:
    """A moving colour gradient with no person in it."""
    y, x = np.mgrid[0:240, 0:320]
    frames = [
        np.dstack([(x + 8 * i) % 256, (y * 2) % 256, np.full_like(x, 90)]).astype(np.uint8)
        for i in range(count)
    ]
    return write_clip(path, frames)
