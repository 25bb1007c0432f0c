input 3x8x8
relu
end
