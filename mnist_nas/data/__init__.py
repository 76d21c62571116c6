"""MNIST from each supported source, checked, and the seeded splits the pipeline trains on."""
