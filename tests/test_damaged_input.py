"""One damaged file never costs the others: a zip entry whose deflate stream or CRC is broken,
a malformed DICOM, a BUS-BRA table that cannot be read, and a damaged backup bundle each give
their own reason (a skip, or one clear error), and no image is left behind for a case that
was not stored. The DICOM decoder is fuzzed over its tag values with hypothesis."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import Tag

from core.backup import DB_ENTRY, backup, restore, table_summaries
from core.cases.decode import BadFile
from core.cases.importers import import_cases
from core.cases.importers.dicom import read_case
from core.cases.library import ImportResult, NewCase, save_cases
from core.cli import main
from core.errors import UserError
from tests.test_backup import filled  # noqa: F401  (fixture)
from tests.test_import_dicom import ramp, write_dicom
from tests.test_import_layouts import busbra_files, busi_files, smooth, write_tree

ROOT = Path(__file__).resolve().parent.parent


def deflated_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def entry_span(archive: bytes, name: str) -> tuple[int, int]:
    """Where ``name``'s compressed bytes lie in the archive."""
    with zipfile.ZipFile(io.BytesIO(archive)) as opened:
        info = opened.getinfo(name)
    start = info.header_offset
    name_length, extra_length = int.from_bytes(archive[start + 26:start + 28], "little"), \
        int.from_bytes(archive[start + 28:start + 30], "little")
    data = start + 30 + name_length + extra_length
    return data, data + info.compress_size


def with_zlib_error(archive: bytes, name: str) -> bytes:
    """``archive`` with one bit of ``name``'s deflate stream flipped so that reading the entry
    raises ``zlib.error`` (the first such bit, so the test is the same every run)."""
    start, end = entry_span(archive, name)
    for offset in range(start, end):
        for bit in range(8):
            damaged = bytearray(archive)
            damaged[offset] ^= 1 << bit
            try:
                with zipfile.ZipFile(io.BytesIO(bytes(damaged))) as opened:
                    opened.read(name)
            except zlib.error:
                return bytes(damaged)
            except Exception:  # a CRC error or a clean decode: look further
                continue
    raise AssertionError(f"no single bit of {name} gives a zlib error")


# ---- zip entries ----------------------------------------------------------------------------

def test_a_zip_entry_with_a_broken_deflate_stream_is_skipped_and_the_rest_imported(store, tmp_path):
    files = busi_files()
    victim = "benign/benign (2).png"
    archive = tmp_path / "busi.zip"
    archive.write_bytes(with_zlib_error(deflated_zip(files), victim))
    result = import_cases(store, "busi", archive)
    reasons = {entry["path"]: entry["reason"] for entry in result.skipped}
    assert reasons[victim].startswith("damaged zip entry")
    assert result.imported == 3  # the four good cases of busi_files but the damaged one


def test_a_damaged_busbra_table_in_a_zip_is_one_clear_error(store, tmp_path):
    archive = tmp_path / "BUSBRA.zip"
    archive.write_bytes(with_zlib_error(deflated_zip(busbra_files()), "BUSBRA/bus_data.csv"))
    with pytest.raises(UserError, match=r"cannot read BUSBRA/bus_data.csv: damaged zip entry"):
        import_cases(store, "busbra", archive)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_busbra_table_that_is_not_a_regular_file_is_a_clear_error(tmp_path, capsys):
    files = {k: v for k, v in busbra_files().items() if not k.endswith(".csv")}
    folder = write_tree(tmp_path / "download", files)
    os.mkfifo(folder / "BUSBRA" / "bus_data.csv")
    code = main(["import", "busbra", str(folder), "--db", str(tmp_path / "s" / "r.duckdb")])
    assert code == 2
    assert "cannot read BUSBRA/bus_data.csv: not a regular file" in capsys.readouterr().err


# ---- DICOM ----------------------------------------------------------------------------------

