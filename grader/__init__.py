"""nngrader: grade folders of neural-network assignment notebooks."""
__version__ = "0.1.0"
