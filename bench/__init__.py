"""BaluPi's benchmark: figures for humans, measured against the loopback simulators.

Run it with ``scripts/bench``. Every section is one module that exports ``SECTION``
(a :class:`bench.common.Section`): its ``run`` returns the rows of the final table.
Nothing here asserts a time; the machine may be shared, the figures are for reading.
"""
