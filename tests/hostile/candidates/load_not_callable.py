"""Loading: `backward` is not callable. Exit 2, "could not load"."""

backward = [[1.0, 2.0], [3.0]]
