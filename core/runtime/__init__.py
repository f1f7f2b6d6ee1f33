"""How a run runs: precision, memory format and compilation (precision), data-parallel ranks
(distributed), checkpoints (checkpoint), the run directory it writes (run_directory),
stopping on a signal (stopping), and the live TensorBoard mirror (live_log).
"""
