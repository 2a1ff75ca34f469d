"""sr_gan.metrics"""
