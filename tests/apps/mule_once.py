"""A programmed mule that records its start and ends (tests/uwsgi_mules.rs)."""

import time

from mule_app import record

if __name__ == "__main__":
    record(name="start")
    time.sleep(0.3)


def run():
    """`mule = mule_once:run`: called in the mule, which is respawned when it returns."""
    record(name="called")
    time.sleep(0.3)
