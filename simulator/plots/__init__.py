"""Every figure the project publishes: one function per figure, each returning a matplotlib Figure.

Modules group figures by notebook (:mod:`.world` for the world tour); each
keeps the computation behind a figure in a data function that returns a tidy
DataFrame, so notebooks and tests can check the numbers a figure shows.
:mod:`.style` holds the shared theme and palettes. ``python -m
simulator.figures`` saves every registered figure under ``figures/``.
"""
