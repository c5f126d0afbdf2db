"""DICOM import: pixels to grey (MONOCHROME1, RGB, multi-frame, 16-bit), labels by file or
SOPInstanceUID, and no patient name, ID or birth date in the store."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

from core.cases.importers import import_cases
from core.cases.importers.dicom import SALT_KEY
from core.export import export_tables

PATIENT_NAME, PATIENT_ID, BIRTH_DATE = "Doe^Jane", "MRN-4711", "19700101"


def write_dicom(path: Path, pixels: np.ndarray, photometric: str = "MONOCHROME2",
                frames: int = 1, patient_id: str = PATIENT_ID, claimed_size=None) -> str:
    """Write an uncompressed ultrasound DICOM file; returns its SOPInstanceUID.

    ``claimed_size`` (rows, columns) makes the header lie about the image size."""
    uid = generate_uid()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = UltrasoundImageStorage, uid, "US"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = PATIENT_NAME, patient_id, BIRTH_DATE
    shape = pixels.shape[1:] if frames > 1 else pixels.shape
    ds.Rows, ds.Columns = claimed_size or shape[:2]
    ds.SamplesPerPixel = 3 if photometric == "RGB" else 1
    if photometric == "RGB":
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.PhotometricInterpretation = photometric
    bits = pixels.dtype.itemsize * 8
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    ds.PixelData = pixels.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return uid


def ramp(shape=(32, 40), dtype=np.uint8, high=255) -> np.ndarray:
    return np.linspace(0, high, shape[0] * shape[1]).reshape(shape).astype(dtype)


def stored_image(store, source_path: str) -> np.ndarray:
    with store.read() as cur:
        (rel,) = cur.execute("SELECT image_path FROM cases WHERE source_path = ?",
                             [source_path]).fetchone()
    return np.asarray(Image.open(store.resolve(rel)))


@pytest.fixture
def dicom_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "dicom"
    write_dicom(folder / "mono2.dcm", ramp())
    write_dicom(folder / "mono1.dcm", ramp(dtype=np.uint16, high=4000), "MONOCHROME1")
    rgb = np.zeros((32, 40, 3), dtype=np.uint8)
    rgb[..., 1] = 100
    write_dicom(folder / "sub" / "colour.dcm", rgb, "RGB", patient_id="OTHER-1")
    cine = np.stack([np.full((32, 40), 10, np.uint8), np.full((32, 40), 250, np.uint8)])
    cine[0, :, :20] = 200
    write_dicom(folder / "cine.dcm", cine, frames=2)
    write_dicom(folder / "huge.dcm", np.zeros((2, 2), np.uint8), claimed_size=(10000, 8000))
    write_dicom(folder / "unlabelled.dcm", ramp())
    (folder / "notes.txt").write_text("not DICOM")
    return folder


def test_dicom_by_file_name(store, dicom_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label,birads\nmono2.dcm,benign,3\nmono1.dcm,malignant,4B\n"
                      "sub/colour.dcm,benign,\ncine.dcm,malignant,\nhuge.dcm,benign,\n"
                      "notes.txt,benign,\n../outside.dcm,benign,\n")
    result = import_cases(store, "dicom", dicom_folder, labels=labels)

    assert result.by_label == {"benign": 2, "malignant": 2}
    skipped = {e["path"]: e["reason"] for e in result.skipped}
    assert "megapixel" in skipped["huge.dcm"]
    assert skipped["notes.txt"] == "not a DICOM file"
    assert skipped["../outside.dcm"] == "path escapes its folder"
    assert skipped["unlabelled.dcm"] == "no label for this file in labels.csv"

    assert np.array_equal(stored_image(store, "mono2.dcm"), ramp())
    inverted = stored_image(store, "mono1.dcm")  # MONOCHROME1: high values are dark
    assert inverted[0, 0] == 255 and inverted[-1, -1] == 0
    assert (stored_image(store, "sub/colour.dcm") == round(0.587 * 100)).all()
    first = stored_image(store, "cine.dcm")
    assert first[0, 0] == 200 and first[0, -1] == 10  # the first frame, not the second
    with store.read() as cur:
        birads = dict(cur.execute("SELECT source_path, birads_ref FROM cases").fetchall())
    assert birads["mono2.dcm"] == "3" and birads["mono1.dcm"] == "4B"


def test_no_patient_identity_is_stored(store, dicom_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nmono2.dcm,benign\nmono1.dcm,malignant\nsub/colour.dcm,benign\n")
    import_cases(store, "dicom", dicom_folder, labels=labels)
    with store.read() as cur:
        patients = dict(cur.execute("SELECT source_path, patient_id FROM cases").fetchall())
        salt = cur.execute("SELECT value FROM settings WHERE key = ?", [SALT_KEY]).fetchone()
    assert patients["mono2.dcm"] == patients["mono1.dcm"] != patients["sub/colour.dcm"]
    assert salt is not None
    exported = export_tables(store, tmp_path / "export")
    text = "".join(path.read_text() for path in exported)
    for secret in (PATIENT_NAME, "Doe", PATIENT_ID, BIRTH_DATE, "OTHER-1", salt[0].strip('"')):
        assert secret not in text


def test_salt_is_drawn_once_per_store(store, dicom_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("file,label\nmono2.dcm,benign\n")
    import_cases(store, "dicom", dicom_folder, labels=labels, dataset="first")
    import_cases(store, "dicom", dicom_folder, labels=labels, dataset="second")
    with store.read() as cur:
        ids = {row[0] for row in cur.execute("SELECT patient_id FROM cases").fetchall()}
        salts = cur.execute("SELECT count(*) FROM settings WHERE key = ?", [SALT_KEY]).fetchone()
    assert len(ids) == 1 and salts[0] == 1


def test_dicom_by_sop_instance_uid(store, tmp_path):
    folder = tmp_path / "dicom"
    first = write_dicom(folder / "IM0001", ramp())
    second = write_dicom(folder / "IM0002", ramp()[::-1].copy())
    (folder / "DICOMDIR").write_bytes(b"")
    (folder / "junk.bin").write_bytes(b"\0" * 200)
    labels = tmp_path / "uids.csv"
    labels.write_text(f"SOPInstanceUID,Label\n{first},benign\n{second},malignant\n1.2.3.4,benign\n")
    result = import_cases(store, "dicom", folder, labels=labels)
    assert result.by_label == {"benign": 1, "malignant": 1}
    skipped = {e["path"]: e["reason"] for e in result.skipped}
    assert skipped == {"junk.bin": "not a DICOM file",
                       "uids.csv line 4": "no DICOM file with SOPInstanceUID '1.2.3.4'"}
