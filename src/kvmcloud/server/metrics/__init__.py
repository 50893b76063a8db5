"""Metrics list commands for dashboards: base list objects plus their figures."""
