"""Every hyperparameter and where its value comes from: the typed config with the paper's defaults
(hyperparameters), the presets (presets/), the Sec. 6 methods as named values (methods,
method_definitions.yaml), `--set` parsing (overrides), and the rules between the Sec. 6 switches
(method_rules). No torch: sweeps expand and validate without it.
"""
