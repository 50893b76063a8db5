"""Async jobs stored as rows, their runner and the periodic scheduler."""
