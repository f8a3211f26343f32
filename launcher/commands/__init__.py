"""tunecost.launcher.commands"""
