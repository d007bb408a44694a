"""`bodylens video-pose`, `bodylens matte` and `bodylens compare`: the video commands."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "video-pose",
        help="per-frame 3D pose of a video (trainer_poses.json + .npz, optional Anny mesh)",
    )
    p.add_argument("video", help="input video file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--skip", type=int, default=1, help="analyse every N-th frame (default 1)")
    p.add_argument("--mesh", action="store_true", help="also fit an Anny body per frame (NPZ)")
    p.add_argument("--no-smooth", action="store_true", help="keep the raw landmarks")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_pose)

    p = sub.add_parser("matte", help="remove the background: VP9 WebM with alpha")
    p.add_argument("video", help="input video file")
    p.add_argument("--out", required=True, help="output .webm")
    p.add_argument(
        "--color", choices=["studio", "v11"], default="studio",
        help="studio: colours as shot; v11: the platform's V11 grade",
    )  # fmt: skip
    p.add_argument("--png-dir", help="also write RGBA PNG frames to this folder")
    p.add_argument("--size", help="output WIDTHxHEIGHT (default: the input's)")
    p.add_argument("--crf", type=int, default=30, help="VP9 quality, lower is better (30)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_matte)

    p = sub.add_parser("compare", help="score a user's movement against a trainer's")
    p.add_argument("trainer", help="trainer_poses.json (from video-pose)")
    p.add_argument("user", help="the user's poses JSON or video")
    p.add_argument(
        "--mirror", choices=["auto", "on", "off"], default="auto",
        help="auto: also try the user mirrored (copying a screen) and keep the better",
    )  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.set_defaults(func=run_compare)


@contextmanager
def _bar(desc: str, quiet: bool):
    """A tqdm bar driven by the library's progress(fraction, message) callbacks."""
    if quiet:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=100, desc=desc, unit="%", file=sys.stderr, leave=False) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message, refresh=False)
            bar.update(max(0, int(fraction * 100) - bar.n))

        yield progress


def run_pose(args: argparse.Namespace) -> int:
    from bodylens.video.pose import track_video, write_outputs

    with _bar("video-pose", args.quiet) as progress:
        pose = track_video(args.video, skip=args.skip, smooth=not args.no_smooth, progress=progress)
    with _bar("mesh", args.quiet or not args.mesh) as progress:
        paths = write_outputs(pose, args.out, mesh=args.mesh, progress=progress)
    s = pose.stats
    print(f"{s['frames_with_person']}/{s['frames_analysed']} frames with a person")
    print(f"jitter {s['jitter_raw_m'] * 1000:.1f} -> {s['jitter_smoothed_m'] * 1000:.1f} mm/frame²")
    for path in paths.values():
        print(path)
    return 0


def run_matte(args: argparse.Namespace) -> int:
    from bodylens.errors import InputError
    from bodylens.video.matte import matte_video

    size = None
    if args.size:
        try:
            w, h = (int(v) for v in args.size.lower().split("x"))
        except ValueError:
            raise InputError("--size must look like 602x722") from None
        size = (w, h)
    with _bar("matte", args.quiet) as progress:
        result = matte_video(
            args.video, args.out, color=args.color, png_dir=args.png_dir, size=size,
            crf=args.crf, progress=progress,
        )  # fmt: skip
    print(f"{result.frames} frames {result.width}x{result.height} -> {result.path}")
    if result.png_dir:
        print(f"PNG frames in {result.png_dir}")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from bodylens.video.compare import compare_poses, load_or_track, summary_lines

    trainer = load_or_track(args.trainer)
    with _bar("tracking the user", args.json or args.user.lower().endswith(".json")) as progress:
        user = load_or_track(args.user, progress=progress)
    result = compare_poses(trainer, user, mirror=args.mirror)
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(summary_lines(result)))
    return 0
