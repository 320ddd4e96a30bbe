"""The one configuration every part of the blueprint is driven by.

Resolution order: dataclass defaults <- preset <- TOML file <- `--set key=value` overrides.
Every value is checked once, here, so the reference, the generator and the verifier can
trust it; a bad value is refused with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import tomllib
import unicodedata
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from blueprint.errors import BlueprintError

KL_ESTIMATORS = ("k1", "k2", "k3")
FORBIDDEN_TOKEN_CHARS = "*?~\"'"  # MATCH wildcards and quote marks (docs/excel_notes.md §2)
MAX_MAGNITUDE = 1e6  # coefficients, penalties and scores: anything larger only overflows downstream
TOKEN_RULE = (f"1-16 characters, not blank, without any of {FORBIDDEN_TOKEN_CHARS}, control/invisible characters "
              "or an _xHHHH_ escape, distinct case-insensitively")
XML_ESCAPE = re.compile(r"_x[0-9A-Fa-f]{4}_")  # .xlsx strings spell characters so: `_x0041_` is read back as `A`


class ConfigError(BlueprintError):
    """A configuration value that cannot be used (exit code 2)."""


@dataclass(frozen=True)
class Range:
    """The numbers a key allows: lo..hi, each end closed unless said open; `also` lists single values allowed outside.

    The same object checks a value here, reads as text in error messages and the README, and
    becomes the Excel data validation on the Config sheet (blueprint.writer)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    also: tuple[float, ...] = ()

    def __contains__(self, x: float) -> bool:
        if x in self.also:
            return True
        above = self.lo is None or (x > self.lo if self.lo_open else x >= self.lo)
        below = self.hi is None or (x < self.hi if self.hi_open else x <= self.hi)
        return above and below

    @property
    def text(self) -> str:
        """`[0, 1]`, `(0, 1000000]`, `0 or (1, 1000000]`."""
        lo, hi = ("-inf" if self.lo is None else f"{self.lo:.15g}"), ("inf" if self.hi is None else f"{self.hi:.15g}")
        interval = f"{'(' if self.lo_open else '['}{lo}, {hi}{')' if self.hi_open else ']'}"
        return " or ".join([*(f"{a:.15g}" for a in self.also), interval])


@dataclass(frozen=True)
class OneOf:
    """A text switch: the values it may take (the workbook's data validation lists them too)."""

    choices: tuple[str, ...]

    def __contains__(self, x: str) -> bool:
        return x in self.choices

    @property
    def text(self) -> str:
        return " | ".join(self.choices)


def key(default: Any, meaning: str, allowed: Range | OneOf | str, label: str | None = None) -> Any:
    """One configuration key, declared once: its default, what it means, what it allows (a Range, a
    OneOf, or a sentence for keys checked by hand) and, for a hyperparameter the formulas read, its
    label on the Config sheet (its cell there carries the key as a workbook-level name). Validation,
    the Config sheet, its Excel data validation, the Guide's switches, the reference's `hp` and the
    README's table of keys all read this declaration."""
    return field(default=default, metadata={"meaning": meaning, "allowed": allowed, "label": label})


def positive(hi: float = MAX_MAGNITUDE) -> Range:
    return Range(0.0, hi, lo_open=True)


def non_negative(hi: float = MAX_MAGNITUDE) -> Range:
    return Range(0.0, hi)


UNIT = Range(0.0, 1.0)


