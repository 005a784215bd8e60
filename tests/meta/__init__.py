"""Tests of the tester: deliberately wrong backprops that the harness must blame precisely.

`tests.meta.wrong_backprops` holds realistic student backprops with exactly one bug each, plus
where each bug lives; `tests/test_meta.py` checks that every gradient source on its own blames
exactly those layers and tensors, and nothing else.
"""
