size 1 --kernel 1 --transposed --padding 1
