"""Importers for BUSI (folder and zip), BUS-BRA, CSV manifests and label folders, on tiny
synthetic copies of the public layouts, each salted with every kind of bad file."""
from __future__ import annotations

import io
import json
import os
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cases.importers import IMPORTERS, import_cases
from core.commands.import_cases import KINDS
from core.errors import UserError


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def huge_png_header() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 8000, 7000, 1, 0, 0, 0, 0))
            + chunk(b"IEND", b""))


def smooth(seed: int, shape=(40, 48)) -> np.ndarray:
    """A distinct smooth grey image (distinct perceptual hashes, unlike flat images)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (5, 6), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize(shape[::-1], Image.Resampling.BICUBIC))


def box_mask(shape, rows: slice, cols: slice) -> np.ndarray:
    mask = np.zeros(shape, dtype=np.uint8)
    mask[rows, cols] = 255
    return mask


def busi_files() -> dict[str, bytes]:
    """The BUSI layout: 4 good cases (one with two masks, one colour) and one of each bad file."""
    shape = (40, 48)
    colour = np.stack([smooth(3)] * 3, axis=-1)
    colour[..., 0] = 255 - colour[..., 0]
    good_png = png(smooth(9))
    return {
        "benign/benign (1).png": png(smooth(1)),
        "benign/benign (1)_mask.png": png(box_mask(shape, slice(5, 15), slice(5, 15))),
        "benign/benign (2).png": png(smooth(2)),
        "benign/benign (2)_mask.png": png(box_mask(shape, slice(0, 10), slice(0, 10))),
        "benign/benign (2)_mask_1.png": png(box_mask(shape, slice(30, 40), slice(30, 40))),
        "malignant/malignant (1).png": png(colour),
        "malignant/malignant (1)_mask.png": png(box_mask(shape, slice(10, 20), slice(10, 30))),
        "normal/normal (1).png": png(smooth(4)),
        "normal/normal (1)_mask.png": png(np.zeros(shape, dtype=np.uint8)),
        # the bad ones
        "benign/benign (3).png": good_png[:60] + bytes(200) + good_png[260:],
        "benign/benign (4).png": good_png[: len(good_png) // 2],
        "benign/benign (5).png": b"",
        "benign/benign (6).png": b"this is a text file with a .png name\n",
        "benign/benign (7).png": huge_png_header(),
        "malignant/malignant (2).png": png(smooth(5)),
        "malignant/malignant (2)_mask.png": png(np.zeros((20, 20), dtype=np.uint8)),
        "malignant/malignant (3)_mask.png": png(np.zeros(shape, dtype=np.uint8)),
        "benign/notes.txt": b"not an image",
        "README.md": b"# BUSI\n",
    }


BUSI_BAD = {
    "benign/benign (3).png": "corrupt",
    "benign/benign (4).png": "truncated",
    "benign/benign (5).png": "empty file",
    "benign/benign (6).png": "not an image",
    "benign/benign (7).png": "megapixel",
    "malignant/malignant (2).png": "mask malignant (2)_mask.png: mask is 20x20",
    "malignant/malignant (3)_mask.png": "mask without its image",
    "benign/notes.txt": "not an image file",
    "README.md": "not inside a benign/, malignant/ or normal/ folder",
}


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def reasons(result) -> dict[str, str]:
    return {entry["path"]: entry["reason"] for entry in result.skipped}


def assert_busi_result(result, prefix: str = "") -> None:
    assert result.imported == 4
    assert result.by_label == {"benign": 2, "malignant": 1, "normal": 1}
    skipped = reasons(result)
    for rel, reason in BUSI_BAD.items():
        assert reason in skipped.get(prefix + rel, ""), (rel, skipped.get(prefix + rel))


def test_importer_registry_matches_the_command():
    assert set(KINDS) == set(IMPORTERS)


def test_busi_folder_with_every_kind_of_bad_file(store, tmp_path):
    root = write_tree(tmp_path / "Dataset_BUSI_with_GT", busi_files())
    outside = tmp_path / "outside.png"
    outside.write_bytes(png(smooth(8)))
    os.symlink(outside, root / "benign" / "benign (8).png")
    os.symlink(tmp_path, root / "benign" / "loop")
    (root / ".DS_Store").write_bytes(b"\0\1")

    result = import_cases(store, "busi", root)

    assert_busi_result(result)
    skipped = reasons(result)
    assert skipped["benign/benign (8).png"] == "link pointing outside the folder"
    assert "not followed" in skipped["benign/loop"]
    assert not any(".DS_Store" in path for path in skipped)
    with store.read() as cur:
        rows = {r[0]: r[1:] for r in cur.execute(
            "SELECT source_path, label, mask_path, width, height, attributes, image_path "
            "FROM cases").fetchall()}
    assert rows["malignant/malignant (1).png"][0] == "malignant"
    assert rows["normal/normal (1).png"][1] is None  # an empty mask is no mask
    merged = np.asarray(Image.open(store.resolve(rows["benign/benign (2).png"][1]))) > 0
    assert merged[:10, :10].all() and merged[30:40, 30:40].all() and merged.sum() == 200
    assert json.loads(rows["benign/benign (2).png"][4]) == {"mask_files": 2}
    colour = Image.open(store.resolve(rows["malignant/malignant (1).png"][5]))
    assert colour.mode == "L" and colour.size == (48, 40)


def test_second_import_adds_nothing(store, tmp_path):
    root = write_tree(tmp_path / "busi", busi_files())
    import_cases(store, "busi", root)
    again = import_cases(store, "busi", root)
    assert again.imported == 0 and again.already_present == 4
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM cases").fetchone()[0] == 4


def _zip(path: Path, files: dict[str, bytes], prefix: str) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for rel, data in files.items():
            archive.writestr(prefix + rel, data)
        archive.writestr("__MACOSX/" + prefix + "benign/._benign (1).png", b"\0\5\0\0")
        archive.writestr("../../escape.png", png(smooth(11)))
        archive.writestr("/etc/absolute.png", png(smooth(12)))
        archive.writestr(prefix + "benign/..\\..\\windows.png", png(smooth(13)))
        link = zipfile.ZipInfo(prefix + "benign/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    return path


@pytest.mark.parametrize("prefix", ["Dataset_BUSI_with_GT/", ""])
def test_busi_zip_as_downloaded(store, tmp_path, prefix):
    archive = _zip(tmp_path / "archive.zip", busi_files(), prefix)
    result = import_cases(store, "busi", archive)
    assert_busi_result(result, prefix)
    skipped = reasons(result)
    for name in ("../../escape.png", "/etc/absolute.png", prefix + "benign/../../windows.png"):
        assert "zip-slip" in skipped[name]
    assert skipped[prefix + "benign/link.png"] == "symbolic link inside the zip"
    assert not any("__MACOSX" in path for path in skipped)
    assert not (tmp_path / "escape.png").exists()


def test_zip_and_folder_of_the_same_data_are_one_dataset(store, tmp_path):
    files = busi_files()
    import_cases(store, "busi", write_tree(tmp_path / "busi", files))
    again = import_cases(store, "busi", _zip(tmp_path / "busi.zip", files, "Dataset_BUSI_with_GT/"))
    assert again.imported == 0 and again.already_present == 4


def test_missing_layout_is_a_clear_error(store, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no images in benign/, malignant/ or normal/"):
        import_cases(store, "busi", tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        import_cases(store, "busi", tmp_path / "nowhere")
    (tmp_path / "plain.txt").write_text("x")
    with pytest.raises(UserError, match="neither a folder nor a zip"):
        import_cases(store, "busi", tmp_path / "plain.txt")


def test_dataset_names_cannot_escape_the_cases_folder(store, tmp_path):
    root = write_tree(tmp_path / "busi", busi_files())
    for bad in ("../outside", "a/b", ".hidden"):
        with pytest.raises(UserError, match="invalid dataset name"):
            import_cases(store, "busi", root, dataset=bad)


def test_a_dataset_keeps_its_kind(store, tmp_path):
    root = write_tree(tmp_path / "busi", busi_files())
    import_cases(store, "busi", root, dataset="mine")
    with pytest.raises(UserError, match="holds busi cases"):
        import_cases(store, "folder", root, dataset="mine")


def busbra_files() -> dict[str, bytes]:
    shape = (40, 48)
    table = "\n".join([
        "ID,Case,Histology,Pathology,BIRADS,Device,Width,Height,Side,BBOX",
        "bus_0001-l,1,Fibroadenoma,benign,4,GE,48,40,left,\"[1, 2, 3, 4]\"",
        "bus_0001-r,1,Fibroadenoma,Benign,3,GE,48,40,right,\"[1, 2, 3, 4]\"",
        "bus_0002-l,2,Invasive ductal carcinoma,malignant,4A,Toshiba,48,40,left,\"[5, 6, 7, 8]\"",
        "bus_0003-l,3,,unknown,2,GE,48,40,left,",
        "bus_0009-l,9,,benign,2,GE,48,40,left,",
    ])
    files = {"BUSBRA/bus_data.csv": table.encode()}
    for index, name in enumerate(["0001-l", "0001-r", "0002-l", "0003-l", "0004-l"]):
        files[f"BUSBRA/Images/bus_{name}.png"] = png(smooth(20 + index))
        files[f"BUSBRA/Masks/mask_{name}.png"] = png(box_mask(shape, slice(5, 9), slice(5, 9)))
    return files


@pytest.mark.parametrize("as_zip", [False, True])
def test_busbra_layout(store, tmp_path, as_zip):
    files = busbra_files()
    source = (_zip(tmp_path / "BUSBRA.zip", files, "") if as_zip
              else write_tree(tmp_path / "download", files))
    result = import_cases(store, "busbra", source)
    assert result.by_label == {"benign": 2, "malignant": 1}
    skipped = reasons(result)
    assert "unknown pathology 'unknown'" in skipped["BUSBRA/Images/bus_0003-l.png"]
    assert skipped["BUSBRA/Images/bus_0004-l.png"] == "not listed in bus_data.csv"
    assert "bus_0009-l.png not found" in skipped["BUSBRA/bus_data.csv line 6"]
    with store.read() as cur:
        rows = {r[0]: r[1:] for r in cur.execute(
            "SELECT source_path, patient_id, birads_ref, histology, mask_path, attributes "
            "FROM cases").fetchall()}
    left, right = rows["BUSBRA/Images/bus_0001-l.png"], rows["BUSBRA/Images/bus_0001-r.png"]
    assert left[0] == right[0] == "1"
    assert left[1] is None and json.loads(left[4])["birads"] == "4"  # a bare 4 is no category
    assert right[1] == "3" and rows["BUSBRA/Images/bus_0002-l.png"][1] == "4A"
    assert left[2] == "Fibroadenoma" and left[3] is not None
    assert json.loads(left[4])["side"] == "left"


def test_busbra_without_its_table(store, tmp_path):
    files = {k: v for k, v in busbra_files().items() if not k.endswith(".csv")}
    with pytest.raises(UserError, match="no bus_data.csv"):
        import_cases(store, "busbra", write_tree(tmp_path / "b", files))


def test_csv_manifest_with_column_variants_and_bad_rows(store, tmp_path):
    root = tmp_path / "images"
    write_tree(root, {"a.png": png(smooth(30)), "sub/b.png": png(smooth(31)),
                      "sub/b_seg.png": png(box_mask((40, 48), slice(1, 5), slice(1, 5))),
                      "c.png": png(smooth(32))})
    (tmp_path / "secret.png").write_bytes(png(smooth(33)))
    manifest = tmp_path / "lists" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text("\ufeffImage Path;Class;Patient ID;Mask;BI-RADS;Histology\n"
                        "a.png;Benign;P1;;3;\n"
                        "sub\\b.png;MALIGNANT;P1;sub/b_seg.png;BI-RADS 4c;IDC\n"
                        f"{root / 'c.png'};normal;;;;\n"
                        "../secret.png;benign;;;;\n"
                        f"{tmp_path / 'secret.png'};benign;;;;\n"
                        "missing.png;benign;;;;\n"
                        "a.png;perhaps;;;;\n"
                        ";benign;;;;\n", encoding="utf-8")
    result = import_cases(store, "csv", manifest, root=root)
    assert result.by_label == {"benign": 1, "malignant": 1, "normal": 1}
    skipped = reasons(result)
    assert skipped["../secret.png"] == "path escapes its folder"
    assert skipped[str(tmp_path / "secret.png")] == "path escapes its folder"
    assert skipped["missing.png"] == "file not found"
    assert "unknown label 'perhaps'" in skipped["a.png"]
    assert skipped["manifest.csv line 9"] == "no image path in this row"
    with store.read() as cur:
        rows = {r[0]: r[1:] for r in cur.execute(
            "SELECT source_path, patient_id, birads_ref, histology, mask_path FROM cases").fetchall()}
    assert rows["sub/b.png"] == ("P1", "4C", "IDC", rows["sub/b.png"][3])
    assert rows["sub/b.png"][3] is not None and rows["a.png"][1] == "3"


def test_csv_manifest_paths_default_to_its_folder(store, tmp_path):
    write_tree(tmp_path, {"x.png": png(smooth(40))})
    (tmp_path / "m.csv").write_text("file,label\nx.png,benign\n")
    assert import_cases(store, "csv", tmp_path / "m.csv").imported == 1


def test_csv_manifest_missing_columns_are_named(store, tmp_path):
    (tmp_path / "m.csv").write_text("picture,verdict\nx.png,benign\n")
    with pytest.raises(UserError, match=r"no image path column .* its columns are: picture, verdict"):
        import_cases(store, "csv", tmp_path / "m.csv")
    (tmp_path / "n.csv").write_text("image,verdict\nx.png,benign\n")
    with pytest.raises(UserError, match="no label column"):
        import_cases(store, "csv", tmp_path / "n.csv")


def test_label_folders_any_case_with_patient_subfolders(store, tmp_path):
    root = write_tree(tmp_path / "mine", {
        "Benign/P01/one.png": png(smooth(50)),
        "Benign/P01/two.jpg": png(smooth(51)),
        "MALIGNANT/three.bmp": png(smooth(52)),
        "other/four.png": png(smooth(53)),
    })
    result = import_cases(store, "folder", root)
    assert result.by_label == {"benign": 2, "malignant": 1}
    assert "not inside" in reasons(result)["other/four.png"]
    with store.read() as cur:
        patients = dict(cur.execute("SELECT source_path, patient_id FROM cases").fetchall())
    assert patients == {"Benign/P01/one.png": "P01", "Benign/P01/two.jpg": "P01",
                        "MALIGNANT/three.bmp": None}


def test_options_belong_to_their_kind(store, tmp_path):
    with pytest.raises(UserError, match="--root applies to csv"):
        import_cases(store, "busi", tmp_path, root=tmp_path)
    with pytest.raises(UserError, match="needs --labels"):
        import_cases(store, "dicom", tmp_path)


def test_import_command_prints_json_and_fails_when_nothing_is_usable(tmp_path, capsys):
    from core.cli import main

    db = str(tmp_path / "cli" / "results.duckdb")
    root = write_tree(tmp_path / "busi", busi_files())
    assert main(["import", "busi", str(root), "--db", db, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["imported"] == 4 and printed["by_label"]["benign"] == 2
    assert {"path": "benign/benign (5).png", "reason": "empty file"} in printed["skipped"]
    bad = write_tree(tmp_path / "bad", {"benign/x.png": b"", "normal/y.png": b"text"})
    assert main(["import", "folder", str(bad), "--db", db]) == 1
    assert "skipped benign/x.png: empty file" in capsys.readouterr().out
