"""The signing engine: PKI, key storage, time-stamping, PAdES, CAdES, validation.

Framework-free by design: nothing here imports Django.
"""
