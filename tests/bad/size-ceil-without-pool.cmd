size 28 --kernel 3 --ceil
