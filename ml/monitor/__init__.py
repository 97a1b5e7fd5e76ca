"""Monitoring: drift and data quality of logged predictions against the reference profile, live model
quality from ground-truth labels, reports, and the retrain policy."""
