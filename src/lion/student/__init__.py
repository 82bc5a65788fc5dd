"""The student: its prompt format, its fine-tuning, and its batched greedy answers."""
