"""sr_gan.utils"""
