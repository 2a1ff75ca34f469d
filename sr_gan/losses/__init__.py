"""sr_gan.losses"""
