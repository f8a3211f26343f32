"""tunecost.launcher.reports"""
