"""Mules programmed by uwsgidecorators' @mule, @muleloop and @farm (tests/uwsgi_mules.rs):
served with `mules = 3` and `farm = pool:3`. The application is mule_app's."""

import time

import uwsgi

from uwsgidecorators import farm, mule, muleloop

from mule_app import application, record  # noqa: F401


@mule(1)
def once():
    record(name="mule-once")


@muleloop(2)
def again():
    record(name="muleloop")
    time.sleep(0.1)


@farm("pool")
def consume(message):
    record(name="farmed", text=message.decode())


def hooked(message):
    """Plain messages to a mule's message loop (mule 1 reaches it after @mule(1))."""
    record(name="hooked", text=message.decode())


uwsgi.mule_msg_hook = hooked
