"""`bodylens segment`: clothing masks for one photo or a folder of photos.

Each photo gets ``<stem>_labels.png`` (one byte per pixel: the index of its class, in the order
of ``classes`` in ``summary.json``) and, with ``--overlay``, ``<stem>_overlay.png`` with a
colour legend. A photo that fails is reported and skipped; the batch goes on. Exit status 1
when any photo failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("segment", help="clothing masks (18 classes) for photos")
    p.add_argument("path", type=Path, help="an image file or a folder of images")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--overlay", action="store_true", help="also write overlay PNGs with legend")
    p.add_argument("--workers", type=int, default=1, help="photos processed in parallel")
    p.add_argument(
        "--backend",
        choices=["parser", "segformer", "hf"],
        default="parser",
        help="parser (built in), segformer (--model-dir) or hf (remote API)",
    )
    p.add_argument("--model-dir", type=Path, help="SegFormer checkpoint folder")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads per photo (default 1: on a busy machine more threads spin-wait; "
        "use --workers to parallelise)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def list_images(path: Path) -> list[Path]:
    from bodylens.errors import InputError

    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(
            p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
    raise InputError(f"no such file or folder: {path}")


def _out_stems(files: list[Path]) -> dict[Path, str]:
    """Output name stems; photos sharing a stem (a.jpg, a.png) keep their extension."""
    seen: dict[str, int] = {}
    for f in files:
        seen[f.stem] = seen.get(f.stem, 0) + 1
    return {f: f.stem if seen[f.stem] == 1 else f"{f.stem}_{f.suffix[1:]}" for f in files}


def run(args: argparse.Namespace) -> int:
    from bodylens.errors import BodylensError, InputError
    from bodylens.io.images import encode_png, read_image_file
    from bodylens.parse.api import get_backend

    files = list_images(args.path)
    if not files:
        raise InputError(f"no .jpg/.png/.webp images in {args.path}")
    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    _set_threads(args.threads)
    backend = get_backend(args.backend, model_dir=args.model_dir)
    stems = _out_stems(files)

    def one(path: Path) -> dict:
        rgb = read_image_file(path)
        result = backend(rgb)
        stem = stems[path]
        (args.out / f"{stem}_labels.png").write_bytes(encode_png(result.labels))
        if args.overlay:
            (args.out / f"{stem}_overlay.png").write_bytes(encode_png(result.overlay(rgb)))
        return {
            "file": str(path),
            "classes_present": result.fractions(),
            "_classes": result.classes,
        }

    done: list[dict] = []
    failed: list[dict] = []
    classes = None
    start = time.perf_counter()
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(files), unit="img", desc="segment", file=sys.stderr)
    with ThreadPoolExecutor(max_workers=args.workers) as pool:
        futures = {pool.submit(one, f): f for f in files}
        for fut in as_completed(futures):
            path = futures[fut]
            try:
                item = fut.result()
                classes = item.pop("_classes")
                done.append(item)
            except BodylensError as exc:
                failed.append({"file": str(path), "error": exc.message})
                _report_failure(bar, path, exc.message)
            except Exception as exc:  # one bad photo must not stop the batch
                failed.append({"file": str(path), "error": f"{type(exc).__name__}: {exc}"})
                _report_failure(bar, path, f"{type(exc).__name__}: {exc}")
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    elapsed = time.perf_counter() - start
    summary = {
        "done": len(done),
        "failed": len(failed),
        "seconds": round(elapsed, 2),
        "images_per_second": round(len(done) / elapsed, 3) if elapsed > 0 else None,
        "backend": args.backend,
        "classes": classes,
        "images": sorted(done, key=lambda d: d["file"]),
        "errors": sorted(failed, key=lambda d: d["file"]),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(
        f"segmented {len(done)} of {len(files)} images, {len(failed)} failed, "
        f"{summary['images_per_second']} images/s -> {args.out}"
    )
    return 1 if failed else 0


def _set_threads(threads: int | None) -> None:
    if threads:
        import torch

        torch.set_num_threads(threads)


def _report_failure(bar, path: Path, message: str) -> None:
    line = f"failed: {path.name}: {message}"
    if bar is not None:
        bar.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr)
