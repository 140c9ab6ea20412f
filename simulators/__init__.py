"""Loopback simulators of BaluPi's network peers, for tests, benchmarks and the demo.

They speak the peers' real protocols on 127.0.0.1 so that the integration runs its
real code paths against them. Nothing in here is part of the integration.
"""
