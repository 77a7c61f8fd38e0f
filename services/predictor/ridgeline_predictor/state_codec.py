"""Snapshot encoding: a JSON header and raw numpy buffers, zlib-compressed.

Arrays are stored as their exact bytes (no text round trip), so a restored state is bit-identical;
the encoding itself is deterministic (sorted keys, fixed order), so equal states give equal bytes.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

MAGIC = b"RLP1"


def pack(meta: dict[str, Any], arrays: dict[str, np.ndarray[Any, Any]]) -> bytes:
    entries = []
    chunks = []
    offset = 0
    for name in sorted(arrays):
        arr = np.ascontiguousarray(arrays[name])
        raw = arr.tobytes()
        entries.append({"name": name, "dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset})
        chunks.append(raw)
        offset += len(raw)
    header = json.dumps({"meta": meta, "arrays": entries}, sort_keys=True, separators=(",", ":")).encode()
    body = struct.pack("<Q", len(header)) + header + b"".join(chunks)
    return MAGIC + zlib.compress(body, 6)


def unpack(data: bytes) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    if not data.startswith(MAGIC):
        raise ValueError("not a predictor snapshot (bad magic)")
    body = zlib.decompress(data[len(MAGIC) :])
    (length,) = struct.unpack("<Q", body[:8])
    header = json.loads(body[8 : 8 + length])
    base = 8 + length
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for entry in header["arrays"]:
        dtype = np.dtype(entry["dtype"])
        count = int(np.prod(entry["shape"], dtype=np.int64))
        start = base + entry["offset"]
        arr = np.frombuffer(body, dtype=dtype, count=count, offset=start)
        arrays[entry["name"]] = arr.reshape(entry["shape"]).copy()
    return header["meta"], arrays
