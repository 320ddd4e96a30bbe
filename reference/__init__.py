"""NumPy reference for RLHF with PPO: one pure function per workbook stage.

Plain arrays of shape (B, T) with a response mask in and out, the way verl's `core_algos`
is written, so any other implementation can be held against these functions.

    rnn         the tiny Elman RNN language model, stable softmax, log-probs, entropy
    rollout     live inverse-CDF sampling from θ_old, mask up to and including the first EOS
    reward      reward-model score at the last real token, missing-EOS penalty
    kl          k1 / k2 / k3 estimators, shaped per-token reward
    gae         TD residuals, GAE, returns, advantage whitening
    ratio       importance ratio θ vs θ_old, policy-KL diagnostics
    clip        clipped surrogate, clip fraction, aggregation modes
    value_loss  clipped value loss, value clip fraction
    total       total loss and the diagnostics people watch
    pipeline    all stages in order, keyed (sheet, quantity)
"""

from reference.pipeline import Hyper, Inputs, Quantities, run
from reference.rnn import RNNWeights, ValueHead

__all__ = ["Hyper", "Inputs", "Quantities", "RNNWeights", "ValueHead", "run"]
