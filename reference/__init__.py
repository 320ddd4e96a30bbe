"""NumPy reference for RLHF with PPO: one function per workbook stage, in modules named as sheets/'s.

Each stage takes what its sheet reads — upstream quantities as plain arrays of shape (B, T) with a response
mask, the way verl's `core_algos` is written, so any other implementation can be held against them; model
inputs; the hyperparameters `hp` — and returns exactly its sheet's quantities, named with the sheet's symbols.

    config      kl_in_reward, kl_in_loss (each stage reads the hyperparameters `hp` by name: blueprint.config.Hyper)
    rnn         the tiny Elman RNN language model, stable softmax, log-probs, entropy (shared, as sheets/rnn.py)
    rollout     live inverse-CDF sampling from θ_old, mask up to and including the first EOS
    reward      reward-model score at the last real token, missing-EOS penalty
    kl          θ_ref's log-probs, k1 / k2 / k3 estimators, shaped per-token reward
    gae         TD residuals, GAE, returns, advantage whitening
    ratio       θ's log-probs and entropy, importance ratio θ vs θ_old, policy-KL diagnostics
    clip        clipped surrogate, clip fraction
    value_loss  clipped value loss, value clip fraction
    total       total loss and the diagnostics people watch, the KL controller
    backward    ∂total_loss/∂(θ, φ) by hand: the chain rule per token, backpropagation through time, gradient norms and clip
    step        one optimizer step with torch's semantics (AdamW or SGD, clip_grad_norm_): θ', φ' and their change
    after_step  θ', φ' on the same rollout: the loss after the step against its first-order prediction Σ grad·delta
    _common     what the stages share (as sheets/_common.py): masked moments, loss aggregation, check cells
    variants    other frameworks' formulas and the analytic gradients, for the tests only: no workbook cell
    pipeline    run(): the stages wired together, keyed (sheet, quantity)
"""

from reference.pipeline import Inputs, Quantities, run
from reference.rnn import RNNWeights, ValueHead

__all__ = ["Inputs", "Quantities", "RNNWeights", "ValueHead", "run"]
