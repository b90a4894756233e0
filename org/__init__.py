"""The organisation's side: keys, signed policies, pulling and verifying uploads.

Never imported by the daemon.
"""