@dataclass(frozen=True)
class Config:
    """Dimensions, seed and hyperparameters of one blueprint (defaults: the `small` preset, TRL conventions)."""

    # --- dimensions -------------------------------------------------------------------------
    B: int = key(2, "B: sequences in the rollout batch", Range(1, 64))
    P: int = key(2, "P: prompt tokens per sequence", Range(1, 32))
    T: int = key(4, "T: response window; sampling always fills it, the mask cuts at EOS", Range(1, 64))
    H: int = key(3, "H: hidden units of every RNN (θ_ref, θ_old, θ, reward model)", Range(1, 32))
    vocab: tuple[str, ...] = key(("a", "b", "c", "d", "<eos>"), "the V named tokens, one of them EOS", f"2-64 tokens, each {TOKEN_RULE}")
    eos: str = key("<eos>", "name of the end-of-sequence token", "one of the vocab tokens")
    group_size: int = key(1, "G: responses sampled for each prompt, B = prompts × G; the seeded prompts repeat G times and Rollout's "
                          "group column numbers them (the critic-free estimators compare the responses within a group)", Range(1, 64))
    seed: int = key(0, "seeds weights, prompts and uniform draws; same seed, same bits", Range(0, 2**32, hi_open=True))
    # --- sampling and log-probs -------------------------------------------------------------
    tau: float = key(1.0, "τ: temperature; sampling and every log-prob use z/τ (TRL-new, OpenRLHF, verl)", positive(1e3),
        label="τ — sampling and log-prob temperature")
    # --- reward and reference KL ------------------------------------------------------------
    eos_handling: str = key("subtract", "a response with no EOS: subtract the penalty (TRL), replace the score (N+/OpenAI), or off",
                            OneOf(("subtract", "replace", "off")),
        label="no EOS: subtract | replace | off")
    missing_eos_penalty: float = key(1.0, "subtracted from the score when eos_handling = subtract", non_negative(),
        label="subtracted from s (eos_handling = subtract)")
    missing_eos_score: float = key(-1.0, "the score given when eos_handling = replace", Range(-MAX_MAGNITUDE, MAX_MAGNITUDE),
        label="the score (eos_handling = replace)")
    score_clip: float = key(0.0, "s after missing-EOS handling clamped to ±this (OpenRLHF --reward.clip_range (-10, 10)); 0 = off (TRL, verl)",
                            non_negative(),
        label="clamp s to ±this (0 = off)")
    kl_placement: str = key("reward", "where KL to θ_ref enters: reward (TRL), loss (verl use_kl_loss), both, none (verl default)",
                            OneOf(("reward", "loss", "both", "none")),
        label="KL to θ_ref in: reward | loss | both | none")
    kl_estimator: str = key("k1", "KL(θ_old‖θ_ref) in the reward: k1 = d, k2 = d²/2, k3 = e^-d - 1 + d", OneOf(KL_ESTIMATORS),
        label="k1 | k2 | k3 — KL(θ_old‖θ_ref) in the reward")
    beta: float = key(0.05, "β: KL coefficient in the shaped reward (TRL kl_coef)", non_negative(),
        label="β — KL coefficient in the reward")
    kl_loss_estimator: str = key("k3", "KL(θ‖θ_ref) as a loss term (verl kl_loss_type low_var_kl = k3)", OneOf(KL_ESTIMATORS),
        label="k1 | k2 | k3 — KL(θ‖θ_ref) as a loss")
    kl_loss_coef: float = key(0.001, "weight of the KL loss term (verl kl_loss_coef)", non_negative(),
        label="c_KL — weight of the KL loss")
    kl_clamp: float = key(0.0, "each per-token KL estimate, in the reward and as a loss, clamped to ±this (OpenRLHF, verl: 10); "
                          "0 = off (TRL)", non_negative(),
        label="clamp each KL estimate to ±this (0 = off)")
    kl_clamp_scope: str = key("all", "the estimators kl_clamp clamps: all (OpenRLHF compute_approx_kl) or k3 alone (verl low_var_kl)",
                              OneOf(("all", "k3")),
        label="kl_clamp clamps: all | k3 (estimators)")
    score_slot: str = key("last", "where the score lands: last, the last real token e (OpenRLHF, verl); after_eos, e + 1 when the response "
                          "is padded, else e, with V kept and trained up to that slot (TRL-new's sequence_lengths_p1)",
                          OneOf(("last", "after_eos")),
        label="last | after_eos — the score's slot (e or e + 1)")
    reward_whiten: str = key("off", "on: r ← (r - μ)/√(var + eps) + μ over real tokens (TRL whiten_rewards, OpenAI-2019)", OneOf(("off", "on")),
        label="off | on — whiten rewards, keep their mean")
    # --- advantages -------------------------------------------------------------------------
    gamma: float = key(1.0, "γ: discount", UNIT,
        label="γ — discount")
    lam: float = key(0.95, "λ: GAE trace parameter (TRL 0.95; OpenRLHF and verl 1.0)", UNIT,
        label="λ — GAE parameter")
    adv_whiten: str = key("unbiased", "advantage whitening: unbiased variance (TRL, verl), population (OpenRLHF, OpenAI), off",
                          OneOf(("unbiased", "population", "off")),
        label="unbiased | population | off")
    whiten_eps: float = key(1e-8, "added to the variance inside the square root when whitening (or its floor: whiten_eps_mode = max)", positive(1.0),
        label="added to the variance when whitening")
    whiten_eps_mode: str = key("add", "whitening divides by √(var + whiten_eps) (add: TRL, verl) or √max(var, whiten_eps) (max: OpenRLHF's "
                               "advantages); both whitenings read it", OneOf(("add", "max")),
        label="whiten_eps: add | max (√(var+eps) or √max(var, eps))")
    advantage_estimator: str = key("gae", "the advantage Clip uses: gae (PPO, with the critic), or critic-free over each prompt's group: grpo "
                                   "(s - mean)/(std + eps), dr_grpo s - mean, rloo s - mean of the others, reinforce_pp the whitened "
                                   "return of the shaped reward, reinforce_pp_baseline the same after the group mean",
                                   OneOf(("gae", "grpo", "dr_grpo", "rloo", "reinforce_pp", "reinforce_pp_baseline")),
        label="advantage: gae | grpo | dr_grpo | rloo | reinforce_pp | reinforce_pp_baseline")
    grpo_eps: float = key(1e-6, "added to the group's std in grpo (verl epsilon 1e-6; OpenRLHF 1e-9)", positive(1.0),
        label="added to the group std (grpo)")
    dynamic_sampling: str = key("off", "on: groups whose responses all score the same carry no signal and are dropped from every loss "
                                "(DAPO's filter_groups); off: they stay, with advantage 0 under grpo", OneOf(("off", "on")),
        label="drop no-signal groups (DAPO): off | on")
    # --- losses -----------------------------------------------------------------------------
    logratio_clamp: float = key(0.0, "clamp ℓ_θ - ℓ_old to ±this before exp (OpenRLHF, verl: 20); 0 = off (TRL)", non_negative(100.0),
        label="clamp ℓ_θ - ℓ_old to ±this (0 = off)")
    eps: float = key(0.2, "ε (ε_low): policy clip range, ρ kept in [1-ε, 1+ε_high]", Range(0.0, 1.0, lo_open=True, hi_open=True),
        label="ε_low — policy clip range below 1")
    eps_high: float = key(0.2, "ε_high: upper clip range (clip-higher when > ε; DAPO 0.28)", positive(1e3),
        label="ε_high — policy clip range above 1")
    dual_clip: float = key(0.0, "c: for Â < 0 the loss is capped at -c·Â (verl 3.0); 0 = off (TRL, OpenRLHF)",
                           Range(1.0, MAX_MAGNITUDE, lo_open=True, also=(0.0,)),
        label="c — cap -c·Â for Â < 0 (0 = off)")
    eps_v: float = key(0.2, "ε_v: value clip range around V_old (TRL 0.2; OpenRLHF, verl 0.5)", positive(),
        label="ε_v — value clip range")
    loss_agg: str = key("token-mean", "token-mean, seq-mean-token-mean (GRPO paper), seq-mean-token-sum, seq-mean-token-sum-norm "
                        "(verl, Dr. GRPO: Σ over every sequence's tokens / loss_scale_factor)",
                        OneOf(("token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm")),
        label="token-mean | seq-mean-token-mean | seq-mean-token-sum | seq-mean-token-sum-norm")
    loss_scale_factor: float = key(0.0, "seq-mean-token-sum-norm's divisor, a constant length; 0 = the response window T (verl's "
                                   "default, loss_mask.shape[-1])", non_negative(),
        label="seq-mean-token-sum-norm divides by this (0 = T)")
    vf_coef: float = key(0.1, "c_v: weight of the value loss in the total loss (TRL)", non_negative(),
        label="c_v — value-loss weight")
    ent_coef: float = key(0.0, "c_H: entropy bonus weight (TRL: 0, entropy is a diagnostic only)", non_negative(),
        label="c_H — entropy-bonus weight")
    # --- the update: backward pass and optimizer step ----------------------------------------
    theta_init: str = key("given", "θ and φ are the given weights (a later minibatch) or θ_old and φ_old themselves (an "
                          "iteration's first minibatch: ρ = 1, nothing clipped)", OneOf(("given", "old")),
        label="θ, φ: given | old (first minibatch)")
    value_trunk: str = key("shared", "shared: the value loss trains θ's RNN too and one gradient norm clips θ and φ together "
                           "(a value head on the policy, TRL-legacy); detached: φ alone, each model clipped by its own norm "
                           "(a separate critic: OpenRLHF, verl)", OneOf(("shared", "detached")),
        label="value loss into θ's RNN: shared | detached")
    optimizer: str = key("adamw", "the optimizer step: torch.optim.AdamW (decoupled weight decay) or SGD without momentum",
                         OneOf(("adamw", "sgd")),
        label="optimizer: adamw | sgd")
    lr: float = key(0.05, "learning rate: a teaching value that visibly moves ρ in one step (the frameworks use 1e-6 … 1e-5 "
                    "on billions of weights)", positive(10.0),
        label="lr — learning rate (a teaching value)")
    adam_beta1: float = key(0.9, "AdamW β1: decay of the first moment (torch default)", Range(0.0, 1.0, hi_open=True),
        label="β1 — AdamW first-moment decay")
    adam_beta2: float = key(0.999, "AdamW β2: decay of the second moment (torch default)", Range(0.0, 1.0, hi_open=True),
        label="β2 — AdamW second-moment decay")
    adam_eps: float = key(1e-8, "AdamW ε: added to √v̂ (torch default)", positive(1.0),
        label="ε — added to √v̂ (AdamW)")
    weight_decay: float = key(0.0, "decoupled weight decay (AdamW: θ·(1 - lr·wd)); SGD adds wd·θ to the gradient", non_negative(1.0),
        label="weight decay")
    max_grad_norm: float = key(1.0, "gradients are scaled by min(1, this/(‖g‖ + 1e-6)) (torch clip_grad_norm_); 0 = off",
                               non_negative(),
        label="clip ‖g‖ to this (0 = off)")
    grad_norm_eps: float = key(1e-6, "added to ‖g‖ in the clipping coefficient (torch clip_grad_norm_'s constant)", positive(1.0),
        label="added to ‖g‖ when clipping")
    # --- KL controller: β for the next iteration ---------------------------------------------
    kl_ctl: str = key("adaptive", "fixed: β stays (TRL-new; the default of OpenRLHF and verl); adaptive: the proportional controller "
                      "(TRL-legacy, OpenAI-2019; verl kl_ctrl.type, OpenRLHF --algo.kl.target)", OneOf(("fixed", "adaptive")),
        label="KL controller: fixed | adaptive")
    kl_ctl_input: str = key("seq-sum", "the KL the controller sees: batch mean of Σ_t k_t per sequence (TRL-legacy, OpenAI-2019) "
                            "or of the per-sequence token mean (verl, OpenRLHF)", OneOf(("seq-sum", "seq-mean")),
        label="its KL: seq-sum | seq-mean")
    kl_target: float = key(6.0, "the controller's target KL (Ziegler et al.: 6 for seq-sum; verl: 0.1 for seq-mean)", positive(),
        label="adaptive KL: target of its KL")
    kl_horizon: float = key(10000.0, "horizon of the adaptive KL controller", positive(1e9),
        label="adaptive KL: horizon")
    kl_ctl_clip: float = key(0.2, "the controller's proportional error is clipped to ±this", positive(1e3),
        label="adaptive KL: error clipped to ±this")
    # --- check rows -------------------------------------------------------------------------
    check_tol: float = key(1e-6, "a check row shows OK when its identity holds to within this", positive(1.0),
        label="a check row shows OK within this")
    # --- how the seeded inputs are drawn ----------------------------------------------------
    init_scale: float = key(1.0, "std of the θ_old and reward-model weights", non_negative(5.0))
    ref_shift: float = key(0.3, "std of θ_old - θ_ref: how far RL has already moved from the SFT model", non_negative(5.0))
    update_scale: float = key(0.3, "std of θ given - θ_old: earlier minibatches' updates, simulated (large enough to clip)", non_negative(5.0))
    eos_bias: float = key(0.5, "added to θ_ref's EOS logit bias (inherited by θ_old, θ): responses end mid-window", non_negative(5.0))
    preset: str = key("small", "the preset the values start from", "a preset name (see Presets)")
    convention: str = key("default", "the framework whose switches are applied over the preset", "default or a convention name (see Conventions)")

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


