size 8 -k 3 --transposed --pool
