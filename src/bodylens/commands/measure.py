"""`bodylens measure`: body measurements from a photo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "measure",
        help="body measurements (cm) from a full-body front photo",
        description="Fit the Anny body model to a front photo and print ISO 8559-1 "
        "measurements in cm. Give --height-cm: it fixes the scale; without it, a reference "
        "object in the photo can (--reference card, or --reference checkerboard --square-mm).",
    )
    p.add_argument("photo", help="front photo (JPEG, PNG or WebP), whole body visible")
    p.add_argument("--side", metavar="PHOTO", help="optional side photo")
    p.add_argument("--height-cm", type=float, help="the person's height in cm (recommended)")
    p.add_argument(
        "--reference",
        choices=["card", "checkerboard", "auto"],
        help="scale from an object held against or beside the person: an ID-1 card "
        "(85.60 x 53.98 mm) or a printed checkerboard (needs --square-mm)",
    )
    p.add_argument(
        "--square-mm", type=float, help="checkerboard square size in mm (implies a checkerboard)"
    )
    p.add_argument(
        "--pattern",
        metavar="COLSxROWS",
        help="checkerboard inner corners, e.g. 9x6 (default: try common boards)",
    )
    p.add_argument(
        "--fit-under-clothing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run the clothing parser and fit the body under skirts, dresses and bags "
        "instead of matching their outline (default: only under a large bag that the person "
        "mask took in; --no-fit-under-clothing: never)",
    )
    p.add_argument("--weight-kg", type=float, help="the person's weight in kg")
    p.add_argument("--sex", choices=["male", "female"], help="the person's sex")
    p.add_argument(
        "--measures",
        help="comma-separated names (English or French, e.g. chest,waist,hips or "
        "tour_poitrine,taille,hanche); default: all",
    )
    p.add_argument("--mesh", metavar="FILE", help="write the fitted body to FILE (.glb or .obj)")
    p.add_argument("--json", action="store_true", help="print the detailed result as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from bodylens.body.api import measure
    from bodylens.errors import InputError

    mesh_path = Path(args.mesh) if args.mesh else None
    if mesh_path is not None and mesh_path.suffix.lower() not in (".glb", ".obj"):
        raise InputError("--mesh must end in .glb or .obj")
    measures = [m.strip() for m in args.measures.split(",") if m.strip()] if args.measures else None
    err = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=args.json or not err.is_terminal,
    ) as bar:
        task = bar.add_task("starting", total=1.0)
        result = measure(
            args.photo,
            height_cm=args.height_cm,
            weight_kg=args.weight_kg,
            sex=args.sex,
            side_image=args.side,
            measures=measures,
            with_mesh=mesh_path is not None,
            reference=args.reference,
            reference_square_mm=args.square_mm,
            reference_pattern=args.pattern,
            fit_under_clothing=args.fit_under_clothing,
            progress=lambda f, m: bar.update(task, completed=f, description=m),
        )
    if mesh_path is not None and result.mesh is not None:
        if mesh_path.suffix.lower() == ".glb":
            mesh_path.write_bytes(result.mesh.to_glb())
        else:
            mesh_path.write_text(result.mesh.to_obj())
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    out = Console()
    table = Table(title=f"Body measurements ({result.scale_source} scale)")
    table.add_column("measure")
    table.add_column("value (cm)", justify="right")
    table.add_column("± (cm)", justify="right")
    table.add_column("ISO 8559-1 term", style="dim")
    for d in result.details:
        name = d.requested if d.requested == d.name else f"{d.requested} ({d.name})"
        table.add_row(name, f"{d.value_cm:.1f}", f"{d.uncertainty_cm:.1f}", d.iso)
    out.print(table)
    for w in result.warnings:
        out.print(f"[yellow]warning:[/yellow] {w}")
    if mesh_path is not None:
        out.print(f"mesh written to {mesh_path}")
    out.print(f"[dim]{result.timings.get('total', 0.0):.1f} s[/dim]")
    return 0
