"""Render the README's pictures: the Guide, Rollout, GAE, Clip and Backward sheets as printed, two charts, and the
Advantage sheet under the grpo convention.

    pip install -e . pillow        # Pillow crops the PNGs; it is not a dependency of the package
    python docs/render.py          # writes docs/guide.png, rollout.png, gae.png, clip.png, backward.png, chart_clip.png,
                                   # chart_after_step.png, advantage.png

Needs LibreOffice (``soffice``) and poppler-utils (``pdftotext``, ``pdftoppm``). A developer
script, not a test: it generates the small-preset workbook into a temporary folder, prints it to
PDF with LibreOffice headless (private profile, recalculated: ``blueprint.libreoffice.convert``),
finds each sheet's first page by the title in its A1, renders the pages of its first band of rows
with pdftoppm (a wide sheet prints at 70-75 % on pages side by side, column A on each: the
workbook's page breaks say how many), crops the white margins, sets them side by side and saves a
64-colour PNG. Each chart is cut out of the page that holds it along its frame, found by walking
out from the chart's title. An optional argument writes the PNGs elsewhere.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from blueprint import guide
from blueprint.api import generate
from blueprint.config import load_config
from blueprint.libreoffice import convert, find_soffice


def require() -> None:
    """What is missing, as one line and exit code 2, before any work (not a traceback from deep inside)."""
    missing = [f"{', '.join(tools)} ({how})" for tools, how in (
        ([t for t in ("pdftoppm", "pdftotext", "pdfinfo") if shutil.which(t) is None], "apt-get install poppler-utils"),
        ([] if find_soffice() else ["soffice"], "apt-get install libreoffice-calc-nogui"),
        ([] if importlib.util.find_spec("PIL") else ["Pillow"], "pip install pillow"),
    ) if tools]
    if missing:
        print(f"docs/render.py: needs {'; '.join(missing)}", file=sys.stderr)
        sys.exit(2)


require()
import openpyxl  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402 - after the check that it is installed

PAGE_DPI = 150  # pages print at 70-100 %: 11 pt text comes out ~16-23 px high
CHART_DPI = 300
PAGES = {"guide.png": ("Guide", guide.TITLE), "rollout.png": ("Rollout", "Rollout — "), "gae.png": ("GAE", "GAE — "),
         "clip.png": ("Clip", "Clip — "), "backward.png": ("Backward", "Backward — ")}
GRPO_PAGES = {"advantage.png": ("Advantage", "Advantage — ")}  # printed from the grpo convention's workbook: the estimator in use
FIRST_PAGE_ONLY = {"backward.png"}  # its per-token grids: the unroll's δh and δa columns print on the pages across
CHARTS = {"chart_clip.png": ("Clip", "Ratio ρ_t against the clip band"),  # as blueprint/writer/charts.py titles them
          "chart_after_step.png": ("After Step", "Ratio before and after the step, against the clip band")}

out_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
out_dir.mkdir(parents=True, exist_ok=True)
tmp = Path(tempfile.mkdtemp(prefix="blueprint-docs-"))


def printed(name: str, convention: str = "default") -> tuple[Path, dict[str, int]]:
    """The small preset under a convention, printed to PDF by LibreOffice; with each sheet's pages per band of rows."""
    book, pdf = tmp / f"{name}.xlsx", tmp / f"{name}.pdf"
    generate(load_config("small", convention=convention), book)
    convert(book, pdf, "pdf", timeout=300)
    return pdf, {ws.title: len(ws.col_breaks.brk) + 1 for ws in openpyxl.load_workbook(book).worksheets}


pdf, across = printed("small")


def run(*cmd: object) -> str:
    return subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, timeout=120).stdout


def render(page: int, dpi: int) -> Image.Image:
    run("pdftoppm", "-png", "-r", dpi, "-f", page, "-l", page, "-singlefile", pdf, tmp / "page")
    return Image.open(tmp / "page.png").convert("RGB")


def trim(im: Image.Image, pad: int = 12) -> Image.Image:
    """Cut the white margins, keep a thin white border."""
    x0, y0, x1, y1 = ImageOps.invert(im.convert("L")).point(lambda v: 255 if v > 24 else 0).getbbox()
    return im.crop((max(x0 - pad, 0), max(y0 - pad, 0), min(x1 + pad, im.width), min(y1 + pad, im.height)))


