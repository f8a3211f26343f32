"""tunecost.templates"""
