"""bystander: blur every face except the people who agreed to be filmed."""

__version__ = "0.1.0"
