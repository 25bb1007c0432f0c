size 1 --kernel 4 --stride 1 --pool --ceil
