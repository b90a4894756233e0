"""Consent the person controls, and the organisation's fail-closed fleet policy.

Modules, one job each:

- ``state``: the consent state machine (persisted, with recording intervals for the gate)
- ``gate``: the first stage of the chain; drops what was not recorded with consent
- ``ledger``: the append-only, hash-chained consent ledger the person can read
- ``policy``: the signed fleet policy document (models, sign, verify, keys)
- ``sources``: where the policy is fetched from (file, https, S3)
- ``refresher``: fetching on an interval and judging the policy fail closed
- ``errors``: this package's error tree
"""
