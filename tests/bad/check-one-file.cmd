check tests/bad/data/answers-list.yaml
