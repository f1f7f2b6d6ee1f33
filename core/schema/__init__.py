"""The formats core, sweeps and analysis share, without torch: the run record (record), the group a run
records in its meta.json (group_record), the sweep files and their claims (sweep_format, claims), the version of
the training numerics (numerics), the machine a record names (host), and the key checks with their
did-you-mean (checks). The analysis imports nothing else of core.
"""
