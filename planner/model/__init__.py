"""What a fine-tune needs: the model's shape, peak memory, speed, the fit verdict and its band.

Price-free: nothing here knows an offer's price; it reads GPU and interconnect facts from market/."""
