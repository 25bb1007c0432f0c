size 8 -k 3 -s 2 --transposed --output-padding 5
