"""Synthetic population, benchmark datasets and accuracy/scale benchmarks."""
