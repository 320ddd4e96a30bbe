"""Control rows: identities the workbook checks live, shown as "OK" or as the discrepancy.

They mirror the check formulas cell for cell (FAST standard's check rows), so a check that
fails in Excel after an edit fails identically here.

    p_check         = Σ_v p_tv - 1                     (each softmax row sums to 1)
    adv_mean_check  = Σ Â·m / N                        (whitened advantages have mean 0)
    adv_std_check   = sqrt(Σ Â² / denom) - 1           (and std 1; denom as the whitening's variance)
    part_*          = pg_loss, c_v·vf_loss, -c_H·entropy, in_loss·c_KL·kl_loss
    total_check     = total_loss - Σ parts
"""

from __future__ import annotations

import numpy as np


def check(x: np.ndarray | float, tol: float) -> np.ndarray:
    """"OK" where |x| ≤ tol, else x itself (an object array, as the workbook's mixed cells)."""
    x = np.asarray(x, dtype=float)
    return np.where(np.abs(x) <= tol, "OK", x.astype(object)).astype(object)


def softmax_check(p: np.ndarray, tol: float) -> np.ndarray:
    return check(p.sum(axis=-1) - 1.0, tol)


def whitening_checks(adv_whitened: np.ndarray, mask: np.ndarray, mode: str, tol: float) -> dict[str, np.ndarray]:
    n = mask.sum()
    denom = n if mode == "population" else max(n - 1.0, 1.0)
    mean = (adv_whitened * mask).sum() / n
    std = np.sqrt((adv_whitened * adv_whitened).sum() / denom)
    if mode == "off":
        return {"adv_mean_check": np.array("off", dtype=object), "adv_std_check": np.array("off", dtype=object)}
    return {"adv_mean_check": check(mean, tol), "adv_std_check": check(std - 1.0, tol)}


def loss_parts(pg_loss: float, vf_loss: float, entropy: float, kl_loss: float, total: float,
               vf_coef: float, ent_coef: float, kl_in_loss: float, kl_loss_coef: float, tol: float) -> dict[str, np.ndarray]:
    parts = {"part_pg": pg_loss, "part_vf": vf_coef * vf_loss, "part_ent": -ent_coef * entropy, "part_kl": kl_in_loss * kl_loss_coef * kl_loss}
    total_parts = parts["part_pg"] + parts["part_vf"] + parts["part_ent"] + parts["part_kl"]
    return {**{k: np.array(v) for k, v in parts.items()}, "total_check": check(total - total_parts, tol)}
