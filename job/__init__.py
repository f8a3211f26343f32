"""tunecost.job"""
