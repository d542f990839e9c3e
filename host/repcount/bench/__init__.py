"""The benchmark: stages that measure, targets, and the report."""
