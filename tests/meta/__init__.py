"""The meta corpus: deliberately wrong backprops (and correct ones) that test the tester.

`corpus.CORPUS` registers every entry with what is wrong and where: 40 wrong implementations of
distinct bug classes and 7 correct ones, in seven styles (vectorized, per-index loops, rows as
samples, dict caches, layer classes, einsum, a scalar autograd engine). The original ten live in
`wrong_backprops.py`. Each entry also has a file of its own (``tests/meta/<name>.py`` exporting
``backward``) so the command line can name it.
"""
