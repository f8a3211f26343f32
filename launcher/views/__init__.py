"""tunecost.launcher.views"""
