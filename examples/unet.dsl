# The original U-Net (Ronneberger, Fischer & Brox 2015, Fig. 1): 572x572 input, unpadded
# 3x3 convolutions, 2x2 up-convolutions halving the channels, and skip connections that
# crop the encoder's map to the decoder's size before concatenating. Output 388x388.
# (the DSL version of unet.yaml, written by cnncalc convert)
name unet
input 1x572x572
block double out=null
  conv1: conv2d $out kernel=3
  relu
  conv2: conv2d $out kernel=3
  relu
end
block up out=null skip=null size=null
  upconv: conv_transpose2d $out kernel=2 stride=2
  crop: crop $size from=$skip
  concat (crop,upconv)
  conv: double out=$out
end
enc1: double out=64
maxpool2d 2
enc2: double out=128
maxpool2d 2
enc3: double out=256
maxpool2d 2
enc4: double out=512
maxpool2d 2
bottom: double out=1024
dec4: up out=512 skip=enc4 size=56
dec3: up out=256 skip=enc3 size=104
dec2: up out=128 skip=enc2 size=200
dec1: up out=64 skip=enc1 size=392
head: conv2d 2 kernel=1
