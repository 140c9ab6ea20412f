"""Tests of the BaluPi integration."""
