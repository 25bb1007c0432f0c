solve --in 28x --out 14
