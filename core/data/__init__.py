"""Images to batches: the data sets as uint8 arrays or image folders (raw_images), the training and
evaluation batches (batches), the batched augmentation that makes both views (augment), and the
crops of the paper's linear evaluation (linear_eval_images).
"""