def rewrite_tags(path: Path, **tags: tuple[str | None, object]) -> None:
    """Change tags of a DICOM file: ``(VR, value)``, ``(VR, raw bytes)`` written as they are
    (so a DS can hold ``abc``), or ``(None, None)`` to delete the tag."""
    dataset = pydicom.dcmread(path)
    for keyword, (vr, value) in tags.items():
        tag = Tag(pydicom.datadict.tag_for_keyword(keyword))
        if vr is None:
            dataset.pop(tag, None)
        elif isinstance(value, bytes):
            raw = value + b" " * (len(value) % 2)
            dataset[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)
        else:
            dataset[tag] = DataElement(tag, vr, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dataset.save_as(path)


MALFORMED = {
    "no_rows.dcm": {"Rows": ("US", None)},
    "no_columns.dcm": {"Columns": ("US", None)},
    "window_text.dcm": {"WindowCenter": ("DS", b"abc"), "WindowWidth": ("DS", b"100")},
    "window_width_text.dcm": {"WindowCenter": ("DS", b"10"), "WindowWidth": ("DS", b"xyz")},
    "window_zero.dcm": {"WindowCenter": ("DS", b"10"), "WindowWidth": ("DS", b"0")},
    "slope_sequence.dcm": {"RescaleSlope": ("SQ", []), "RescaleIntercept": ("DS", b"0")},
    "slope_text.dcm": {"RescaleSlope": ("DS", b"abc"), "RescaleIntercept": ("DS", b"0")},
    "slope_infinite.dcm": {"RescaleSlope": ("DS", b"inf"), "RescaleIntercept": ("DS", b"0")},
    "rows_text.dcm": {"Rows": ("LO", "abc")},
    "palette_without_lut.dcm": {"PhotometricInterpretation": ("CS", "PALETTE COLOR")},
}


def test_malformed_dicoms_are_skipped_with_their_reason_and_leave_no_file(store, tmp_path):
    folder = tmp_path / "dicom"
    write_dicom(folder / "a_good.dcm", ramp(dtype=np.uint16, high=4000))
    for name, tags in MALFORMED.items():
        write_dicom(folder / name, ramp(dtype=np.uint16, high=4000))
        rewrite_tags(folder / name, **tags)
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\na_good.dcm,benign\n"
                      + "".join(f"{name},malignant\n" for name in MALFORMED))
    result = import_cases(store, "dicom", folder, labels=labels)
    assert result.imported == 1
    reasons = {entry["path"]: entry["reason"] for entry in result.skipped}
    assert set(reasons) == set(MALFORMED)
    assert "Rows" in reasons["no_rows.dcm"] and "Columns" in reasons["no_columns.dcm"]
    assert "WindowCenter" in reasons["window_text.dcm"]
    assert "WindowWidth" in reasons["window_width_text.dcm"]
    assert "WindowWidth" in reasons["window_zero.dcm"]
    for name in ("slope_sequence.dcm", "slope_text.dcm", "slope_infinite.dcm"):
        assert "RescaleSlope" in reasons[name], reasons[name]
    assert "Rows" in reasons["rows_text.dcm"]
    with store.read() as cur:
        named = {p for (p,) in cur.execute("SELECT image_path FROM cases").fetchall()}
    on_disk = {store.relative(p) for p in (store.data_dir / "cases").rglob("*.png")}
    assert on_disk == named


def test_an_import_that_fails_half_way_leaves_no_image_behind(store):
    """Images are written before the one transaction; when the import stops with an error,
    the ones no stored case names are removed again (none is left orphaned)."""
    def cases():
        yield NewCase(source_path="a.png", label="benign", image=smooth(1),
                      mask=np.ones((40, 48), dtype=bool))
        raise UserError("the source stopped")

    with pytest.raises(UserError, match="the source stopped"):
        save_cases(store, "half", "folder", cases(), result=ImportResult())
    assert not list((store.data_dir / "cases").rglob("*.png"))


def test_an_abort_keeps_the_images_that_stored_cases_name(store):
    """The same pixels stored earlier keep their file when a later import of them fails."""
    save_cases(store, "half", "folder", [NewCase("a.png", "benign", smooth(1))])

    def cases():
        yield NewCase(source_path="a.png", label="benign", image=smooth(1))
        yield NewCase(source_path="b.png", label="benign", image=smooth(2))
        raise UserError("the source stopped")

    with pytest.raises(UserError):
        save_cases(store, "half", "folder", cases())
    with store.read() as cur:
        (named,) = cur.execute("SELECT image_path FROM cases").fetchone()
    assert [store.relative(p) for p in (store.data_dir / "cases").rglob("*.png")] == [named]


