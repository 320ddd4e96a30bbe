"""Refuse a workbook before parsing it when it is not a plain .xlsx we can read safely.

An .xlsx is a zip of XML parts. Before openpyxl or `formulas` touch it we check: it is a zip;
it unpacks to a sane size (an archive bomb is refused from the central directory, before any
byte is inflated); no XML part declares a DOCTYPE or ENTITY (entity expansion and external
entities: refused here, and defusedxml guards openpyxl's own parser as well); no part links
to an external workbook; no macros. Each refusal is one line and exit code 2.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from blueprint.errors import BlueprintError

MAX_FILE_BYTES = 256 * 2**20
MAX_UNPACKED_BYTES = 512 * 2**20
MAX_RATIO = 200  # unpacked / packed per member; real .xlsx XML compresses ~10-30x
MAX_MEMBERS = 5000


class UnsafeWorkbook(BlueprintError):
    """The file is not a workbook we will open (exit code 2)."""


def check_archive(path: Path) -> dict[str, bytes]:
    """Raise UnsafeWorkbook (one clear line) unless `path` is a plain, sane .xlsx archive; else its XML parts, inflated
    and checked, by name (what `xlsx.read_package` parses: an archive is inflated once)."""
    path = Path(path)
    if path.is_dir():
        raise UnsafeWorkbook(f"{path}: is a folder, not a workbook; give the path of the .xlsx{_workbooks_in(path)}")
    if not path.is_file():
        what = "is not a regular file (a device, a pipe or a socket)" if path.exists() else "no such file"
        raise UnsafeWorkbook(f"{path}: {what}; give the path of a workbook written by `blueprint generate`")
    size = path.stat().st_size
    if size == 0:
        raise UnsafeWorkbook(f"{path}: the file is empty; regenerate it with `blueprint generate`")
    if size > MAX_FILE_BYTES:
        raise UnsafeWorkbook(f"{path}: {size} bytes is larger than the {MAX_FILE_BYTES} a blueprint can be; refusing to open it")
    if not zipfile.is_zipfile(path):
        raise UnsafeWorkbook(f"{path}: not an .xlsx file (not a zip archive); regenerate it with `blueprint generate`")
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
            _check_members(path, infos)
            parts = {info.filename: z.read(info) for info in infos if info.filename.endswith((".xml", ".rels", ".vml"))}
        for name, data in parts.items():
            _check_xml(path, name, data)
        return parts
    except zipfile.BadZipFile as exc:
        raise UnsafeWorkbook(f"{path}: damaged .xlsx archive ({exc}); regenerate it with `blueprint generate`") from None
    except (OSError, EOFError, NotImplementedError, RuntimeError) as exc:
        raise UnsafeWorkbook(f"{path}: cannot read the archive ({type(exc).__name__}: {exc}); regenerate it") from None


def _workbooks_in(folder: Path, most: int = 3) -> str:
    """`, e.g. out/a.xlsx or out/b.xlsx`: the paths a user who gave the folder most likely meant ("" when it holds none)."""
    try:
        found = sorted(str(p) for p in folder.glob("*.xlsx") if p.is_file())
    except OSError:  # an unreadable folder: the advice stands without examples
        return ""
    more = f" ({len(found) - most} more)" if len(found) > most else ""
    return f", e.g. {' or '.join(found[:most])}{more}" if found else ""


def _check_members(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    names = {i.filename for i in infos}
    if len(infos) > MAX_MEMBERS:
        raise UnsafeWorkbook(f"{path}: {len(infos)} parts in the archive (at most {MAX_MEMBERS}); refusing to open it")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES:
        raise UnsafeWorkbook(f"{path}: unpacks to {total} bytes (at most {MAX_UNPACKED_BYTES}): an archive bomb or not a blueprint; refusing to open it")
    for i in infos:
        if i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1):
            raise UnsafeWorkbook(f"{path}: part {i.filename} inflates {i.file_size // max(i.compress_size, 1)}x: an archive bomb; refusing to open it")
    if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
        raise UnsafeWorkbook(f"{path}: a zip archive but not an .xlsx workbook (no xl/workbook.xml); regenerate it with `blueprint generate`")
    if any(n.startswith("xl/externalLinks/") for n in names):
        raise UnsafeWorkbook(f"{path}: links to another workbook (xl/externalLinks); a blueprint never does, and we never open external files — remove the link or regenerate")
    if any(n.lower().endswith("vbaproject.bin") for n in names):
        raise UnsafeWorkbook(f"{path}: contains macros (vbaProject.bin); a blueprint never does — regenerate it with `blueprint generate`")


def _check_xml(path: Path, name: str, data: bytes) -> None:
    low = data.lower()
    if b"<!doctype" in low or b"<!entity" in low:
        raise UnsafeWorkbook(f"{path}: part {name} declares a DOCTYPE/ENTITY (an XML entity attack, or not an .xlsx); refusing to parse it")
    if name.startswith("xl/") and name.endswith(".rels") and b'targetmode="external"' in data.lower() and b"hyperlink" not in data.lower():
        raise UnsafeWorkbook(f"{path}: part {name} points at an external file; a blueprint never does — remove the link or regenerate")
