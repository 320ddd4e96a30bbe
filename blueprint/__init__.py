"""RLHF-PPO Blueprint: RLHF with PPO as a live-formula workbook, a NumPy reference, and a verifier."""

__version__ = "0.1.0"
