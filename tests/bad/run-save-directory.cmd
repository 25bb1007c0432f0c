run -e 'input 1x4x4 | relu' --save tests/bad
