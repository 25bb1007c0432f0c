# ResNet-18 (He et al. 2015) as torchvision.models.resnet18 builds it; layer names are
# torchvision's state_dict keys. torchvision: 11,689,512 params, 1.814 GFLOPS (MACs).
# (the DSL version of resnet18.yaml, written by cnncalc convert)
name resnet18
input 3x224x224
block basic width=64 stride=1 project=false
  conv1: conv2d $width kernel=3 stride=$stride padding=1 bias=false
  bn1: batchnorm
  relu
  conv2: conv2d $width kernel=3 padding=1 bias=false
  bn2: batchnorm
  downsample.0: conv2d $width kernel=1 stride=$stride bias=false from=input if=$project
  downsample.1: batchnorm if=$project
  add (bn2,downsample.1)
  relu
end
conv1: conv2d 64 kernel=7 stride=2 padding=3 bias=false
bn1: batchnorm
relu: relu
maxpool: maxpool2d 3 stride=2 padding=1
layer1: basic width=64 repeat=2
layer2: basic width=128 repeat=2 first.project=true first.stride=2
layer3: basic width=256 repeat=2 first.project=true first.stride=2
layer4: basic width=512 repeat=2 first.project=true first.stride=2
avgpool: adaptive_avgpool2d 1
flatten
fc: linear 1000
