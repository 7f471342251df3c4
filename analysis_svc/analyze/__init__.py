"""Analyze and GetIndicators: the use case (service.py), the decision, its Redis single-flight
cache and its write-behind audit trail."""
