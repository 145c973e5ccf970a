"""The chaos run's parts (see bench/chaos.py): the processes it runs, the REST calls it makes, the
faults and kills it causes, and the audit that compares the exchange's record with ours.

Kept in a package (not ``bench/*.py``) so that ``make bench`` never runs these modules.
"""
