"""tunecost.launcher.backends"""
