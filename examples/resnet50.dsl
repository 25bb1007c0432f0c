# ResNet-50 (He et al. 2015) as torchvision.models.resnet50 builds it (v1.5: the stride
# sits on the 3x3 conv). Layer names are torchvision's state_dict keys.
# torchvision: 25,557,032 params, 4.089 GFLOPS (multiply-accumulates) at 224x224.
# (the DSL version of resnet50.yaml, written by cnncalc convert)
name resnet50
input 3x224x224
block bottleneck width=64 stride=1 project=false
  conv1: conv2d $width kernel=1 bias=false
  bn1: batchnorm
  relu
  conv2: conv2d $width kernel=3 stride=$stride padding=1 bias=false
  bn2: batchnorm
  relu
  conv3: conv2d $(4 * width) kernel=1 bias=false
  bn3: batchnorm
  downsample.0: conv2d $(4 * width) kernel=1 stride=$stride bias=false from=input if=$project
  downsample.1: batchnorm if=$project
  add (bn3,downsample.1)
  relu
end
conv1: conv2d 64 kernel=7 stride=2 padding=3 bias=false
bn1: batchnorm
relu: relu
maxpool: maxpool2d 3 stride=2 padding=1
layer1: bottleneck width=64 repeat=3 first.project=true
layer2: bottleneck width=128 repeat=4 first.project=true first.stride=2
layer3: bottleneck width=256 repeat=6 first.project=true first.stride=2
layer4: bottleneck width=512 repeat=3 first.project=true first.stride=2
avgpool: adaptive_avgpool2d 1
flatten
fc: linear 1000
