summary /dev/zero
