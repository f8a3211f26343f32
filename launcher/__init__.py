"""tunecost.launcher"""
