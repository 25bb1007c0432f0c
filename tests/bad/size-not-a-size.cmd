size abc --kernel 3
