"""The one configuration every part of the blueprint is driven by.

Resolution order: dataclass defaults <- preset <- TOML file <- `--set key=value` overrides.
Every value is checked once, here, so the reference, the generator and the verifier can
trust it; a bad value is refused with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from blueprint.errors import BlueprintError

KL_ESTIMATORS = ("k1", "k2", "k3")
# Text switches: the values each may take (the workbook's data validation lists them too).
SWITCHES: dict[str, tuple[str, ...]] = {
    "eos_handling": ("subtract", "replace", "off"),
    "kl_placement": ("reward", "loss", "both", "none"),
    "kl_estimator": KL_ESTIMATORS,
    "kl_loss_estimator": KL_ESTIMATORS,
    "reward_whiten": ("off", "on"),
    "adv_whiten": ("unbiased", "population", "off"),
    "loss_agg": ("token-mean", "seq-mean-token-mean", "seq-mean-token-sum"),
}
FORBIDDEN_TOKEN_CHARS = "*?~\"'"  # MATCH wildcards and quote marks (docs/excel_notes.md §2)


class ConfigError(BlueprintError):
    """A configuration value that cannot be used (exit code 2)."""


@dataclass(frozen=True)
class Config:
    """Dimensions, seed and hyperparameters of one blueprint (defaults: the `small` preset, TRL conventions)."""

    # --- dimensions -------------------------------------------------------------------------
    batch_size: int = 2  # B: sequences in the rollout batch
    prompt_len: int = 2  # P: prompt tokens per sequence
    response_len: int = 4  # T: response window; sampling always fills it, the mask cuts at EOS
    hidden: int = 3  # H: hidden units of every RNN (θ_ref, θ_old, θ, reward model)
    vocab: tuple[str, ...] = ("a", "b", "c", "d", "<eos>")  # V named tokens, one of them EOS
    eos: str = "<eos>"  # name of the end-of-sequence token
    seed: int = 0  # seeds weights, prompts and uniform draws; same seed -> same bits
    # --- sampling and log-probs -------------------------------------------------------------
    tau: float = 1.0  # τ: temperature; sampling and every log-prob use z/τ (TRL-new, OpenRLHF, verl)
    # --- reward and reference KL ------------------------------------------------------------
    eos_handling: str = "subtract"  # a response with no EOS: "subtract" the penalty (TRL), "replace" the score (N+/OpenAI), "off"
    missing_eos_penalty: float = 1.0  # subtracted from the score when eos_handling = "subtract"
    missing_eos_score: float = -1.0  # the score given when eos_handling = "replace"
    kl_placement: str = "reward"  # where KL to θ_ref enters: "reward" (TRL), "loss" (verl use_kl_loss), "both", "none" (verl default)
    kl_estimator: str = "k1"  # KL(θ_old‖θ_ref) in the reward: k1 = d, k2 = d²/2, k3 = e^-d - 1 + d
    beta: float = 0.05  # β: KL coefficient in the shaped reward (TRL kl_coef)
    kl_loss_estimator: str = "k3"  # KL(θ‖θ_ref) as a loss term (verl kl_loss_type low_var_kl = k3)
    kl_loss_coef: float = 0.001  # weight of the KL loss term (verl kl_loss_coef)
    reward_whiten: str = "off"  # "on": r ← (r - μ)/√(var + eps) + μ over real tokens (TRL whiten_rewards, OpenAI-2019)
    # --- advantages -------------------------------------------------------------------------
    gamma: float = 1.0  # γ: discount
    lam: float = 0.95  # λ: GAE trace parameter (TRL 0.95; OpenRLHF and verl use 1.0)
    adv_whiten: str = "unbiased"  # advantage whitening: "unbiased" (TRL, verl), "population" (OpenRLHF, OpenAI), "off"
    whiten_eps: float = 1e-8  # added to the variance inside the square root when whitening
    # --- losses -----------------------------------------------------------------------------
    logratio_clamp: float = 0.0  # clamp ℓ_θ - ℓ_old to ±this before exp (OpenRLHF, verl: 20); 0 = off (TRL)
    eps: float = 0.2  # ε (ε_low): policy clip range, ρ kept in [1-ε, 1+ε_high]
    eps_high: float = 0.2  # ε_high: upper clip range ("clip-higher" when > ε; DAPO 0.28)
    dual_clip: float = 0.0  # c: for Â < 0 the loss is capped at -c·Â (verl 3.0); 0 = off (TRL, OpenRLHF)
    eps_v: float = 0.2  # ε_v: value clip range around V_old (TRL 0.2; OpenRLHF, verl 0.5)
    loss_agg: str = "token-mean"  # "token-mean", "seq-mean-token-mean" (GRPO paper), "seq-mean-token-sum" (Dr.GRPO)
    vf_coef: float = 0.1  # c_v: weight of the value loss in the total loss (TRL)
    ent_coef: float = 0.0  # c_H: entropy bonus weight (TRL: 0, entropy is a diagnostic only)
    # --- adaptive KL controller (shown beside the fixed β) ----------------------------------
    kl_target: float = 6.0  # target of objective/kl (Ziegler et al.: 6)
    kl_horizon: float = 10000.0  # horizon of the controller
    kl_ctl_clip: float = 0.2  # the proportional error is clipped to ±this
    # --- check rows -------------------------------------------------------------------------
    check_tol: float = 1e-6  # a check row shows OK when its identity holds to within this
    # --- how the seeded inputs are drawn ----------------------------------------------------
    init_scale: float = 1.0  # std of the θ_old and reward-model weights
    ref_shift: float = 0.3  # std of θ_old - θ_ref: how far RL has already moved from the SFT model
    update_scale: float = 0.3  # std of θ - θ_old: the simulated PPO update (large enough to clip)
    eos_bias: float = 0.5  # added to θ_ref's EOS logit bias (inherited by θ_old, θ): responses end mid-window
    preset: str = "small"  # which preset these values started from (provenance only)
    convention: str = "default"  # which framework's switches were applied (provenance only)

    def __post_init__(self) -> None:
        for f in fields(self):
            _check_type(f, getattr(self, f.name))
        _check_values(self)

    # Derived dimensions, used everywhere as B, P, T, V, H.
    @property
    def V(self) -> int:
        return len(self.vocab)

    @property
    def eos_id(self) -> int:
        return self.vocab.index(self.eos)

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, dict[str, Any]] = {
    # each sheet fits on one screen
    "small": {},
    # long enough responses that EOS lands mid-window and whitening has a real batch
    "medium": dict(
        batch_size=4, prompt_len=3, response_len=8, hidden=5, seed=4, eos_bias=1.0,
        vocab=("the", "cat", "dog", "sat", "ran", "on", "mat", "<eos>"),
    ),
    # tens of thousands of formula cells: a scale test for engines and viewers
    "large": dict(
        batch_size=8, prompt_len=4, response_len=16, hidden=8, eos_bias=1.0,
        vocab=("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "<eos>"),
    ),
    # ≥ 50,000 formula cells: the verifier's speed and memory benchmark
    "xl": dict(
        batch_size=16, prompt_len=4, response_len=16, hidden=8, eos_bias=1.0,
        vocab=("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "<eos>"),
    ),
}


def _check_type(f: dataclasses.Field, value: Any) -> None:
    want = f.type if isinstance(f.type, str) else f.type.__name__
    ok = {
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, (int, float)) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "tuple[str, ...]": isinstance(value, tuple) and all(isinstance(v, str) for v in value),
    }[want]
    if not ok:
        shown = {"tuple[str, ...]": "a list of strings", "int": "an integer", "float": "a number", "str": "a string"}[want]
        raise ConfigError(f"config key '{f.name}' = {value!r}: must be {shown}")
    if want == "float" and not math.isfinite(value):
        raise ConfigError(f"config key '{f.name}' = {value!r}: must be a finite number")


def _refuse(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config key '{key}' = {value!r}: {allowed}")


def _check_values(c: Config) -> None:
    """Ranges that keep every formula finite and every engine in agreement."""
    limits = dict(batch_size=(1, 64), prompt_len=(1, 32), response_len=(1, 64), hidden=(1, 32))
    for key, (lo, hi) in limits.items():
        if not lo <= getattr(c, key) <= hi:
            _refuse(key, getattr(c, key), f"must be an integer in [{lo}, {hi}]")
    if not 2 <= c.V <= 64:
        _refuse("vocab", list(c.vocab), "must name between 2 and 64 tokens")
    if len(set(v.lower() for v in c.vocab)) != c.V:
        _refuse("vocab", list(c.vocab), "token names must be distinct (case-insensitively, as Excel compares)")
    for tok in c.vocab:
        if not tok.strip() or any(ch in tok for ch in FORBIDDEN_TOKEN_CHARS) or len(tok) > 16:
            _refuse("vocab", tok, f"a token name must be 1-16 characters, not blank, without any of {FORBIDDEN_TOKEN_CHARS}")
    if c.eos not in c.vocab:
        _refuse("eos", c.eos, f"must be one of the vocab tokens {list(c.vocab)}")
    if c.seed < 0 or c.seed >= 2**32:
        _refuse("seed", c.seed, "must be an integer in [0, 2^32)")
    for key in ("gamma", "lam"):
        if not 0.0 <= getattr(c, key) <= 1.0:
            _refuse(key, getattr(c, key), "must be in [0, 1]")
    for key in ("tau", "eps", "eps_high", "eps_v", "whiten_eps", "kl_target", "kl_horizon", "kl_ctl_clip", "check_tol"):
        if not getattr(c, key) > 0.0:
            _refuse(key, getattr(c, key), "must be > 0")
    if c.eps >= 1.0:
        _refuse("eps", c.eps, "must be < 1 (the clip band is [1-ε, 1+ε_high] and ratios are positive)")
    if c.dual_clip != 0.0 and c.dual_clip <= 1.0:
        _refuse("dual_clip", c.dual_clip, "must be 0 (off) or > 1 (verl uses 3)")
    for key in ("beta", "kl_loss_coef", "vf_coef", "ent_coef", "missing_eos_penalty", "logratio_clamp", "init_scale", "ref_shift", "update_scale", "eos_bias"):
        if getattr(c, key) < 0.0:
            _refuse(key, getattr(c, key), "must be >= 0")
    for key, allowed in SWITCHES.items():
        if getattr(c, key) not in allowed:
            _refuse(key, getattr(c, key), f"must be one of {', '.join(allowed)}")
    for key in ("init_scale", "ref_shift", "update_scale", "eos_bias"):
        if getattr(c, key) > 5.0:
            _refuse(key, getattr(c, key), "must be <= 5 (larger weights saturate tanh and softmax)")
    if c.convention not in ("default", *CONVENTIONS):
        _refuse("convention", c.convention, f"must be one of default, {', '.join(CONVENTIONS)}")
    if c.preset not in PRESETS:
        _refuse("preset", c.preset, f"must be one of {', '.join(PRESETS)}")


# Each framework's defaults for the switches (docs/ppo_math.md §10); `--convention NAME` applies them
# over the preset, and `--set` still overrides single keys.
CONVENTIONS: dict[str, dict[str, Any]] = {
    "trl": dict(  # TRL PPOTrainer (ex-PPOv2): one loss, KL in the reward, whitening with unbiased variance
        kl_placement="reward", kl_estimator="k1", beta=0.05, gamma=1.0, lam=0.95, adv_whiten="unbiased", reward_whiten="off",
        logratio_clamp=0.0, eps=0.2, eps_high=0.2, dual_clip=0.0, eps_v=0.2, loss_agg="token-mean", vf_coef=0.1, ent_coef=0.0,
        tau=0.7, eos_handling="subtract", missing_eos_penalty=1.0,
    ),
    "openrlhf": dict(  # OpenRLHF train_ppo_ray: separate critic (vf_coef 1 only sums the two losses), λ = 1
        kl_placement="reward", kl_estimator="k1", beta=0.01, kl_loss_estimator="k1", kl_loss_coef=0.01, gamma=1.0, lam=1.0,
        adv_whiten="population", reward_whiten="off", logratio_clamp=20.0, eps=0.2, eps_high=0.2, dual_clip=0.0, eps_v=0.5,
        loss_agg="token-mean", vf_coef=1.0, ent_coef=0.0, tau=1.0, eos_handling="off",
    ),
    "verl": dict(  # verl ppo_trainer.yaml: no reference KL by default, dual clip always on, λ = 1
        kl_placement="none", kl_estimator="k1", beta=0.001, kl_loss_estimator="k3", kl_loss_coef=0.001, gamma=1.0, lam=1.0,
        adv_whiten="unbiased", reward_whiten="off", logratio_clamp=20.0, eps=0.2, eps_high=0.2, dual_clip=3.0, eps_v=0.5,
        loss_agg="token-mean", vf_coef=1.0, ent_coef=0.0, tau=1.0, eos_handling="off",
    ),
}


FIELD_NAMES = tuple(f.name for f in fields(Config))


def _coerce(key: str, value: Any) -> Any:
    """TOML gives lists and ints where the dataclass wants tuples and floats."""
    if key not in FIELD_NAMES:
        raise ConfigError(f"unknown config key '{key}' = {value!r}: known keys are {', '.join(FIELD_NAMES)}")
    ftype = next(f.type for f in fields(Config) if f.name == key)
    if isinstance(value, list):
        return tuple(value)
    if ftype == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def parse_override(text: str) -> tuple[str, Any]:
    """`key=value` with a TOML value (`gamma=0.99`, `vocab=["x","y","<eos>"]`); a bare word is a string."""
    key, sep, raw = text.partition("=")
    key, raw = key.strip(), raw.strip()
    if not sep or not key:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, e.g. --set gamma=0.99")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key, _coerce(key, value)


def read_toml(path: Path) -> dict[str, Any]:
    """A flat TOML table of config keys (a `[blueprint]` table is accepted too)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path}: not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, OSError) as exc:
        raise ConfigError(f"config file {path}: not valid TOML ({exc})") from None
    data = data.get("blueprint", data)
    return {key: _coerce(key, value) for key, value in data.items()}


