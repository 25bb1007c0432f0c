run -e 'input 3x2000x2000 | maxpool2d 4' --max-memory 100M
