solve --in 224x224 --out 112
