size 0 --kernel 3
