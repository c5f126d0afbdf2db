"""BUS-BRA (Gómez-Flores et al. 2023, Zenodo 10.5281/zenodo.7730709): a folder or its .zip.

Layout: ``bus_data.csv`` beside ``Images/bus_XXXX-s.png`` and ``Masks/mask_XXXX-s.png``, at
any depth (the Kaggle copy nests it as ``BUSBRA/BUSBRA/``). The CSV's columns: ID, Case (the
patient), Histology, Pathology (benign/malignant), BIRADS, Device, Width, Height, Side, BBOX.
BI-RADS values that are not a category (a bare ``4``) are kept as None.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from pathlib import Path, PurePosixPath

from core.cases.decode import BadFile
from core.cases.importers.common import (load_image_and_masks, normalise_birads,
                                         normalise_label, read_table, report_refused)
from core.cases.importers.sources import open_source
from core.cases.library import ImportResult, NewCase
from core.errors import UserError

KIND = "busbra"
HELP = "BUS-BRA folder or .zip (bus_data.csv, Images/, Masks/)"
CSV_NAME = "bus_data.csv"
ATTRIBUTE_COLUMNS = {"device": "Device", "side": "Side", "bbox": "BBOX"}


def _files_in(files: list[str], base: PurePosixPath, folder: str) -> dict[str, str]:
    """``{file name in lower case: path}`` for the files directly in ``base/folder`` (any case)."""
    found = {}
    for rel in files:
        pure = PurePosixPath(rel)
        if pure.parent.parent == base and pure.parent.name.lower() == folder:
            found[pure.name.lower()] = rel
    return found


def _image_name(case_id: str) -> str:
    name = case_id if case_id.lower().endswith(".png") else f"{case_id}.png"
    return name.lower()


def _mask_name(image_name: str) -> str:
    return "mask_" + (image_name[4:] if image_name.startswith("bus_") else image_name)


def iter_cases(path: Path, result: ImportResult) -> Iterator[NewCase]:
    with closing(open_source(path)) as source:
        files = source.files()
        report_refused(source, result)
        tables = sorted((f for f in files if PurePosixPath(f).name.lower() == CSV_NAME),
                        key=lambda f: (f.count("/"), f))
        if not tables:
            raise UserError(f"no {CSV_NAME} found in {path} (is this the BUS-BRA download?)")
        table_path = tables[0]
        base = PurePosixPath(table_path).parent
        try:
            data = source.read(table_path)
        except BadFile as error:  # a damaged zip entry, a pipe or a folder by that name...
            raise UserError(f"cannot read {table_path}: {error}") from None
        table = read_table(data, CSV_NAME)
        id_key = table.require("image ID", "ID")
        label_key = table.require("pathology", "Pathology")
        case_key = table.require("patient", "Case")
        birads_key = table.find("BIRADS", "BI-RADS")
        histology_key = table.find("Histology")
        attribute_keys = {name: table.find(column) for name, column in ATTRIBUTE_COLUMNS.items()}
        images = _files_in(files, base, "images")
        masks = _files_in(files, base, "masks")
        listed = set()
        for line, row in table.rows():
            result.rows += 1
            name = _image_name(row.get(id_key, ""))
            image_path = images.get(name) or images.get(f"bus_{name}")
            where = f"{table_path} line {line}"
            if image_path is None:
                result.skip(where, f"image {name} not found in Images/")
                continue
            listed.add(image_path)
            label = normalise_label(row.get(label_key))
            if label is None:
                result.skip(image_path, f"unknown pathology {row.get(label_key)!r} "
                                        "(expected benign or malignant)")
                continue
            mask_path = masks.get(_mask_name(PurePosixPath(image_path).name.lower()))
            try:
                image, mask = load_image_and_masks(source, image_path, [mask_path] if mask_path else [])
            except BadFile as error:
                result.skip(image_path, str(error))
                continue
            birads = normalise_birads(row.get(birads_key))
            attributes = {name: row[key] for name, key in attribute_keys.items()
                          if key and row.get(key)}
            if birads is None and row.get(birads_key):
                attributes["birads"] = row[birads_key]  # not a category (a bare 4): kept as given
            yield NewCase(source_path=image_path, label=label, image=image, mask=mask,
                          histology=row.get(histology_key) or None, birads_ref=birads,
                          patient_id=row.get(case_key) or None,
                          attributes={"id": row[id_key], **attributes})
        for unlisted in sorted(set(images.values()) - listed):
            result.skip(unlisted, f"not listed in {CSV_NAME}")
