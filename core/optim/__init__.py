"""How the weights move: SGD or LARS over the parameter groups of f and h (optimizer, lars), and
the schedules of the lr and of the target encoder's momentum (schedule).
"""
