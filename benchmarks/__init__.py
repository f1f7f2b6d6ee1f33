"""Speed measurements: `python -m benchmarks.throughput` (our step vs. the official-style pipeline) and
`python -m benchmarks.kornia_compare` (batched augmentation: core.data.augment vs. kornia.augmentation)."""
