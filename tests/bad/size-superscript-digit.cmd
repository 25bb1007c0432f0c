size 3² -k 3
