size 28 --kernel 0
