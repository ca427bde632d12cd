"""Scripted teachers: judge a query from recorded segments only (never from the live env)."""

from synthetic_oracle.basic import ReturnOracle, true_reward

__all__ = ["ReturnOracle", "true_reward"]
