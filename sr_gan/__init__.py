"""sr_gan: super-resolution GAN training. Submodules are imported on demand."""
__version__ = "0.1.0"