# The fuzzer starts from a valid 16 x 16 16-bit image, sets some display tags to valid values,
# then replaces up to three tags (any of them) with odd ones: absent, empty, text, several
# values, wrong VRs, out of range; and sometimes gives pixel data of the wrong length.
VALID_TAGS = {
    "WindowCenter": hs.sampled_from([("DS", b"128"), ("DS", b"2000"), ("DS", b"-5\\40")]),
    "WindowWidth": hs.sampled_from([("DS", b"256"), ("DS", b"1"), ("DS", b"4000\\80")]),
    "RescaleSlope": hs.sampled_from([("DS", b"1"), ("DS", b"0.5"), ("DS", b"-3")]),
    "RescaleIntercept": hs.sampled_from([("DS", b"0"), ("DS", b"-1024"), ("DS", b"7.5")]),
    "PhotometricInterpretation": hs.sampled_from([("CS", "MONOCHROME1"), ("CS", "MONOCHROME2")]),
    "NumberOfFrames": hs.just(("IS", b"1")),
}
ODD_VALUES = [(None, None), ("", None), ("", b"abc"), ("", b"-1"), ("", b"0"), ("", b"1e400"),
              ("", b"nan"), ("", b"1\\2\\3"), ("LO", "text"), ("SQ", []), ("US", 7),
              ("US", 40000), ("FD", -2.5), ("CS", "PALETTE COLOR"), ("CS", "RGB")]
VR = {"Rows": "US", "Columns": "US", "BitsAllocated": "US", "BitsStored": "US", "HighBit": "US",
      "PixelRepresentation": "US", "SamplesPerPixel": "US", "PhotometricInterpretation": "CS",
      "NumberOfFrames": "IS", "WindowCenter": "DS", "WindowWidth": "DS", "RescaleSlope": "DS",
      "RescaleIntercept": "DS"}
odd_tags = hs.dictionaries(hs.sampled_from(sorted(VR)), hs.sampled_from(ODD_VALUES), max_size=3)
FUZZ = settings(max_examples=80, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


@FUZZ
@given(valid=hs.fixed_dictionaries({}, optional=VALID_TAGS), odd=odd_tags,
       pixel_bytes=hs.sampled_from([512] * 6 + [0, 1, 256, 1024]), seed=hs.integers(0, 3))
def test_fuzzed_dicom_tags_decode_or_say_why(tmp_path, valid, odd, pixel_bytes, seed):
    path = tmp_path / "fuzz.dcm"
    write_dicom(path, ramp((16, 16), dtype=np.uint16, high=4000))
    odd = {keyword: (vr or VR[keyword] if vr is not None else None, value)
           for keyword, (vr, value) in odd.items()}
    rewrite_tags(path, **{**valid, **odd})
    if pixel_bytes != 512:  # 16 x 16 x 2 bytes is right; others lie about the size
        rewrite_tags(path, PixelData=("OB", np.random.default_rng(seed).integers(
            0, 256, pixel_bytes, dtype=np.uint8).tobytes()))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case = read_case(path)
    except BadFile as error:
        assert str(error)
        return
    assert case.image.dtype == np.uint8 and case.image.ndim == 2 and case.image.size > 0
    assert isinstance(case.attributes["frames"], int)


# ---- backup bundles -------------------------------------------------------------------------

def test_a_damaged_bundle_says_which_entry_and_exits_2(filled, tmp_path):  # noqa: F811
    bundle = tmp_path / "b.zip"
    backup(filled, bundle)
    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(with_zlib_error(bundle.read_bytes(), DB_ENTRY))
    target = tmp_path / "new" / "store.duckdb"
    out = subprocess.run([sys.executable, "-m", "core", "restore", str(damaged), "--to",
                          str(target), "--yes"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"bundle damaged: {DB_ENTRY}" in out.stderr and "Traceback" not in out.stderr
    assert not target.exists()


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=hs.floats(0, 1, exclude_max=True), bit=hs.integers(0, 7))
def test_any_flipped_bit_in_a_bundle_restores_identically_or_is_refused(
        filled, tmp_path, position, bit):  # noqa: F811
    bundle = tmp_path / "good.zip"
    if not bundle.exists():
        backup(filled, bundle)
    data = bytearray(bundle.read_bytes())
    data[int(position * len(data))] ^= 1 << bit
    damaged = tmp_path / "flipped.zip"
    damaged.write_bytes(bytes(data))
    target = tmp_path / f"new-{position}-{bit}" / "store.duckdb"
    try:
        report = restore(damaged, target)
    except UserError as error:
        assert str(error) and not target.exists()
        return
    with filled.read() as cur:
        assert report.tables == table_summaries(cur, cur.execute(
            "SELECT current_database()").fetchone()[0])