def side_by_side(pages: list[Image.Image], gap: int = 24) -> Image.Image:
    """Pages next to each other, tops aligned, on white."""
    out = Image.new("RGB", (sum(p.width for p in pages) + gap * (len(pages) - 1), max(p.height for p in pages)), "white")
    x = 0
    for p in pages:
        out.paste(p, (x, 0))
        x += p.width + gap
    return out


def save(im: Image.Image, name: str) -> None:
    path = out_dir / name
    im.quantize(colors=64, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    print(f"{path}: {im.width}x{im.height} px, {path.stat().st_size / 1024:.0f} KB")


# Every sheet prints its title rows on each of its pages and, when it is cut into pages across, column A
# too, in which the title starts: a sheet starts at the first page whose first line is its title, and the
# pages of its first band of rows follow it (printed across, then down).
def first_pages(titles: dict[str, str]) -> dict[str, int]:
    """The page each sheet starts on: the first whose first line is its title."""
    pages = int(re.search(r"^Pages:\s+(\d+)", run("pdfinfo", pdf), re.MULTILINE).group(1))
    first_lines = {p: run("pdftotext", "-f", p, "-l", p, "-layout", pdf, "-").strip().split("\n")[0].strip() for p in range(1, pages + 1)}
    return {sheet: min(p for p, line in first_lines.items() if line.startswith(title)) for sheet, title in titles.items()}


def save_pages(pages: dict[str, tuple[str, str]]) -> None:
    for name, (sheet, _) in pages.items():
        save(side_by_side([trim(render(page_of[sheet] + k, PAGE_DPI)) for k in range(1 if name in FIRST_PAGE_ONLY else across[sheet])]), name)


page_of = first_pages({**dict(PAGES.values()), **{sheet: f"{sheet} — " for sheet, _ in CHARTS.values()}})
save_pages(PAGES)

# The chart: its title's words as pdftotext -bbox places them (points), on a page of the Clip sheet's first
# band that holds it whole (a chart may also show, cut, at the edge of the page before); then walk out from
# just above the title to the chart's light-grey frame: left, right, up, and down its white inner margin.
def walk(grey: object, size: tuple[int, int], x: int, y: int, dx: int, dy: int) -> int | None:
    """The first non-white pixel from (x, y) in direction (dx, dy); None if the page's edge comes first."""
    while 0 <= x < size[0] and 0 <= y < size[1]:
        if grey[x, y] <= 240:
            return x if dx else y
        x, y = x + dx, y + dy
    return None


def chart_box(page: int, title: str) -> tuple[Image.Image, tuple[int, int, int, int]] | None:
    words = re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="[\d.]+">([^<]*)</word>',
                       run("pdftotext", "-f", page, "-l", page, "-bbox", pdf, "-"))
    texts, n = [w[3] for w in words], len(title.split())
    first = next((k for k in range(len(texts)) if " ".join(texts[k:k + n]) == title), None)
    if first is None:
        return None
    scale = CHART_DPI / 72
    x, y = int((float(words[first][0]) + float(words[first + n - 1][2])) / 2 * scale), int(float(words[first][1]) * scale) - 3
    image = render(page, CHART_DPI)
    grey, size = image.convert("L").load(), image.size
    left, right, top = walk(grey, size, x, y, -1, 0), walk(grey, size, x, y, 1, 0), walk(grey, size, x, y, 0, -1)
    bottom = None if left is None else walk(grey, size, left + 3, y, 0, 1)
    return None if None in (left, right, top, bottom) else (image, (left, top, right + 1, bottom + 1))


for name, (sheet, title) in CHARTS.items():
    image, box = next(found for page in range(page_of[sheet], page_of[sheet] + across[sheet]) if (found := chart_box(page, title)))
    save(image.crop(box), name)
pdf, across = printed("grpo", "grpo")
page_of = first_pages(dict(GRPO_PAGES.values()))
save_pages(GRPO_PAGES)
shutil.rmtree(tmp)
