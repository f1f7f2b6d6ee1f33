"""What a run is judged on: the monitors (monitors), the evaluation of the frozen backbone at each
kNN point (frozen_backbone), the linear probe on cached features (linear_probe), the paper's
linear evaluation (linear_eval), and a backbone in the formats transfer code loads
(backbone_export).
"""