def load_config(
    preset: str = "small",
    toml_path: Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    convention: str | None = None,
    **values: Any,
) -> Config:
    """Defaults <- preset <- convention <- TOML file <- overrides (`key=value` strings) <- keyword values."""
    if preset not in PRESETS:
        raise ConfigError(f"preset {preset!r}: must be one of {', '.join(PRESETS)}")
    if convention is not None and convention not in CONVENTIONS:
        raise ConfigError(f"convention {convention!r}: must be one of {', '.join(CONVENTIONS)}")
    merged: dict[str, Any] = {"preset": preset, **PRESETS[preset], "convention": convention or "default", **CONVENTIONS.get(convention or "", {})}
    if toml_path is not None:
        merged.update(read_toml(toml_path))
    merged.update(parse_override(text) for text in overrides)
    merged.update({key: _coerce(key, value) for key, value in values.items()})
    return Config(**merged)


def as_dict(config: Config) -> dict[str, Any]:
    """Plain values (lists for tuples), e.g. for provenance and JSON."""
    return {f.name: (list(v) if isinstance(v := getattr(config, f.name), tuple) else v) for f in fields(config)}


__all__ = ["Config", "ConfigError", "PRESETS", "KL_ESTIMATORS", "SWITCHES", "CONVENTIONS", "load_config", "parse_override", "as_dict"]
