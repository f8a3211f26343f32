"""What is for sale: GPUs, interconnects, providers, offers and their prices, managed services, spot risk."""
