from lion.stages.discrimination import split


def test_tau_boundary_is_hard():
    assert split(8.0, 7.0, 1.0) == (1.0, True)
    assert split(8.0, 7.5, 1.0) == (0.5, False)
    assert split(5.0, 9.0, 1.0) == (-4.0, False)


def test_swap_and_average_arithmetic():
    # teacher shown first: (9, 6); student shown first gives the student 8, the teacher 7
    teacher = (9 + 7) / 2
    student = (6 + 8) / 2
    assert split(teacher, student, 1.0) == (1.0, True)
