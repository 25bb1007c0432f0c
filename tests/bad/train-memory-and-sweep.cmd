train examples/lenet5.yaml --batch 1,8 --memory 1G
