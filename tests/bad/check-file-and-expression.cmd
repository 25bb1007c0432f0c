check tests/bad/data/answers-list.yaml tests/bad/data/answers-list.yaml -e 'input 4 | relu'
