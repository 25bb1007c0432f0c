input a 4
input a 4
relu from=a
