solve --in 100000000 --out 1
