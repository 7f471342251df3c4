"""Freqtrade parity fixtures (see README.md)."""
