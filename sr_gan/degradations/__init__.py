"""Real-world degradations (Real-ESRGAN / BSRGAN): HR batch -> realistic LR on the training device.

Kernels and operations are plain functions of explicit parameters; one sampler draws those parameters
from a generator seeded by (seed, iteration, rank), so a batch's degradation is reproducible.
"""
