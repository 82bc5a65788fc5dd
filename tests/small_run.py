"""A loop small enough for tests: the arena, a very small student, two short iterations."""

SMALL = [
    "threads=1",
    "loop.iterations=2",
    "loop.new_per_iteration=20",
    "data.arena_size=60",
    "evaluation.heldout_size=40",
    "student.tiny.hidden_size=64",
    "student.tiny.layers=2",
    "student.train.epochs=2",
    "student.train.save_steps=2",
]
