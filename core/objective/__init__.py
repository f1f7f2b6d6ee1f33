"""What a training step minimizes: the objective of each Sec. 6 method, where model.stop_grad is
read (objectives); SimSiam's D and its loss (losses); InfoNCE and SwAV's formulas
(contrastive); and the targets the predictions are pulled towards (targets).
"""
