"""sr_gan.archs"""
