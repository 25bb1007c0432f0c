size 28 --kernel 3 --output-padding 1
