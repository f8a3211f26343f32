"""tunecost.planner"""
