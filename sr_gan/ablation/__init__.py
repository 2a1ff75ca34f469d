"""Loss-weight ablations: expand a grid of option overrides into ordinary experiments, run them
(resumably), evaluate their final EMA generators and report the perception-distortion trade-off."""
