size 0 -k 3 --lang ko
