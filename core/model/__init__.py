"""The network: the backbones (backbones) and SimSiam's encoder f and predictor h, with SwAV's
prototypes where a run needs them (simsiam).
"""
