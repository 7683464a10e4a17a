"""Scoring the answer pipeline on labelled question sets (``python -m bot eval``)."""
