"""Body mesh export: glTF 2.0 binary (GLB) and Wavefront OBJ, written by hand (no extra deps).

Both files are Y-up metres (the glTF convention), the body facing +Z; Anny itself is Z-up.
"""

from __future__ import annotations

import io
import json
import struct
from dataclasses import dataclass

import numpy as np

_GLB_MAGIC = 0x46546C67  # b"glTF"
_CHUNK_JSON = 0x4E4F534A
_CHUNK_BIN = 0x004E4942


def _y_up(vertices: np.ndarray) -> np.ndarray:
    v = np.asarray(vertices, dtype=np.float32)
    return np.stack([v[:, 0], v[:, 2], -v[:, 1]], axis=1)


@dataclass
class BodyMesh:
    """A triangle mesh in Anny's frame: vertices (N, 3) float32 metres, Z up; faces (F, 3)."""

    vertices: np.ndarray
    faces: np.ndarray

    def to_glb(self) -> bytes:
        pos = np.ascontiguousarray(_y_up(self.vertices), dtype="<f4")
        idx = np.ascontiguousarray(self.faces, dtype="<u4").reshape(-1)
        pos_bytes, idx_bytes = pos.tobytes(), idx.tobytes()
        bin_chunk = pos_bytes + idx_bytes
        bin_chunk += b"\x00" * (-len(bin_chunk) % 4)
        gltf = {
            "asset": {"version": "2.0", "generator": "bodylens"},
            "scene": 0,
            "scenes": [{"nodes": [0]}],
            "nodes": [{"mesh": 0, "name": "body"}],
            "meshes": [{"primitives": [{"attributes": {"POSITION": 0}, "indices": 1, "mode": 4}]}],
            "buffers": [{"byteLength": len(bin_chunk)}],
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": len(pos_bytes), "target": 34962},
                {
                    "buffer": 0,
                    "byteOffset": len(pos_bytes),
                    "byteLength": len(idx_bytes),
                    "target": 34963,
                },
            ],
            "accessors": [
                {
                    "bufferView": 0,
                    "componentType": 5126,
                    "count": int(len(pos)),
                    "type": "VEC3",
                    "min": pos.min(axis=0).tolist(),
                    "max": pos.max(axis=0).tolist(),
                },
                {
                    "bufferView": 1,
                    "componentType": 5125,
                    "count": int(len(idx)),
                    "type": "SCALAR",
                },
            ],
        }
        json_chunk = json.dumps(gltf, separators=(",", ":")).encode()
        json_chunk += b" " * (-len(json_chunk) % 4)
        total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
        out = io.BytesIO()
        out.write(struct.pack("<III", _GLB_MAGIC, 2, total))
        out.write(struct.pack("<II", len(json_chunk), _CHUNK_JSON))
        out.write(json_chunk)
        out.write(struct.pack("<II", len(bin_chunk), _CHUNK_BIN))
        out.write(bin_chunk)
        return out.getvalue()

    def to_obj(self) -> str:
        v = _y_up(self.vertices)
        lines = ["# bodylens body mesh (metres, Y up)"]
        lines += [f"v {x:.5f} {y:.5f} {z:.5f}" for x, y, z in v]
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in np.asarray(self.faces)]
        return "\n".join(lines) + "\n"
