"""The paper's ImageNet recipe for its ablations, as data: what a report's "recipe differences" block
compares each run's resolved config.yaml against. Held here, not read from core: the analysis must not
trust the code it checks. `key` is config.yaml's dotted key; `show` is how the paper's value is written.
"""
RECIPE = {
    "name": "the paper's ImageNet ResNet-50 recipe",
    "source": ('Chen & He, CVPR 2021: Sec. 3 "Baseline settings" and App. A (pre-training; 100 epochs in every '
               "ablation, Sec. 3); App. A (linear evaluation). Blur probability: official code (main_simsiam.py), "
               "the paper gives none."),
    "evaluation": ("linear classifier on frozen pool5 features, LARS, batch 4096, 90 epochs, base lr 0.02, cosine, "
                   "wd 0, random-resized-crop training, centre-crop 224 validation (App. A)"),
    "settings": [
        {"key": "data.dataset", "label": "data set", "paper": "imagenet", "show": "ImageNet (1000 classes)"},
        {"key": "data.train_subset", "label": "training images", "paper": 0, "show": "all (1.28M)"},
        {"key": "data.image_size", "label": "crop size (px)", "paper": 224},
        {"key": "model.backbone", "label": "backbone", "paper": "resnet50", "show": "ResNet-50"},
        {"key": "model.proj_layers", "label": "projector fc layers", "paper": 3},
        {"key": "model.proj_hidden", "label": "projector hidden width", "paper": 2048},
        {"key": "model.dim", "label": "output dim d", "paper": 2048},
        {"key": "model.pred_hidden", "label": "predictor hidden width", "paper": 512},
        {"key": "model.proj_out_affine", "label": "affine on f's output BN", "paper": True},
        {"key": "optim.epochs", "label": "pre-training epochs", "paper": 100},
        {"key": "optim.batch_size", "label": "batch size", "paper": 512},
        {"key": "optim.base_lr", "label": "base lr (x batch/256)", "paper": 0.05},
        {"key": "optim.weight_decay", "label": "weight decay", "paper": 1e-4},
        {"key": "optim.momentum", "label": "SGD momentum", "paper": 0.9},
        {"key": "optim.optimizer", "label": "optimizer", "paper": "sgd"},
        {"key": "optim.warmup_epochs", "label": "warm-up epochs", "paper": 0,
         "show": "0 (10 for batch >= 1024, Table 2)"},
        {"key": "optim.pred_lr", "label": "predictor lr", "paper": "constant",
         "show": "constant (Table 1c on; Fig. 2 and Table 1: cosine)"},
        {"key": "augment.blur_p", "label": "blur probability", "paper": 0.5},
        {"key": "augment.crop_scale_min", "label": "crop scale min", "paper": 0.2},
        # eval.linear "paper" is the paper's protocol; the rows after it compare the hyper-parameters of whichever
        # protocol a run used ("when": only over the runs whose config has that value)
        {"key": "eval.linear", "label": "linear-eval optimizer", "paper": "paper", "show": "LARS"},
        {"key": "eval.linear_epochs", "label": "linear-eval epochs", "paper": 90, "when": {"eval.linear": "sgd"}},
        {"key": "eval.linear_batch", "label": "linear-eval batch", "paper": 4096, "when": {"eval.linear": "sgd"}},
        {"key": "eval.linear_lr", "label": "linear-eval base lr", "paper": 0.02, "when": {"eval.linear": "sgd"}},
        {"key": "eval.lincls_epochs", "label": "linear-eval epochs", "paper": 90, "when": {"eval.linear": "paper"}},
        {"key": "eval.lincls_batch", "label": "linear-eval batch", "paper": 4096, "when": {"eval.linear": "paper"}},
        {"key": "eval.lincls_base_lr", "label": "linear-eval base lr", "paper": 0.02,
         "show": "0.02 (official code: 0.1)", "when": {"eval.linear": "paper"}},
        {"key": "eval.lincls_weight_decay", "label": "linear-eval weight decay", "paper": 0,
         "when": {"eval.linear": "paper"}},
        {"key": "eval.lincls_momentum", "label": "linear-eval momentum", "paper": 0.9,
         "when": {"eval.linear": "paper"}},
    ],
}
