"""The training loop, read top to bottom (loop); the one training step it shares with the benchmark
(step); and the loop's state between steps, as its checkpoint keeps it (state).
"""
