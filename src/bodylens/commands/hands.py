"""`bodylens hands`: hand keypoints, the way `hub run openpose_hands_estimation` gives them."""

from __future__ import annotations

import argparse
import json
import sys


def _scales(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.replace(",", " ").split()]
    except ValueError:
        raise argparse.ArgumentTypeError("use numbers, e.g. --scale 0.5,1.0,1.5,2.0") from None
    if not values or any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("scales must be positive numbers")
    return values


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hands",
        help="hand keypoints in OpenPose order (PaddleHub openpose_hands_estimation)",
        description="Find hands and their 21 keypoints (OpenPose order, [0, 0] = missing). "
        "Prints all_hand_peaks like PaddleHub; writes the drawing only with --save_path.",
    )
    p.add_argument("--input_path", required=True, help="image file (JPEG, PNG or WebP)")
    p.add_argument(
        "--save_path",
        "--output_dir",
        dest="save_path",
        default=None,
        help="folder for the drawn image (<time>.png); nothing is written without it",
    )
    p.add_argument(
        "--scale",
        type=_scales,
        default=None,
        help="crop sizes searched around the wrists, relative to the arm (default 0.5,1,1.5,2)",
    )
    p.add_argument(
        "--no-visualization",
        dest="visualization",
        action="store_false",
        help="do not save the drawn image even if --save_path is given",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print the full result (side, confidence, world coordinates) as JSON",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bodylens.hands import DEFAULT_SCALES, detect_hands, draw_hands, hand_to_json
    from bodylens.io.images import read_image_file

    scales = args.scale or list(DEFAULT_SCALES)
    rgb = read_image_file(args.input_path)
    hands = detect_hands(rgb, scales)
    peaks = [hand.openpose_peaks() for hand in hands]
    saved: Path | None = None
    if args.visualization and args.save_path:
        from bodylens.hands import save_drawing

        saved = save_drawing(draw_hands(rgb[..., ::-1], peaks), args.save_path)
    if args.json:
        body = {
            "image": str(args.input_path),
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "hands": [hand_to_json(hand) for hand in hands],
            "all_hand_peaks": [p.tolist() for p in peaks],
        }
        if saved:
            body["saved"] = str(saved)
        print(json.dumps(body))
        return 0
    # stdout stays machine-readable (PaddleHub's all_hand_peaks); the summary goes to stderr.
    print(json.dumps({"all_hand_peaks": [p.tolist() for p in peaks]}))
    for hand in hands:
        missing = int((hand.confidence <= 0).sum())
        print(
            f"{hand.side} hand ({hand.side_source}), score {hand.score:.2f}, "
            f"{21 - missing}/21 points in the image",
            file=sys.stderr,
        )
    if not hands:
        print("no hands found", file=sys.stderr)
    if saved:
        print(f"drawing saved to {saved}", file=sys.stderr)
    return 0
