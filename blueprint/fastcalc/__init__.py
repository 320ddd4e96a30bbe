"""Recalculate every formula cell of a workbook fast, through the `formulas` package's own parser and functions.

Why: stock `formulas.ExcelModel` parses every cell and gives each its own schedula dispatcher
(about 300 formula cells/s and gigabytes on the xl preset; docs/excel_notes.md §3), although a
blueprint repeats a few dozen formula *shapes* thousands of times.

How, with no Excel semantics of our own (one module per step):
1. `shapes`: one `re.split` per formula cuts it into its *shape* — the text with every reference (and every
   defined name, which is a reference too) replaced by a placeholder numbered by first
   occurrence, so `=A1*A1` and `=B2*C3` differ — and its list of references. String literals are
   never references; unknown names and sheets stay literal, and the package answers #REF!.
2. `programs`: each shape is parsed and compiled ONCE with `formulas.Parser`, and its dispatcher unrolled into
   a straight program of the package's own implementations: no schedula at run time.
3. `levels`: cells are levelled by dependency (a range depends on its formula cells); a circular reference
   and everything downstream of it get the marker "#CIRC!" instead of hanging or vanishing.
4. `runner`: the cells of one shape on one level run together. Elementwise implementations (operators,
   EXP/LN/TANH/..., IF: the package's `wrap_ufunc`s, which np.vectorize a scalar kernel and check
   errors per element) get one call on (n,) object arrays; INDEX vectorises over its row/column
   numbers, so it gets one call per shared range; all others (SUMPRODUCT, MATCH, SUM, MAX, ...)
   are called per cell with exactly the values stock would pass them, which is cheap without
   schedula.

Each function receives what stock's dispatcher would hand it: a referenced cell or range as a
2-D object array (an empty cell as `schedula.EMPTY`), a function result as returned — except that
numpy scalars are handed on as the Python scalars of the same value (np.float64 → float), which
the package's kernels check two to three times faster. Results are settled as stock settles them
(one scalar per cell, empty → 0) and reported with error values as their text ("#NUM!").
Stock gives INDEX a reference (a `Ranges`); we give it the range's values, which is what makes it
vectorise. Hence functions that need a reference rather than values (ROW, COLUMN, ROWS, COLUMNS,
ISREF, the reference operators `:` `,` and ` `; all outside docs/design.md §5) are refused with
"#UNSUPPORTED!", as are formulas the package's parser rejects.
"""

from blueprint.fastcalc.levels import Plan, plan
from blueprint.fastcalc.programs import UNSUPPORTED, compile_shapes, functions
from blueprint.fastcalc.runner import CIRCULAR, evaluate, run
from blueprint.fastcalc.shapes import NAMES_SHEET, RefTable, split_formula

__all__ = ["CIRCULAR", "NAMES_SHEET", "UNSUPPORTED", "Plan", "RefTable", "compile_shapes", "evaluate", "functions", "plan", "run",
           "split_formula"]
