"""sr_gan.data"""
