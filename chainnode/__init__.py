"""chainnode: permissioned PBFT blockchain node with SM2/SM3 and a restricted-Python VM."""
__version__ = "0.1.0"
