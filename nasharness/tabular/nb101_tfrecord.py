"""Read the official NAS-Bench-101 ``.tfrecord`` files without TensorFlow.

Framing (TFRecord): ``uint64 length | uint32 masked-crc32c(length) | data | uint32 masked-crc32c(data)``, little endian.
Each record's data is a JSON list ``[module_hash, epochs, raw_adjacency, raw_operations, raw_metrics]``: the adjacency
as a row-major string of 0/1 digits, the ops comma-separated, and ``raw_metrics`` a base64 ``ModelMetrics`` protobuf
(``nasbench/lib/model_metrics.proto``): ``repeated EvaluationData evaluation_data = 1; int32 trainable_parameters = 2;
double total_time = 3``, where ``EvaluationData`` holds doubles ``current_epoch = 1, training_time = 2,
train_accuracy = 3, validation_accuracy = 4, test_accuracy = 5`` and ``string checkpoint_path = 6``. As in the
official API, ``evaluation_data[1]`` is the half-way point and ``evaluation_data[2]`` the end of training.

The writer here exists for tests and fixtures: it produces files in exactly the official framing.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError

# ---- CRC32C (Castagnoli), masked as TFRecord does -------------------------------------------------------------
_POLY = 0x82F63B78
_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ _POLY if _c & 1 else _c >> 1
    _TABLE.append(_c)

try:  # a C implementation when the optional package is installed
    import crc32c as _crc32c_mod  # type: ignore

    def crc32c(data: bytes) -> int:
        return _crc32c_mod.crc32c(data)

    FAST_CRC = True
except ImportError:  # pragma: no cover - depends on the environment

    def crc32c(data: bytes) -> int:
        crc = 0xFFFFFFFF
        for b in data:
            crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFF

    FAST_CRC = False


def masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


# ---- minimal protobuf wire-format decoding ----------------------------------------------------------------------
def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, object]]:
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            if pos + 8 > len(buf):
                raise ValueError("truncated fixed64")
            value = struct.unpack_from("<d", buf, pos)[0]
            pos += 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("truncated length-delimited field")
            value = buf[pos:pos + n]
            pos += n
        elif wire == 5:
            value = struct.unpack_from("<f", buf, pos)[0]
            pos += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
        yield field, wire, value


_EVAL_FIELDS = {1: "current_epoch", 2: "training_time", 3: "train_accuracy", 4: "validation_accuracy",
                5: "test_accuracy"}


def decode_model_metrics(buf: bytes) -> dict:
    out: dict = {"evaluation_data": [], "trainable_parameters": None, "total_time": None}
    for field, wire, value in _fields(buf):
        if field == 1 and wire == 2:
            ev = {}
            for f, w, v in _fields(value):  # type: ignore[arg-type]
                if f in _EVAL_FIELDS and w == 1:
                    ev[_EVAL_FIELDS[f]] = v
            out["evaluation_data"].append(ev)
        elif field == 2 and wire == 0:
            out["trainable_parameters"] = value
        elif field == 3 and wire == 1:
            out["total_time"] = value
    return out


def encode_model_metrics(evaluations: list[dict], trainable_parameters: int, total_time: float = 0.0) -> bytes:
    def tag(field: int, wire: int) -> bytes:
        return _enc_varint((field << 3) | wire)

    out = b""
    for ev in evaluations:
        body = b"".join(
            tag(f, 1) + struct.pack("<d", float(ev[name])) for f, name in _EVAL_FIELDS.items() if name in ev
        )
        out += tag(1, 2) + _enc_varint(len(body)) + body
    out += tag(2, 0) + _enc_varint(int(trainable_parameters))
    out += tag(3, 1) + struct.pack("<d", float(total_time))
    return out


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


# ---- records ---------------------------------------------------------------------------------------------------
@dataclass
class Record:
    module_hash: str
    epochs: int
    adjacency: str
    operations: str
    trainable_parameters: int
    halfway: dict
    final: dict


def iter_raw_records(path: str | Path, *, verify_data_crc: bool | None = None) -> Iterator[bytes]:
    """Yield the data of every TFRecord in ``path``; framing errors are DataErrors with the byte offset."""
    verify = FAST_CRC if verify_data_crc is None else verify_data_crc
    path = Path(path)
    with open(path, "rb") as f:
        offset = 0
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise _framing(path, offset, "truncated record header")
            length, len_crc = struct.unpack("<QI", header)
            if masked_crc(header[:8]) != len_crc:
                raise _framing(path, offset, "length checksum mismatch (not a TFRecord file, or corrupt)")
            data = f.read(length)
            footer = f.read(4)
            if len(data) < length or len(footer) < 4:
                raise _framing(path, offset, "truncated record data")
            if verify and masked_crc(data) != struct.unpack("<I", footer)[0]:
                raise _framing(path, offset, "data checksum mismatch")
            offset += 12 + length + 4
            yield data


def _framing(path: Path, offset: int, why: str) -> DataError:
    return DataError(
        f"{str(path)!r} is not a readable NAS-Bench-101 TFRecord file: {why} at byte {offset}. Use the official "
        f"nasbench_only108.tfrecord or nasbench_full.tfrecord, re-downloaded if it is truncated."
    )


def parse_record(data: bytes) -> Record:
    try:
        module_hash, epochs, adjacency, operations, raw = json.loads(data.decode("utf-8"))
        metrics = decode_model_metrics(base64.b64decode(raw))
        evals = metrics["evaluation_data"]
        return Record(str(module_hash), int(epochs), str(adjacency), str(operations),
                      int(metrics["trainable_parameters"]), evals[1], evals[2])
    except (ValueError, TypeError, IndexError, KeyError, UnicodeDecodeError) as exc:
        raise DataError(
            f"a NAS-Bench-101 record is malformed ({type(exc).__name__}: {exc}); expected the JSON row "
            f"[hash, epochs, adjacency, operations, base64 ModelMetrics] of the official files."
        ) from exc


def iter_records(path: str | Path, **kw) -> Iterator[Record]:
    for data in iter_raw_records(path, **kw):
        yield parse_record(data)


def encode_record(module_hash: str, epochs: int, adjacency: str, operations: str, metrics: bytes) -> bytes:
    row = json.dumps([module_hash, epochs, adjacency, operations, base64.b64encode(metrics).decode()])
    data = row.encode()
    header = struct.pack("<Q", len(data))
    return header + struct.pack("<I", masked_crc(header)) + data + struct.pack("<I", masked_crc(data))


def write_records(path: str | Path, records: list[bytes]) -> None:
    Path(path).write_bytes(b"".join(records))
