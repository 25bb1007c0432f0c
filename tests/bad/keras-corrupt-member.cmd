summary tests/bad/keras-corrupt-member.keras
