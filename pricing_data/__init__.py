"""tunecost.pricing_data"""
