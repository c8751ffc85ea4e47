"""Shared test helpers."""

import struct
import zlib

import pytest


@pytest.fixture
def png_bomb():
    """Write a tiny PNG whose header claims 100000 x 100000 pixels: Pillow's decompression-bomb case."""

    def write(path, width=100_000, height=100_000):
        def chunk(kind, body):
            return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

        header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b""))
                         + chunk(b"IEND", b""))
        return path

    return write