ALLOWED: dict[str, Range | OneOf | str] = {f.name: f.metadata["allowed"] for f in fields(Config)}
MEANING: dict[str, str] = {f.name: f.metadata["meaning"] for f in fields(Config)}
# Hyperparameters: the keys the formulas read by name from the Config sheet, in the order it lists them, with their labels there.
HYPERPARAMETERS: dict[str, str] = {f.name: f.metadata["label"] for f in fields(Config) if f.metadata["label"]}
# What the reference reads (its `hp`): every hyperparameter, and the EOS token's id, which Config derives from the vocabulary.
Hyper = dataclasses.make_dataclass("Hyper", [(f.name, f.type) for f in fields(Config) if f.name in HYPERPARAMETERS] + [("eos_id", "int")],
                                   frozen=True)


def hyper(config: Config) -> Hyper:
    """The hyperparameters the reference reads, from a validated Config."""
    return Hyper(eos_id=config.eos_id, **{key: getattr(config, key) for key in HYPERPARAMETERS})
# Text switches: the values each may take.
SWITCHES: dict[str, tuple[str, ...]] = {k: a.choices for k, a in ALLOWED.items() if isinstance(a, OneOf)}


# lr: Adam's first step moves every weight by about lr, and longer responses compound it through time, so the larger
# presets take smaller steps; each still moves ρ visibly (mean |ρ' - ρ| ≥ 0.04 over the real tokens, both theta_init).
PRESETS: dict[str, dict[str, Any]] = {
    # each sheet fits on one screen
    "small": {},
    # long enough responses that EOS lands mid-window and whitening has a real batch
    "medium": dict(
        B=4, P=3, T=8, H=5, seed=4, eos_bias=1.0, lr=0.03,
        vocab=("the", "cat", "dog", "sat", "ran", "on", "mat", "<eos>"),
    ),
    # tens of thousands of formula cells: a scale test for engines and viewers
    "large": dict(
        B=8, P=4, T=16, H=8, eos_bias=1.0, lr=0.01,
        vocab=("a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "<eos>"),
    ),
    # ≥ 50,000 formula cells: the verifier's speed and memory benchmark
    "xl": dict(
        B=16, P=4, T=16, H=8, eos_bias=1.0, lr=0.01,
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
    """Each key against its declared range or choices, then the vocabulary, which has rules of its own."""
    for name, allowed in ALLOWED.items():
        if isinstance(allowed, (Range, OneOf)) and getattr(c, name) not in allowed:
            _refuse(name, getattr(c, name), f"must be {'one of ' if isinstance(allowed, OneOf) else 'in '}{allowed.text}")
    if not 2 <= c.V <= 64:
        _refuse("vocab", list(c.vocab), "must name between 2 and 64 tokens")
    if len(set(v.lower() for v in c.vocab)) != c.V:
        _refuse("vocab", list(c.vocab), "token names must be distinct (case-insensitively, as Excel compares)")
    for tok in c.vocab:
        if not token_ok(tok):
            _refuse("vocab", tok, f"a token name must be {TOKEN_RULE.removesuffix(', distinct case-insensitively')}")
    if c.eos not in c.vocab:
        _refuse("eos", c.eos, f"must be one of the vocab tokens {list(c.vocab)}")
    if c.convention not in ("default", *CONVENTIONS):
        _refuse("convention", c.convention, f"must be one of default, {', '.join(CONVENTIONS)}")
    if c.B % c.group_size:
        _refuse("group_size", c.group_size, f"B = {c.B} sequences must be a whole number of groups (B = prompts × group_size)")
    if c.preset not in PRESETS:
        _refuse("preset", c.preset, f"must be one of {', '.join(PRESETS)}")


def token_ok(tok: str) -> bool:
    """A token name every engine treats as the same plain text, in a cell, in MATCH and in the file's XML.

    Refused: blank; longer than 16; MATCH's wildcards and quote marks; control, format and
    unassigned characters (Unicode category C*: invisible, and XML 1.0 cannot hold most of
    them); `_xHHHH_`, which the .xlsx format decodes as one character (LibreOffice does, in a
    formula's text result too). Anything else, `=1+1`, `#N/A`, `TRUE` or `1` included, is written and read as text
    (tests/test_tokens.py holds every engine to that)."""
    return (bool(tok.strip()) and len(tok) <= 16 and not XML_ESCAPE.search(tok)
            and not any(ch in FORBIDDEN_TOKEN_CHARS or unicodedata.category(ch).startswith("C") for ch in tok))


# Each framework's library defaults for the switches, read at TRL f2cd577, OpenRLHF 3c3be62, verl b178a3c
# (docs/framework_facts.md quotes each); `--convention NAME` applies them over the preset, `--set` still
# overrides single keys. Where a framework's example scripts differ from its defaults, the note says so.
CONVENTIONS: dict[str, dict[str, Any]] = {
    "trl": dict(  # TRL PPOTrainer (experimental, ex-PPOv2): one loss, KL in the reward, fixed β, unbiased whitening
        kl_placement="reward", kl_estimator="k1", beta=0.05, kl_ctl="fixed", kl_ctl_input="seq-sum", gamma=1.0, lam=0.95,
        adv_whiten="unbiased", reward_whiten="off", logratio_clamp=0.0, eps=0.2, eps_high=0.2, dual_clip=0.0, eps_v=0.2,
        loss_agg="token-mean", vf_coef=0.1, ent_coef=0.0, tau=0.7,
        kl_clamp=0.0, score_clip=0.0, whiten_eps_mode="add",  # no clamp of k_t or s; masked_whiten: rsqrt(var + 1e-8)
        eos_handling="off",  # missing_eos_penalty defaults to None; the example scripts pass --missing_eos_penalty 1.0
        score_slot="after_eos",  # rewards[actual_start, actual_end] += scores, actual_end = sequence_lengths_p1 when it fits
        value_trunk="detached", max_grad_norm=0.0,  # a value model with its own backbone; the PPO loop clips no gradient
    ),
    "openrlhf": dict(  # OpenRLHF train_ppo_ray: separate critic and optimizer (vf_coef 1 only sums the two losses for display), λ = 1
        kl_placement="reward", kl_estimator="k1", beta=0.01, kl_ctl="fixed", kl_ctl_input="seq-mean", kl_loss_estimator="k1",
        kl_loss_coef=0.01, gamma=1.0, lam=1.0, adv_whiten="population", reward_whiten="off", logratio_clamp=20.0, eps=0.2,
        eps_high=0.2, dual_clip=0.0, eps_v=0.5, loss_agg="token-mean", vf_coef=1.0, ent_coef=0.0, tau=1.0, eos_handling="off",
        kl_clamp=10.0, kl_clamp_scope="all", score_clip=10.0,  # compute_approx_kl clamps every estimator; --reward.clip_range
        whiten_eps_mode="max",  # the advantages' rstd = var.clamp(min=1e-8).rsqrt() (OpenRLHF whitens no rewards)
        value_trunk="detached", optimizer="adamw", adam_beta1=0.9, adam_beta2=0.95, adam_eps=1e-8, weight_decay=0.0, max_grad_norm=1.0,
    ),
    "verl": dict(  # verl ppo_trainer.yaml: no reference KL by default (use_kl_in_reward false), dual clip always on, λ = 1
        kl_placement="none", kl_estimator="k1", beta=0.001, kl_ctl="fixed", kl_ctl_input="seq-mean", kl_target=0.1,
        kl_loss_estimator="k3", kl_loss_coef=0.001, gamma=1.0, lam=1.0, adv_whiten="unbiased", reward_whiten="off",
        logratio_clamp=20.0, eps=0.2, eps_high=0.2, dual_clip=3.0, eps_v=0.5, loss_agg="token-mean", vf_coef=1.0, ent_coef=0.0,
        tau=1.0, eos_handling="off",
        kl_clamp=10.0, kl_clamp_scope="k3", score_clip=0.0, whiten_eps_mode="add",  # low_var_kl alone is clamped; rsqrt(var + 1e-8)
        value_trunk="detached", optimizer="adamw", adam_beta1=0.9, adam_beta2=0.999, weight_decay=0.01, max_grad_norm=1.0,
    ),
}


# The critic-free recipes (docs/framework_facts.md §14): verl's conventions with its example scripts' estimator settings
# (examples/grpo_trainer/run_qwen2-7b.sh, rloo_trainer/run_qwen2-7b.sh, reinforce_plus_plus_trainer/run_qwen2-7b_math_rf.sh),
# Dr. GRPO's from verl's docs/algo/grpo.md and DAPO's from verl's tests/special_e2e/run_dapo.sh and docs/algo/dapo.md.
# The recipes sample 4-8 responses per prompt; group_size 2 divides every preset's B.
_GRPO = dict(CONVENTIONS["verl"], advantage_estimator="grpo", group_size=2, grpo_eps=1e-6, kl_placement="loss", kl_loss_estimator="k3",
             kl_loss_coef=0.001, loss_agg="token-mean", ent_coef=0.0)
CONVENTIONS.update({
    "grpo": _GRPO,  # use_kl_loss, low_var_kl 0.001, no KL in the reward; compute_grpo_outcome_advantage's epsilon 1e-6
    "dr_grpo": dict(_GRPO, advantage_estimator="dr_grpo", kl_placement="none",  # norm_adv_by_std_in_grpo=False, use_kl_loss=False
                    loss_agg="seq-mean-token-sum-norm", loss_scale_factor=0.0),
    "rloo": dict(CONVENTIONS["verl"], advantage_estimator="rloo", group_size=2, kl_placement="reward", kl_estimator="k1",
                 beta=0.001, kl_ctl="fixed"),  # use_kl_in_reward, kl_penalty kl, kl_coef 0.001, no KL loss
    "reinforce_pp": dict(CONVENTIONS["verl"], advantage_estimator="reinforce_pp", group_size=2, kl_placement="reward",
                         kl_estimator="k1", beta=0.001, kl_ctl="fixed", gamma=1.0, adv_whiten="unbiased", whiten_eps_mode="add"),
    "dapo": dict(_GRPO, kl_placement="none", kl_loss_coef=0.0, eps=0.2, eps_high=0.28, dynamic_sampling="on"),  # clip-higher, no KL
})


# Each framework's learning rates (actor / critic), read at the pinned commits (docs/framework_facts.md §13): shown in the
# conventions table, not applied — they would not visibly move a 3-unit RNN in one step; the workbook's lr is a teaching value.
FRAMEWORK_LR: dict[str, str] = {"trl": "3e-6 (policy and value)", "openrlhf": "1e-6 / 9e-6", "verl": "1e-6 / 1e-5", "grpo": "1e-6",
                                 "dr_grpo": "1e-6 (the grpo script's)", "rloo": "1e-6", "reinforce_pp": "3e-6", "dapo": "1e-6"}


# What a convention's numbers do not say (docs/framework_facts.md quotes each): shown with the conventions table.
CONVENTION_NOTES: dict[str, tuple[str, ...]] = {
    "trl": (
        "missing_eos_penalty defaults to None, so eos_handling is off; TRL's example scripts pass --missing_eos_penalty 1.0 "
        "(eos_handling = subtract).",
        "No KL controller: kl_coef (β) is fixed.",
        "The score sits one slot after the last real token e when the response is padded (e + 1 < T), else on e, and V is kept "
        "and trained up to that slot (score_slot = after_eos): GAE runs through e + 1 and the value loss averages over it too "
        "(~padding_mask_p1); the advantages are whitened and the policy trained on the real tokens alone.",
        "The value model is separate from the policy but shares its optimizer and its one loss, pg_loss + vf_coef·vf_loss.",
        "The value model has its own backbone, so the value loss never reaches the policy's weights (value_trunk = detached); one "
        "AdamW from transformers' Trainer steps both, and the PPO loop clips no gradient (max_grad_norm = 0). Its betas, eps and "
        "weight decay are transformers' defaults, not pinned here. learning_rate is 3e-6 (the workbook keeps its teaching lr); "
        "num_ppo_epochs = 4 passes over each batch.",
    ),
    "openrlhf": (
        "kl_loss_estimator = k1 is OpenRLHF's default (one --algo.kl.estimator serves reward and loss); with KL as a loss it prints "
        "a recommendation to use k2 or k3 (as a loss, k1's expected gradient is zero).",
        "The critic is a separate model with its own optimizer, initialised from the reward model: total_loss with vf_coef = 1 is a "
        "sum for display; OpenRLHF reports the actor and critic losses apart.",
        "compute_approx_kl clamps every KL estimate to [-10, 10], in the reward and as a loss (kl_clamp = 10, kl_clamp_scope = all), "
        "and compute_reward clamps the score to --reward.clip_range (-10, 10) before the KL is added (score_clip = 10); the "
        "advantages are whitened by √max(var, 1e-8) (whiten_eps_mode = max). OpenRLHF whitens no rewards.",
        "KL is fixed unless --algo.kl.target is set.",
        "Actor and critic each have their own DeepSpeed AdamW, betas (0.9, 0.95), each clipped to norm 1.0 (DeepSpeed's "
        "gradient_clipping); actor lr 1e-6, critic lr 9e-6 (the workbook keeps one teaching lr). One epoch over each batch.",
    ),
    "verl": (
        "No KL to θ_ref by default (use_kl_in_reward false, use_kl_loss false); kl_ctrl.type is fixed, and when adaptive it is "
        "fed the per-sequence token-mean KL against target_kl 0.1.",
        "The critic is a separate model with its own optimizer, loaded from critic.model.path (not from the reward model): "
        "total_loss with vf_coef = 1 is a sum for display.",
        "low_var_kl (k3) clamps its value to [-10, 10], in the reward and as a loss (kl_clamp = 10, kl_clamp_scope = k3); k1 and "
        "k2 are not clamped. It first clamps the log-ratio to ±20, which changes nothing after the value clamp (k3 at ±20 is "
        "19 and e^20 - 21, both above 10). Masked means add 1e-8 to their denominators (not modelled: differences ≤ 1e-8).",
        "Actor and critic each have their own torch.optim.AdamW (weight_decay 0.01; eps not passed: torch's default), each "
        "clipped to norm 1.0 (actor.grad_clip, critic.grad_clip) and a step with a non-finite norm skipped; actor lr 1e-6, "
        "critic lr 1e-5 (the workbook keeps one teaching lr). One epoch over each batch.",
    ),
    "grpo": (
        "verl's examples/grpo_trainer/run_qwen2-7b.sh: KL to θ_ref as a k3 loss (low_var_kl, 0.001), none in the reward, "
        "5 responses per prompt (the workbook samples group_size 2, which every preset's B divides). The outcome s is the "
        "summed token-level reward; a group of one gets mean 0 and std 1.",
        "OpenRLHF's group_norm adds 1e-9 to the std, normalises the score before the per-token KL is added, and clamps the "
        "normalised value to ±10; TRL's GRPOTrainer adds 1e-4, keeps β = 0 by default (k3 in the loss when β > 0) and "
        "aggregates with loss_type dapo.",
        "No critic: Value Loss is unused, Total has no value term, Step moves no φ.",
    ),
    "dr_grpo": (
        "verl's docs/algo/grpo.md: norm_adv_by_std_in_grpo = False, loss_agg_mode seq-mean-token-sum-norm, use_kl_loss = "
        "False; the rest as grpo. TRL's counterpart is scale_rewards = none with loss_type dr_grpo (÷ B·max_completion_length).",
    ),
    "rloo": (
        "verl's examples/rloo_trainer/run_qwen2-7b.sh: KL in the reward (kl_penalty kl, fixed coefficient 0.001), no KL loss, "
        "5 responses per prompt. verl writes the baseline as s·n/(n-1) - mean·n/(n-1), equal to s - (Σ_g s - s)/(n-1); a "
        "group of one keeps its score.",
        "TRL's RLOOTrainer also subtracts β (0.05) times the summed k1 KL from the reward; OpenRLHF's rloo puts the KL per "
        "token after the baseline and returns the sum from t on (γ forced to 1).",
    ),
    "reinforce_pp": (
        "verl's examples/reinforce_plus_plus_trainer/run_qwen2-7b_math_rf.sh: KL in the reward (use_kl_in_reward), no KL "
        "loss, 8 responses per prompt; the return is reset after EOS and whitened by masked_whiten (unbiased, rsqrt(var + "
        "1e-8)). OpenRLHF's reinforce whitens by the population variance clamped at 1e-8 (adv_whiten = population, "
        "whiten_eps_mode = max).",
        "reinforce_pp_baseline (a switch value, not a convention): the workbook subtracts the group mean score at the last "
        "real token, then returns and whitens, as OpenRLHF's reinforce_baseline; verl's subtracts it from the summed score and "
        "whitens that, with no return (the same when KL is not in the reward and γ = 1).",
    ),
    "dapo": (
        "verl's tests/special_e2e/run_dapo.sh and docs/algo/dapo.md: grpo advantages, clip-higher ε 0.2 / 0.28, no KL in the "
        "reward or the loss, token-mean, 4 responses per prompt, filter_groups on. The filter drops groups whose responses "
        "all score the same (docs/algo/dapo.md); its code lives in verl's recipe/ submodule, not in the pinned tree.",
        "The workbook drops such groups from every loss (dynamic_sampling = on) instead of sampling more; DAPO's overlong "
        "penalty is not modelled. OpenRLHF's dynamic filtering keeps a group only if min_r < mean score < max_r (0, 1).",
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
    preset: str | None = None,
    toml_path: Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    convention: str | None = None,
    **values: Any,
) -> Config:
    """Defaults <- preset <- convention <- TOML file <- overrides (`key=value` strings) <- keyword values.

    `preset` and `convention` choose the two layers under every other key, wherever they are
    given (these arguments, the TOML file, `--set`), so `preset = "large"` in a file is exactly
    `--preset large`. Given twice with different values they are refused: the workbook's labels
    must never disagree with its numbers.
    """
    sources = [("the command line", {k: v for k, v in (("preset", preset), ("convention", convention)) if v is not None})]
    if toml_path is not None:
        sources.append((f"config file {toml_path}", read_toml(toml_path)))
    sources.append(("--set", dict(parse_override(text) for text in overrides)))
    sources.append(("the keyword arguments", {key: _coerce(key, value) for key, value in values.items()}))
    chosen = {"preset": "small", "convention": "default"}
    given: dict[str, str] = {}
    for where, layer in sources:
        for k in chosen.keys() & layer.keys():
            if k in given and layer[k] != chosen[k]:
                raise ConfigError(f"config key '{k}' is given twice: {chosen[k]!r} in {given[k]} and {layer[k]!r} in {where}; keep one")
            chosen[k], given[k] = layer[k], where
    if chosen["preset"] not in PRESETS:
        raise ConfigError(f"preset {chosen['preset']!r} ({given['preset']}): must be one of {', '.join(PRESETS)}")
    if chosen["convention"] not in ("default", *CONVENTIONS):
        raise ConfigError(f"convention {chosen['convention']!r} ({given['convention']}): must be one of default, {', '.join(CONVENTIONS)}")
    merged: dict[str, Any] = {**PRESETS[chosen["preset"]], **CONVENTIONS.get(chosen["convention"], {})}
    for _, layer in sources:
        merged.update(layer)
    return Config(**{**merged, **chosen})


def departures(config: Config) -> list[str]:
    """The keys whose value is not what the config's preset and convention give: set by hand, and
    named beside the preset and convention wherever the workbook shows them."""
    base = load_config(config.preset, convention=config.convention)
    return [f.name for f in fields(Config) if getattr(config, f.name) != getattr(base, f.name)]


def as_dict(config: Config) -> dict[str, Any]:
    """Plain values (lists for tuples), e.g. for provenance and JSON."""
    return {f.name: (list(v) if isinstance(v := getattr(config, f.name), tuple) else v) for f in fields(config)}


__all__ = ["Config", "ConfigError", "PRESETS", "KL_ESTIMATORS", "SWITCHES", "CONVENTIONS", "ALLOWED", "MEANING", "Range", "OneOf",
           "load_config", "departures", "parse_override", "as_dict"]
