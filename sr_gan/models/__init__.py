"""sr_gan.models"""
