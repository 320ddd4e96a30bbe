"""Helpers every sheet module uses to write references through the layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

from blueprint.blocks import Grid, Q, Scalars

if TYPE_CHECKING:
    from blueprint.layout import Layout

Formula = tuple[str, tuple[int, ...], str]  # (quantity, index, "=...")
Formulas = Iterator[Formula]


class Refs:
    """References as seen from one sheet: same-sheet cells unqualified, others `Sheet!A1`."""

    def __init__(self, layout: Layout, here: str):
        self.L, self.here = layout, here

    def __call__(self, quantity: str, *idx: int, sheet: str | None = None) -> str:
        """One cell of a quantity on this sheet (or on `sheet`)."""
        return self.L.a1(sheet or self.here, quantity, *idx, here=self.here)

    def range(self, quantity: str, *prefix: int, sheet: str | None = None) -> str:
        """The cells of a quantity over the axes after `prefix`."""
        return self.L.range(sheet or self.here, quantity, *prefix, here=self.here)

    def w(self, quantity: str, *idx: int, sheet: str = "Weights") -> str:
        """A weight: absolute, so a formula copied by hand still points at the same parameter."""
        return self.L.a1(sheet, quantity, *idx, here=self.here, absolute=True)

    def w_row(self, quantity: str, *prefix: int, sheet: str = "Weights") -> str:
        return self.L.range(sheet, quantity, *prefix, here=self.here, absolute=True)

    def vocab(self) -> str:
        return self.L.range("Config", "vocab", here=self.here, absolute=True)


@dataclass(frozen=True)
class Over:
    """The slots a mean or an aggregate runs over: a (B, T) 0/1 mask, its per-sequence count n_b, its batch count N (a
    workbook-level name) and the count the losses divide by, N_kept (keep-weighed: Advantage)."""

    mask: tuple[str, str]  # (quantity, sheet)
    n_seq: tuple[str, str]  # (quantity, sheet): Σ_t mask per sequence
    n_tokens: str
    n_loss_tokens: str


REAL = Over(("mask", "Rollout"), ("n_real", "Reward"), "n_tokens", "n_loss_tokens")  # the real tokens m: the policy's losses
VALUE = Over(("mask_v", "Reward"), ("n_v", "Reward"), "n_tokens_v", "n_loss_tokens_v")  # m_v, up to the score's slot: the value loss


def aggregate(r: Refs, loss: str, prefix: str, name: str, B: int, sheet: str | None = None, scale: str = "", over: Over = REAL) -> Formulas:
    """Per-sequence sums over `over`'s mask (weighed by Advantage's keep: 0 for a group DAPO drops) and means of a per-token
    loss, then `name` = scale·(the loss_agg switch over them).

    token-mean = Σ_b seq_sum / N_kept;  seq-mean-token-mean = Σ_b seq_mean / B_kept;  seq-mean-token-sum = Σ_b seq_sum / B_kept;
    seq-mean-token-sum-norm = Σ_b seq_sum / loss_scale_factor (0: T)
    """
    (mask, mask_sheet), (n_seq, n_sheet) = over.mask, over.n_seq
    for b in range(B):
        keep = r("keep", b, sheet="Advantage")
        yield f"{prefix}_seq_sum", (b,), f"=SUMPRODUCT({r.range(loss, b, sheet=sheet)},{r.range(mask, b, sheet=mask_sheet)})*{keep}"
        yield f"{prefix}_seq_mean", (b,), f"={r(f'{prefix}_seq_sum', b)}/{r(n_seq, b, sheet=n_sheet)}"
    sums, means = r.range(f"{prefix}_seq_sum"), r.range(f"{prefix}_seq_mean")
    switch = (f'IF(loss_agg="seq-mean-token-mean",SUM({means})/n_loss_seqs,IF(loss_agg="seq-mean-token-sum",SUM({sums})/n_loss_seqs,'
              f'IF(loss_agg="seq-mean-token-sum-norm",SUM({sums})/{agg_norm(r)},SUM({sums})/{over.n_loss_tokens})))')
    yield name, (), f"={scale}{switch}"


def agg_weight(r: Refs, b: int, t: int, over: Over = REAL) -> str:
    """w_t with agg(x) = Σ w·x: keep_b·m_t over N_kept, B_kept·n_b, B_kept or the constant length, by loss_agg (m, n_b and
    N_kept those of `over`)."""
    (mask, mask_sheet), (n_seq, n_sheet) = over.mask, over.n_seq
    m = f"{r(mask, b, t, sheet=mask_sheet)}*{r('keep', b, sheet='Advantage')}"
    n_b = r(n_seq, b, sheet=n_sheet)
    return (f'=IF(loss_agg="seq-mean-token-mean",{m}/(n_loss_seqs*{n_b}),IF(loss_agg="seq-mean-token-sum",{m}/n_loss_seqs,'
            f'IF(loss_agg="seq-mean-token-sum-norm",{m}/{agg_norm(r)},{m}/{over.n_loss_tokens})))')


def agg_norm(r: Refs) -> str:
    """seq-mean-token-sum-norm's divisor: loss_scale_factor, or the response window T (Config) when it is 0 (verl's default)."""
    return f"IF(loss_scale_factor>0,loss_scale_factor,{r.L.a1('Config', 'T', here=r.here, absolute=True)})"


def masked_mean(r: Refs, x: str, over: Over = REAL) -> str:
    """Σ x·m / N over the batch's real tokens (or `over`'s slots): a clip fraction, a mean before whitening."""
    mask, mask_sheet = over.mask
    return f"=SUMPRODUCT({r.range(x)},{r.range(mask, sheet=mask_sheet)})/{over.n_tokens}"


def check(expr: str) -> str:
    """A control cell: "OK" when the identity's residual `expr` is within check_tol, else the residual."""
    return f'=IF(ABS({expr})<=check_tol,"OK",{expr})'


