# VGG16 (Simonyan & Zisserman 2014) exactly as torchvision.models.vgg16 builds it.
# Layer names are torchvision's state_dict keys. 138,357,544 params, 15,470,264,320 MACs.
# (the DSL version of vgg16.yaml, written by cnncalc convert)
name vgg16
input 3x224x224
features.0: conv2d 64 kernel=3 padding=1
features.1: relu
features.2: conv2d 64 kernel=3 padding=1
features.3: relu
features.4: maxpool2d 2
features.5: conv2d 128 kernel=3 padding=1
features.6: relu
features.7: conv2d 128 kernel=3 padding=1
features.8: relu
features.9: maxpool2d 2
features.10: conv2d 256 kernel=3 padding=1
features.11: relu
features.12: conv2d 256 kernel=3 padding=1
features.13: relu
features.14: conv2d 256 kernel=3 padding=1
features.15: relu
features.16: maxpool2d 2
features.17: conv2d 512 kernel=3 padding=1
features.18: relu
features.19: conv2d 512 kernel=3 padding=1
features.20: relu
features.21: conv2d 512 kernel=3 padding=1
features.22: relu
features.23: maxpool2d 2
features.24: conv2d 512 kernel=3 padding=1
features.25: relu
features.26: conv2d 512 kernel=3 padding=1
features.27: relu
features.28: conv2d 512 kernel=3 padding=1
features.29: relu
features.30: maxpool2d 2
avgpool: adaptive_avgpool2d 7
flatten
classifier.0: linear 4096
classifier.1: relu
classifier.2: dropout 0.5
classifier.3: linear 4096
classifier.4: relu
classifier.5: dropout 0.5
classifier.6: linear 1000
