"""Aggregates: one module per aggregate, with its events, invariants and commands."""
