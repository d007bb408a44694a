"""The measurement table: names, aliases (English and French), unknown names, mesh export."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

from bodylens.body.measurements import (
    BY_NAME,
    TABLE,
    accepted_names,
    canonical_names,
    normalize_name,
    resolve_measures,
)
from bodylens.body.mesh import BodyMesh
from bodylens.errors import InputError


def test_issue_example_names_resolve():
    assert resolve_measures(["tour_poitrine", "taille", "hanche", "longueur_bras"]) == [
        "chest_girth",
        "waist_girth",
        "hip_girth",
        "arm_length",
    ]


@pytest.mark.parametrize(
    ("name", "canonical"),
    [
        ("chest", "chest_girth"),
        ("Bust", "chest_girth"),
        ("waist", "waist_girth"),
        ("hips", "hip_girth"),
        ("hip", "hip_girth"),
        ("Tour de Hanches", "hip_girth"),
        ("tour-taille", "waist_girth"),
        ("TOUR_COU", "neck_girth"),
        ("largeur_épaules", "shoulder_width"),
        ("entrejambe", "inside_leg"),
        ("inseam", "inside_leg"),
        ("tour_cuisse", "thigh_girth"),
        ("tour_bras", "upper_arm_girth"),
        ("tour_poignet", "wrist_girth"),
        ("tour_genou", "knee_girth"),
        ("tour_mollet", "calf_girth"),
        ("tour_cheville", "ankle_girth"),
        ("hauteur", "height"),
        ("stature", "height"),
        ("underbust", "underbust_girth"),
        (" shoulder width ", "shoulder_width"),
        ("tour_de_ventre", "stomach_girth"),
        ("abdomen", "stomach_girth"),
        ("longueur_taille_dos", "back_neck_to_waist"),
        ("nape_to_waist", "back_neck_to_waist"),
        ("outseam", "outside_leg"),
        ("longueur_extérieure_jambe", "outside_leg"),
        ("rise", "crotch_length"),
        ("enfourchure", "crotch_length"),
    ],
)
def test_aliases(name: str, canonical: str):
    assert resolve_measures([name]) == [canonical]


def test_unknown_names_list_accepted_ones():
    with pytest.raises(InputError) as err:
        resolve_measures(["chest", "tour_de_nez", "elbow_span"])
    exc = err.value
    assert exc.status == 400
    assert "tour_de_nez" in exc.message and "elbow_span" in exc.message
    assert "chest" not in exc.message.split(":", 1)[1]
    accepted = exc.to_json()["accepted"]
    assert accepted == sorted(accepted)
    assert {"tour_poitrine", "taille", "hanche", "longueur_bras", "chest_girth"} <= set(accepted)


def test_table_is_complete_and_unambiguous():
    names = canonical_names()
    assert len(names) == len(set(names)) >= 15
    for m in TABLE:
        assert m.iso.startswith("ISO 8559-1") and m.method and m.description
        assert m.kind in {"girth", "length", "height", "width"}
        assert m.sigma_cm > 0
    # every alias maps to exactly one measurement (the module refuses duplicates on import)
    keys = [normalize_name(a) for m in TABLE for a in (m.name, *m.aliases)]
    assert len(keys) == len(set(keys)) == len(accepted_names())
    assert BY_NAME["waist_girth"].aliases[:1] == ("waist",)


def test_normalize_name():
    assert normalize_name("  Tour-de  Hanches ") == "tour_de_hanches"
    assert normalize_name("Largeur d'épaules") == "largeur_d_epaules"


def _tetra() -> BodyMesh:
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32)
    f = np.array([[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]], dtype=np.int32)
    return BodyMesh(v, f)


def test_glb_export_is_valid():
    data = _tetra().to_glb()
    magic, version, length = struct.unpack_from("<III", data, 0)
    assert data[:4] == b"glTF" and magic == 0x46546C67 and version == 2
    assert length == len(data) and length % 4 == 0
    json_len, json_type = struct.unpack_from("<II", data, 12)
    assert json_type == 0x4E4F534A
    gltf = json.loads(data[20 : 20 + json_len])
    assert gltf["asset"]["version"] == "2.0"
    pos, idx = gltf["accessors"]
    assert pos["count"] == 4 and pos["type"] == "VEC3" and idx["count"] == 12
    bin_len, bin_type = struct.unpack_from("<II", data, 20 + json_len)
    assert bin_type == 0x004E4942 and bin_len == gltf["buffers"][0]["byteLength"]
    positions = np.frombuffer(data, "<f4", count=12, offset=28 + json_len).reshape(4, 3)
    # Y-up conversion: Anny's Z becomes glTF's Y
    assert np.allclose(positions[3], [0, 1, 0])


def test_obj_export_counts():
    text = _tetra().to_obj()
    lines = text.splitlines()
    assert sum(line.startswith("v ") for line in lines) == 4
    faces = [line for line in lines if line.startswith("f ")]
    assert len(faces) == 4 and faces[0] == "f 1 3 2"


def test_issue6_measurement_set_is_complete():
    """Issue 6's list, each defined once: stomach, back neck to waist, outside leg and crotch
    length beside the girths and lengths the table started with."""
    wanted = {
        "height", "neck_girth", "chest_girth", "underbust_girth", "waist_girth", "hip_girth",
        "stomach_girth", "shoulder_width", "back_neck_to_waist", "arm_length",
        "upper_arm_girth", "wrist_girth", "inside_leg", "outside_leg", "crotch_length",
        "thigh_girth", "knee_girth", "calf_girth", "ankle_girth",
    }  # fmt: skip
    assert wanted <= set(canonical_names())


def test_outline_length_bridges_hollows():
    from bodylens.body.geometry import outline_length

    # A profile with a notch: the tape spans it, so the length is the straight 0 -> 2 span.
    notch = np.array([[0.0, 1.0], [0.9, 1.0], [1.0, 0.5], [1.1, 1.0], [2.0, 1.0]])
    assert outline_length(notch) == pytest.approx(2.0)
    # A bump is followed: up and over.
    bump = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]])
    assert outline_length(bump) == pytest.approx(2 * np.sqrt(2))
