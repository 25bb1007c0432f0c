size 8 --kernel 3 --stride 2 --strict
