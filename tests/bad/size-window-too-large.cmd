size 2 --kernel 5