def softmax_checks(r: Refs, B: int, T: int) -> Formulas:
    """Σ_v p_tv - 1 for every softmax row of this sheet."""
    for b in range(B):
        for t in range(T):
            yield "p_check", (b, t), check(f"SUM({r.range('p', b, t)})-1")


UNBIASED = "max(N - 1, 1) — unbiased (or / N: population)"  # WHITEN_DENOM in words


def moments_blocks(prefix: str, x: str, mu: str = "μ", var: str = "var", denom: str = UNBIASED) -> tuple[Scalars, Grid, Scalars]:
    """The blocks masked_moments fills, under the whitening they serve: μ, (x - μ)² per token, var."""
    return (Scalars(Q(f"{prefix}_mean", f"{mu} = Σ {x}·m / N")), Grid(Q(f"{prefix}_dev2", f"({x}_t - {mu})²")),
            Scalars(Q(f"{prefix}_var", f"{var} = Σ ({x}-{mu})²·m / {denom}")))


def masked_moments(r: Refs, B: int, T: int, x: str, prefix: str, denom: str, over: Over = REAL) -> Formulas:
    """μ = Σ x·m / N;  (x - μ)² per token;  var = Σ (x - μ)²·m / denom — as reference._common.masked_moments (m and N `over`'s)."""
    mask = r.range(over.mask[0], sheet=over.mask[1])
    yield f"{prefix}_mean", (), masked_mean(r, x, over)
    for b in range(B):
        for t in range(T):
            yield f"{prefix}_dev2", (b, t), f"=({r(x, b, t)}-{r(f'{prefix}_mean')})^2"
    yield f"{prefix}_var", (), f"=SUMPRODUCT({r.range(f'{prefix}_dev2')},{mask})/{denom}"


WHITEN_DENOM = 'IF(adv_whiten="population",n_tokens,MAX(n_tokens-1,1))'  # the variance's denominator: N, or N - 1 but at least 1


def whiten_std(var: str) -> str:
    """√(var + whiten_eps), or √max(var, whiten_eps) when whiten_eps_mode = "max" — as reference._common.whiten_std."""
    return f'SQRT(IF(whiten_eps_mode="max",MAX({var},whiten_eps),{var}+whiten_eps))'
