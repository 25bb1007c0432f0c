summary tests/bad/keras-2-inbound-nodes.keras
