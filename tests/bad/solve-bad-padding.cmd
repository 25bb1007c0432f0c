solve --in 28 --out 14 -p one
