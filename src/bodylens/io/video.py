"""Video in and out with PyAV: decode any container FFmpeg knows, write VP9 WebM with alpha.

Decoding uses FFmpeg's frame threads, so on a 2-core machine decode overlaps inference. The
WebM writer encodes ``yuva420p`` with libvpx-vp9 (alpha travels as a second VP9 stream in the
Matroska BlockAdditional); FFmpeg's native VP9 decoder silently drops that alpha, so
``read_webm_alpha`` decodes with the ``libvpx-vp9`` decoder explicitly.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from bodylens.errors import InputError, UnsupportedMedia


@dataclass
class VideoInfo:
    """What a platform needs to know about a clip before processing it."""

    fps: float
    width: int
    height: int
    total_frames: int  # container estimate; 0 when the container does not say
    rate: Fraction
    rotation: int = 0  # display rotation (degrees counter-clockwise) applied to the frames


def _open(path: str | Path):
    import av

    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such video file: {path}")
    try:
        container = av.open(str(path))
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise UnsupportedMedia(f"the file is not a video FFmpeg can read: {exc}") from None
    if not container.streams.video:
        container.close()
        raise UnsupportedMedia("the file has no video stream")
    return container


def probe(path: str | Path) -> VideoInfo:
    """Frame rate, display size and frame count of a video file (decodes one frame to read
    the display rotation phones record, so width/height are as the video is shown)."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        info = _info(stream)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise UnsupportedMedia(f"the video could not be decoded: {exc}") from None
        if first is None:
            raise UnsupportedMedia("the video has no frames")
        info.rotation = _quarter_turns(first) * 90
        if info.rotation % 180:
            info.width, info.height = info.height, info.width
        return info
    finally:
        container.close()


def _quarter_turns(frame) -> int:
    """Counter-clockwise quarter turns that display the frame upright (display matrix)."""
    return round((frame.rotation or 0) / 90) % 4


def _info(stream) -> VideoInfo:
    rate = stream.average_rate or stream.guessed_rate or Fraction(30)
    total = stream.frames
    if not total and stream.duration and stream.time_base:
        total = int(round(float(stream.duration * stream.time_base) * float(rate)))
    return VideoInfo(float(rate), stream.width, stream.height, int(total or 0), Fraction(rate))


def iter_frames(
    path: str | Path,
    *,
    size: tuple[int, int] | None = None,
    fmt: str = "rgb24",
    prefetch: int = 0,
    every: int = 1,
) -> Iterator[np.ndarray]:
    """Yield frames as uint8 arrays (RGB by default), optionally resized to ``size=(w, h)``.

    Scaling happens in FFmpeg's swscale while converting colour, which is cheaper than
    resizing a full-size RGB array afterwards. ``every=N`` yields frames 0, N, 2N, ... (the
    others are decoded, as inter-frame codecs need, but not converted). ``prefetch > 0``
    decodes up to that many frames ahead in a background thread (FFmpeg releases the GIL),
    overlapping decode and inference.
    """
    frames = _decode(path, size, fmt, every)
    if prefetch <= 0:
        yield from frames
        return
    yield from _prefetched(frames, prefetch)


def _decode(
    path: str | Path, size: tuple[int, int] | None, fmt: str, every: int = 1
) -> Iterator[np.ndarray]:
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index % every:
                    continue
                turns = _quarter_turns(frame)
                width, height = size if size else (None, None)
                if size and turns % 2:  # size is the displayed one; decode before turning
                    width, height = height, width
                array = frame.to_ndarray(format=fmt, width=width, height=height)
                yield np.ascontiguousarray(np.rot90(array, turns)) if turns else array
        except av.error.FFmpegError as exc:
            raise UnsupportedMedia(f"the video could not be decoded: {exc}") from None
    finally:
        container.close()


_END = object()


def _prefetched(frames: Iterator[np.ndarray], depth: int) -> Iterator[np.ndarray]:
    """Run a frame iterator in a thread; its exceptions re-raise in the consumer."""
    items: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for frame in frames:
                if stop.is_set():
                    break
                items.put(frame)
        except BaseException as exc:
            items.put(exc)
        finally:
            frames.close()
            items.put(_END)

    thread = threading.Thread(target=produce, name="bodylens-decode", daemon=True)
    thread.start()
    try:
        while (item := items.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                items.get(timeout=0.1)
        thread.join()


class WebMAlphaWriter:
    """Write RGBA frames as a VP9 WebM with alpha (``yuva420p``).

    ``realtime`` with a high ``cpu-used`` and row multithreading is what makes matting+encoding
    run faster than real time on two cores; ``crf`` keeps quality constant (lower is better).
    """

    def __init__(
        self,
        path: str | Path,
        width: int,
        height: int,
        fps: float | Fraction,
        *,
        crf: int = 30,
        cpu_used: int = 8,
        threads: int = 2,
    ) -> None:
        import av

        if width % 2 or height % 2:
            raise InputError(f"VP9 yuva420p needs even frame sizes, got {width}x{height}")
        self.path = Path(path)
        self._container = av.open(str(self.path), "w", format="webm")
        rate = Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps
        self._stream = self._container.add_stream("libvpx-vp9", rate=rate)
        self._stream.width = width
        self._stream.height = height
        self._stream.pix_fmt = "yuva420p"
        self._stream.thread_count = threads
        self._stream.options = {
            "deadline": "realtime",
            "cpu-used": str(cpu_used),
            "row-mt": "1",
            "crf": str(crf),
            "b": "0",
            "lag-in-frames": "0",
            "auto-alt-ref": "0",
        }
        self.frames = 0

    def write(self, rgba: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgba), format="rgba")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = None

    def __enter__(self) -> WebMAlphaWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_webm_alpha(path: str | Path) -> Iterator[np.ndarray]:
    """Yield RGBA frames of a VP9 WebM, alpha included, using the libvpx-vp9 decoder."""
    import av

    container = _open(path)
    try:
        stream = container.streams.video[0]
        decoder = av.CodecContext.create("libvpx-vp9", "r")
        for packet in container.demux(stream):
            for frame in decoder.decode(packet):
                if frame.format.name != "yuva420p":
                    raise UnsupportedMedia("the WebM has no alpha channel")
                yield frame.to_ndarray(format="rgba")
    finally:
        container.close()
