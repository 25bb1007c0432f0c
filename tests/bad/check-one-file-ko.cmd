check tests/bad/data/answers-list.yaml --lang ko
