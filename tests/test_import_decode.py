"""Decoding untrusted image bytes: grey output, and a clear reason for every kind of bad file."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageFile

from core.cases.decode import BadFile, decode_grey, decode_mask, to_uint8


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` 1-bit pixels, with no pixel data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def noise(shape=(40, 48), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_grey_png_round_trips_unchanged():
    image = noise()
    assert np.array_equal(decode_grey(png(image)), image)


def test_colour_becomes_luma():
    rgb = np.zeros((32, 32, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # pure red: luma 0.299 * 200 = 59.8
    grey = decode_grey(png(rgb))
    assert grey.shape == (32, 32) and grey.dtype == np.uint8
    assert abs(int(grey[0, 0]) - 60) <= 1


def test_sixteen_bit_is_rescaled_to_full_range():
    ramp = np.linspace(1000, 3000, 32 * 32).reshape(32, 32).astype(np.uint16)
    grey = decode_grey(png(ramp))
    assert grey.dtype == np.uint8 and grey.min() == 0 and grey.max() == 255


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"just some text, not pixels\n", "not an image"),
    (png(noise())[:150], "truncated"),
])
def test_bad_files_say_why(data, reason):
    with pytest.raises(BadFile, match=reason):
        decode_grey(data)


def test_corrupt_pixel_stream_is_refused():
    data = png(noise())
    start = data.index(b"IDAT") + 10
    broken = data[:start] + bytes(b ^ 0xFF for b in data[start:start + 40]) + data[start + 40:]
    with pytest.raises(BadFile, match="corrupt"):
        decode_grey(broken)


@pytest.mark.parametrize("width, height", [(8000, 7000), (20000, 20000)])
def test_oversized_header_is_refused_before_decoding(width, height, monkeypatch):
    def no_decoding(self):
        raise AssertionError("pixels decoded")
    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    with pytest.raises(BadFile, match="megapixel|decompression bomb"):
        decode_grey(png_header_only(width, height))


def test_masks_in_all_usual_encodings():
    shape = (30, 40)
    truth = np.zeros(shape, dtype=bool)
    truth[5:15, 10:30] = True
    as_255 = truth.astype(np.uint8) * 255
    as_01 = truth.astype(np.uint8)
    red = np.zeros(shape + (3,), dtype=np.uint8)
    red[truth, 0] = 255
    for encoded in (png(as_255), png(as_01), png(red)):
        assert np.array_equal(decode_mask(encoded, shape), truth)


def test_empty_mask_is_all_background():
    assert not decode_mask(png(np.zeros((8, 8), dtype=np.uint8)), (8, 8)).any()


def test_mask_of_another_size_is_refused():
    with pytest.raises(BadFile, match="mask is 20x10 pixels but its image is 40x30"):
        decode_mask(png(np.zeros((10, 20), dtype=np.uint8)), (30, 40))


def test_to_uint8_handles_constant_images():
    assert not to_uint8(np.full((4, 4), 7.5)).any()
